"""Erasure reaches the audit log: entries keep who did what and when, but no longer name the shopper."""

import uuid

from sqlalchemy import Text, cast, func, select

from db.tables import audit_log


async def test_erasure_scrubs_the_customers_email_from_audit_details(api_as, engine):
    storefront, support = api_as("storefront"), api_as("support")
    email = f"Audited-{uuid.uuid4().hex[:6]}@Example.com"
    created = await storefront.post("/customers", json={"email": email, "password": "correct horse battery"})
    assert created.status_code == 201, created.text
    customer_id = created.json()["customer"]["id"]
    grouped = await api_as("admin").put(f"/admin/promotions/customer-groups/vip/members/{email}")
    assert grouped.status_code == 204, grouped.text

    exported = await support.get(f"/customers/{customer_id}/export")
    assert [entry["action"] for entry in exported.json()["audit_entries"]] == ["customer_group.member_added"]

    erased = await support.post(f"/customers/{customer_id}/erase", json={"reason": "ticket 9"})
    assert erased.status_code == 200, erased.text
    async with engine.connect() as conn:
        mentions = (await conn.execute(select(audit_log.c.action).where(
            func.lower(cast(audit_log.c.details, Text)).contains(email.lower())))).scalars().all()
        kept = (await conn.execute(select(audit_log.c.details).where(
            audit_log.c.action == "customer_group.member_added", audit_log.c.target == "vip",
            audit_log.c.details["email"].astext == f"erased+{customer_id}@erased.invalid"))).scalars().all()
    assert mentions == []
    assert len(kept) == 1  # the entry itself stays: who added whom to the group, and when

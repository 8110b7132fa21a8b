"""Fraud screening in checkout on the dev server: review by support (an update), rejects, timeouts.

This module's thresholds make a foreign billing address alone a review (25) and a foreign billing
address plus a gift card a reject (45); velocity limits are lifted so repeated test checkouts from
one email do not add to the score.
"""

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from temporalio.client import WorkflowHistory

from api.app import create_app
from config import Settings
from db import audit
from db import checkouts as checkout_store
from db import fraud as fraud_store
from db.tables import products, variants
from models.fraud import FraudAssessment
from tests.conftest import api_client
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import ADDRESS, atp, cart_with, checkout_body, finished_checkout, start_checkout
from tests.integration.checkout_helpers import cart_headers, eventually
from tests.integration.test_replay import HISTORIES, replayer
from workflows import search_attributes as sa

LONDON = {"name": "Ada Lovelace", "line1": "1 Strand", "city": "London", "postal_code": "WC2N 5HR", "country": "GB"}
LIFTED = 10_000


@pytest.fixture(scope="module")
def settings(database_url, task_queue) -> Settings:
    return Settings(environment="test", database_url=database_url, task_queue=task_queue,
                    fraud_review_score=25, fraud_reject_score=45, fraud_review_timeout_seconds=600,
                    fraud_velocity_per_hour=LIFTED, fraud_velocity_per_day=LIFTED,
                    fraud_ip_velocity_per_hour=LIFTED, fraud_ip_velocity_per_day=LIFTED)


async def _stocked_sku(engine, category: str | None = None) -> str:
    sku = await make_sku(engine, price=2500, stock={await make_location(engine): 5})
    if category:
        async with engine.begin() as conn:
            product_id = select(variants.c.product_id).where(variants.c.sku == sku).scalar_subquery()
            await conn.execute(update(products).where(products.c.id == product_id).values(category=category))
    return sku


async def _risky_checkout(api, engine, *, category: str | None = None) -> tuple[str, str, str]:
    """(sku, cart id, checkout id) of a started checkout billed to the UK, shipped to the US."""
    sku = await _stocked_sku(engine, category)
    cart_id = await cart_with(api, {sku: 1})
    started = await start_checkout(api, checkout_body(cart_id, billing_address=LONDON))
    assert started.status_code == 202, started.text
    return sku, cart_id, started.json()["checkout_id"]


async def _in_review(api, checkout_id: str) -> dict:
    async def probe():
        view = (await api.get(f"/checkouts/{checkout_id}")).json()
        return view if view.get("step") == "fraud_review" else None

    view = await eventually(probe)
    assert view, "the checkout never reached fraud review"
    return view


async def _screening(engine, checkout_id: str):
    async with engine.connect() as conn:
        return await fraud_store.get(conn, checkout_id)


async def test_risky_checkout_waits_for_review_and_approval_completes_it(api, api_as, temporal_env, engine):
    sku, cart_id, checkout_id = await _risky_checkout(api, engine)
    view = await _in_review(api, checkout_id)
    assert view["status"] == "pending"
    handle = temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}")
    assert (await handle.describe()).typed_search_attributes.get(sa.CHECKOUT_STATUS) == "in_review"
    assert await atp(api, sku) == 5  # nothing is held while support decides

    decided = await api_as("support").post(f"/checkouts/{checkout_id}/review",
                                           json={"decision": "approve", "note": "called the customer"})
    assert decided.status_code == 200, decided.text

    done = await finished_checkout(api, temporal_env.client, checkout_id)
    assert done["status"] == "completed"
    assert await atp(api, sku) == 4
    screening = await _screening(engine, checkout_id)
    assert (screening.outcome, screening.score, screening.reasons) == ("review", 25, ["billing_shipping_mismatch"])
    assert (screening.review, screening.review_note) == ("approved", "called the customer")
    assert screening.reviewer.startswith("test support")
    (entry,) = (await api.get(f"/orders/{done['order_id']}/audit")).json()
    assert (entry["action"], entry["actor_role"], entry["target"], entry["reason"]) == (
        "checkout.fraud_approve", "support", checkout_id, "called the customer")
    await _record("checkout_fraud_review_approved", handle)  # saved before prepared-checkout: replays it
    await _record("checkout_prepared_fraud_review_approved", handle)  # the shape since


async def test_rejection_in_review_fails_the_checkout_and_compensates(api, api_as, temporal_env, engine):
    sku, cart_id, checkout_id = await _risky_checkout(api, engine)
    await _in_review(api, checkout_id)

    decided = await api_as("support").post(f"/checkouts/{checkout_id}/review",
                                           json={"decision": "reject", "note": "stolen card"})
    assert decided.status_code == 200, decided.text
    again = await api_as("support").post(f"/checkouts/{checkout_id}/review", json={"decision": "approve"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "checkout_not_in_review"

    done = await finished_checkout(api, temporal_env.client, checkout_id)
    assert (done["status"], done["error"]["code"]) == ("failed", "fraud_rejected")
    assert await atp(api, sku) == 5
    assert (await api.get(f"/carts/{cart_id}")).json()["status"] == "open"  # handed back to the shopper
    assert (await _screening(engine, checkout_id)).review == "rejected"
    async with engine.connect() as conn:
        reserved_order_id = (await checkout_store.get(conn, checkout_id)).order_id  # the failed checkout's
        (entry,) = await audit.for_order(conn, reserved_order_id)
    assert entry["action"] == "checkout.fraud_reject" and entry["reason"] == "stolen card"
    await _record("checkout_prepared_fraud_rejected_in_review", temporal_env.client.get_workflow_handle(
        f"checkout-{checkout_id}"))


async def test_high_score_is_rejected_without_review(api, temporal_env, engine):
    sku, cart_id, checkout_id = await _risky_checkout(api, engine, category="Gift-Cards")
    done = await finished_checkout(api, temporal_env.client, checkout_id)
    assert (done["status"], done["error"]["code"]) == ("failed", "fraud_rejected")
    assert await atp(api, sku) == 5
    screening = await _screening(engine, checkout_id)
    assert (screening.outcome, screening.score, screening.review) == ("reject", 45, None)


async def test_a_decision_is_refused_when_the_checkout_is_not_in_review(api, api_as, temporal_env, engine):
    sku = await _stocked_sku(engine)
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1}), billing_address=ADDRESS))
    checkout_id = started.json()["checkout_id"]
    done = await finished_checkout(api, temporal_env.client, checkout_id)
    assert done["status"] == "completed"
    assert (await _screening(engine, checkout_id)).outcome == "approve"

    late = await api_as("support").post(f"/checkouts/{checkout_id}/review", json={"decision": "approve"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "checkout_not_in_review"
    unknown = await api_as("support").post("/checkouts/chk_missing/review", json={"decision": "approve"})
    assert unknown.status_code == 404
    shopper = await api_as("storefront").post(f"/checkouts/{checkout_id}/review", json={"decision": "approve"})
    assert shopper.status_code == 403


async def test_review_timeout_fails_the_checkout(api_app, settings, role_keys, temporal_env, engine):
    short = create_app(settings.model_copy(update={"fraud_review_timeout_seconds": 1}), engine=engine,
                       temporal=temporal_env.client)
    api = api_client(short, role_keys["admin"])
    try:
        sku, cart_id, checkout_id = await _risky_checkout(api, engine)
        done = await finished_checkout(api, temporal_env.client, checkout_id)
        assert (done["status"], done["error"]["code"]) == ("failed", "fraud_review_timeout")
        assert await atp(api, sku) == 5
        assert (await api.get(f"/carts/{cart_id}")).json()["status"] == "open"
        assert (await _screening(engine, checkout_id)).review == "timed_out"
        handle = temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}")
        assert (await handle.describe()).typed_search_attributes.get(sa.CHECKOUT_STATUS) == "failed"
    finally:
        await api.aclose()


async def test_velocity_counts_prior_screenings_per_identity_and_window(engine):
    now = datetime.now(UTC)
    email, card, ip = f"v-{uuid.uuid4().hex[:8]}@example.com", f"pm_{uuid.uuid4().hex[:8]}", "203.0.113.7"
    clean = FraudAssessment(score=0, outcome="approve")
    async with engine.begin() as conn:
        for n, (age, same_card) in enumerate([(timedelta(minutes=5), True), (timedelta(minutes=30), False),
                                              (timedelta(hours=5), True), (timedelta(days=2), True)]):
            await fraud_store.record(conn, checkout_id=f"chk_v{n}_{uuid.uuid4().hex[:6]}", email=email.upper(),
                                     payment_method=card if same_card else "pm_other", client_ip=ip, total=100,
                                     currency="USD", assessment=clean, now=now - age)
        counted = await fraud_store.velocity(conn, email=email, payment_method=card, client_ip=ip, now=now,
                                             exclude_checkout="chk_now")
        no_ip = await fraud_store.velocity(conn, email=email, payment_method=card, client_ip=None, now=now,
                                           exclude_checkout="chk_now")
    assert counted.model_dump() == {"email_hour": 2, "email_day": 3, "card_hour": 1, "card_day": 2,
                                    "ip_hour": 2, "ip_day": 3}
    assert (no_ip.ip_hour, no_ip.ip_day) == (None, None)


@pytest.mark.parametrize(("peer", "forwarded_for", "recorded"), [
    ("127.0.0.1", "198.51.100.4", "198.51.100.4"),  # our proxy reports the shopper
    ("127.0.0.1", "6.6.6.6, 198.51.100.4", "198.51.100.4"),  # a hop the shopper wrote is not believed
    ("203.0.113.9", "198.51.100.4", "203.0.113.9"),  # not a trusted proxy: its header is ignored
], ids=["trusted-proxy", "forged-hop", "untrusted-peer"])
async def test_screening_records_the_client_ip_only_trusted_proxies_report(api_app, role_keys, temporal_env, engine,
                                                                            peer, forwarded_for, recorded):
    client = api_client(api_app, role_keys["storefront"], peer=peer)
    try:
        sku = await _stocked_sku(engine)
        cart_id = await cart_with(client, {sku: 1})
        started = await client.post("/checkouts", json=checkout_body(cart_id), headers={
            "Idempotency-Key": str(uuid.uuid4()), "X-Forwarded-For": forwarded_for, **cart_headers(cart_id)})
        assert started.status_code == 202, started.text
        checkout_id = started.json()["checkout_id"]
        await finished_checkout(client, temporal_env.client, checkout_id, cart_id)
    finally:
        await client.aclose()
    assert (await _screening(engine, checkout_id)).client_ip == recorded


async def _record(name: str, handle) -> None:
    """Replay the fresh history now; save it under tests/histories when RECORD_HISTORIES=1 (new files only)."""
    history = await handle.fetch_history()
    assert (await replayer().replay_workflow(history)).replay_failure is None
    target = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
        target.write_text(history.to_json())
    if target.exists():
        saved = WorkflowHistory.from_json(target.stem, target.read_text())
        assert (await replayer().replay_workflow(saved)).replay_failure is None

"""Stock transfers between locations over HTTP on real PostgreSQL: ATP at both ends, ledger, audit, races."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from db import inventory
from db.tables import audit_log, inventory_ledger, low_stock_alerts, reservations, stock, stock_transfers, variants
from models.errors import OutOfStock
from tests.factories import make_location, make_sku

TRANSFERS = "/admin/inventory/transfers"


@pytest.fixture(scope="module")
def ops(api_as):
    return api_as("ops")


async def location(engine) -> tuple[str, str]:
    """A new location: (id, code)."""
    code = f"dc-{uuid.uuid4().hex[:8]}"
    return await make_location(engine, code), code


async def stock_at(api, sku: str) -> dict[str, dict]:
    """GET /inventory/{sku}, per location code."""
    response = await api.get(f"/inventory/{sku}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["atp"] == sum(loc["atp"] for loc in body["locations"])
    return {loc["location_code"]: loc for loc in body["locations"]}


def figures(row: dict) -> tuple[int, int, int, int, int]:
    return row["on_hand"], row["reserved"], row["inbound_transfers"], row["outbound_transfers"], row["atp"]


async def reserve(engine, sku: str, quantity: int, key: str | None = None) -> str:
    key = key or f"res-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await inventory.reserve(conn, key, {sku: quantity}, now=now, expires_at=now + timedelta(minutes=15))
    return key


async def stock_rows(engine, sku: str) -> list[tuple]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(stock.c.location_id, stock.c.on_hand, stock.c.reserved, stock.c.safety_stock,
                                         stock.c.inbound_transfers, stock.c.outbound_transfers)
                                  .where(stock.c.sku == sku).order_by(stock.c.location_id))
        return [tuple(r) for r in rows]


def code_of(response) -> str:
    return response.json()["error"]["code"]


async def test_full_lifecycle_moves_atp_from_origin_to_destination(ops, engine):
    (a, a_code), (_, b_code) = await location(engine), await location(engine)
    sku = await make_sku(engine, stock={a: 10})
    await reserve(engine, sku, 2)  # promised to a customer at A: never transferable
    assert figures((await stock_at(ops, sku))[a_code]) == (10, 2, 0, 0, 8)

    created = await ops.post(TRANSFERS, json={"sku": sku, "from_location": a_code, "to_location": b_code,
                                              "quantity": 5, "reference": "TO-1"})
    assert created.status_code == 201, created.text
    transfer = created.json()
    transfer_id = transfer["id"]
    assert transfer_id.startswith("trf_") and transfer["status"] == "requested"
    assert (transfer["sku"], transfer["from_location"], transfer["to_location"], transfer["quantity"],
            transfer["reference"], transfer["shipped_at"]) == (sku, a_code, b_code, 5, "TO-1", None)
    levels = await stock_at(ops, sku)
    assert figures(levels[a_code]) == (10, 2, 0, 5, 3), "committed to leave, still on A's shelf, not promisable"
    assert figures(levels[b_code]) == (0, 0, 0, 0, 0)

    shipped = await ops.post(f"{TRANSFERS}/{transfer_id}/ship")
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "in_transit" and shipped.json()["shipped_at"]
    levels = await stock_at(ops, sku)
    assert figures(levels[a_code]) == (5, 2, 0, 0, 3)
    assert figures(levels[b_code]) == (0, 0, 5, 0, 5), "confirmed inbound counts toward B's ATP"

    received = await ops.post(f"{TRANSFERS}/{transfer_id}/receive", json={"reason": "all there"})
    assert received.status_code == 200, received.text
    assert (received.json()["status"], received.json()["received_quantity"]) == ("received", 5)
    levels = await stock_at(ops, sku)
    assert figures(levels[a_code]) == (5, 2, 0, 0, 3)
    assert figures(levels[b_code]) == (5, 0, 0, 0, 5)

    again = await ops.post(f"{TRANSFERS}/{transfer_id}/receive")
    assert again.status_code == 200 and again.json() == received.json(), "a repeat answers the current state"
    assert (await ops.get(f"{TRANSFERS}/{transfer_id}")).json() == received.json()
    assert figures((await stock_at(ops, sku))[b_code]) == (5, 0, 0, 0, 5), "and moves nothing"

    ledger = (await ops.get(f"/admin/inventory/{sku}/ledger")).json()
    moves = [(e["location_code"], e["reason"], e["delta_on_hand"], e["delta_inbound_transfers"],
              e["delta_outbound_transfers"], e["reference"]) for e in ledger if e["reason"].startswith("transfer_")]
    assert moves == [
        (b_code, "transfer_in", 5, -5, 0, transfer_id),
        (b_code, "transfer_inbound", 0, 5, 0, transfer_id),
        (a_code, "transfer_out", -5, 0, -5, transfer_id),
        (a_code, "transfer_request", 0, 0, 5, transfer_id),
    ]
    async with engine.connect() as conn:
        audits = (await conn.execute(select(audit_log).where(audit_log.c.target == transfer_id)
                                     .order_by(audit_log.c.seq))).all()
    assert [(a.action, a.actor_role, a.details["changed"]) for a in audits] == [
        ("inventory.transfer_requested", "ops", True), ("inventory.transfer_shipped", "ops", True),
        ("inventory.transfer_received", "ops", True), ("inventory.transfer_received", "ops", False)]
    assert audits[2].reason == "all there" and audits[2].details["received_quantity"] == 5

    listed = (await ops.get(TRANSFERS, params={"sku": sku, "status": "received"})).json()
    assert [t["id"] for t in listed] == [transfer_id]
    assert (await ops.get(TRANSFERS, params={"sku": sku, "status": "requested"})).json() == []
    assert (await ops.get(TRANSFERS, params={"status": "lost"})).status_code == 422


async def test_a_transfer_cannot_take_reserved_units_or_safety_stock(ops, engine):
    (a, a_code), (_, b_code) = await location(engine), await location(engine)
    sku = await make_sku(engine, stock={a: 8}, safety_stock=2)
    await reserve(engine, sku, 3)
    assert (await stock_at(ops, sku))[a_code]["atp"] == 3
    before = await stock_rows(engine, sku)

    body = {"sku": sku, "from_location": a_code, "to_location": b_code, "quantity": 4}
    refused = await ops.post(TRANSFERS, json=body)
    assert refused.status_code == 409 and code_of(refused) == "insufficient_stock"
    assert refused.json()["error"]["details"] == {"sku": sku, "requested": 4, "available": 3}

    assert await stock_rows(engine, sku) == before, "nothing changed"
    async with engine.connect() as conn:
        assert (await conn.execute(select(stock_transfers.c.id).where(stock_transfers.c.sku == sku))).all() == []
        reasons = (await conn.execute(select(inventory_ledger.c.reason)
                                      .where(inventory_ledger.c.sku == sku))).scalars().all()
    assert sorted(reasons) == ["reserve", "test"]

    allowed = await ops.post(TRANSFERS, json={**body, "quantity": 3})
    assert allowed.status_code == 201, allowed.text
    assert (await stock_at(ops, sku))[a_code]["atp"] == 0
    short = await reserve_outcome(engine, sku, 1)
    assert short == "out_of_stock", "the transferred units are no longer promisable at A"


async def test_cancel_restores_origin_atp_and_invalid_steps_are_refused(ops, engine):
    (a, a_code), (_, b_code) = await location(engine), await location(engine)
    sku = await make_sku(engine, stock={a: 6})
    body = {"sku": sku, "from_location": a_code, "to_location": b_code, "quantity": 4}
    transfer_id = (await ops.post(TRANSFERS, json=body)).json()["id"]
    assert (await stock_at(ops, sku))[a_code]["atp"] == 2

    early = await ops.post(f"{TRANSFERS}/{transfer_id}/receive")
    assert early.status_code == 409 and code_of(early) == "invalid_transfer_transition"
    assert "a requested transfer cannot be received" in early.json()["error"]["message"]

    cancelled = await ops.post(f"{TRANSFERS}/{transfer_id}/cancel", json={"reason": "wrong SKU"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_at"]
    assert figures((await stock_at(ops, sku))[a_code]) == (6, 0, 0, 0, 6)
    assert (await ops.post(f"{TRANSFERS}/{transfer_id}/cancel")).json() == cancelled.json()
    assert figures((await stock_at(ops, sku))[a_code]) == (6, 0, 0, 0, 6), "a repeated cancel gives nothing twice"

    for step in ("ship", "receive"):
        refused = await ops.post(f"{TRANSFERS}/{transfer_id}/{step}")
        assert refused.status_code == 409 and code_of(refused) == "invalid_transfer_transition"
        assert refused.json()["error"]["details"] == {"status": "cancelled", "action": step}

    shipped_id = (await ops.post(TRANSFERS, json=body)).json()["id"]
    assert (await ops.post(f"{TRANSFERS}/{shipped_id}/ship")).status_code == 200
    too_late = await ops.post(f"{TRANSFERS}/{shipped_id}/cancel")
    assert too_late.status_code == 409 and code_of(too_late) == "invalid_transfer_transition"
    assert figures((await stock_at(ops, sku))[a_code]) == (2, 0, 0, 0, 2)
    async with engine.connect() as conn:
        ledger = (await conn.execute(select(inventory_ledger.c.reason, inventory_ledger.c.delta_outbound_transfers)
                                     .where(inventory_ledger.c.reference == transfer_id)
                                     .order_by(inventory_ledger.c.id))).all()
    assert [tuple(r) for r in ledger] == [("transfer_request", 4), ("transfer_cancel", -4)]


async def test_bad_requests_are_4xx_with_codes(ops, api_as, engine):
    (a, a_code), (_, b_code) = await location(engine), await location(engine)
    sku = await make_sku(engine, stock={a: 5})
    body = {"sku": sku, "from_location": a_code, "to_location": b_code, "quantity": 1}

    same = await ops.post(TRANSFERS, json={**body, "to_location": a_code})
    assert same.status_code == 422 and code_of(same) == "transfer_same_location"
    unknown_sku = await ops.post(TRANSFERS, json={**body, "sku": "NO-SUCH-SKU"})
    assert unknown_sku.status_code == 404 and code_of(unknown_sku) == "unknown_sku"
    unknown_location = await ops.post(TRANSFERS, json={**body, "to_location": "nowhere"})
    assert unknown_location.status_code == 404 and code_of(unknown_location) == "location_not_found"
    assert (await ops.post(TRANSFERS, json={**body, "quantity": 0})).status_code == 422
    missing = await ops.get(f"{TRANSFERS}/trf_missing")
    assert missing.status_code == 404 and code_of(missing) == "transfer_not_found"
    assert (await ops.post(f"{TRANSFERS}/trf_missing/ship")).status_code == 404
    refused = await api_as("support").post(TRANSFERS, json=body)  # stock moves are for ops, like stock counts
    assert refused.status_code == 403 and code_of(refused) == "forbidden"
    assert (await stock_at(ops, sku))[a_code]["atp"] == 5


async def test_confirmed_inbound_can_be_promised_and_short_receipts_are_loss(ops, engine):
    (a, a_code), (b, b_code) = await location(engine), await location(engine)
    sku = await make_sku(engine, stock={a: 6})
    body = {"sku": sku, "from_location": a_code, "to_location": b_code, "quantity": 3}
    promised_id = (await ops.post(TRANSFERS, json=body)).json()["id"]
    await ops.post(f"{TRANSFERS}/{promised_id}/ship")
    async with engine.begin() as conn:  # only B can serve the whole line: on-hand 0, inbound 3
        await inventory.set_stock(conn, sku, a, on_hand=3)
    key = await reserve(engine, sku, 6)
    async with engine.connect() as conn:
        held = dict((await conn.execute(select(reservations.c.location_id, reservations.c.quantity)
                                        .where(reservations.c.reservation_key == key))).all())
    assert held == {a: 3, b: 3}, "B's confirmed inbound was promised"

    short = await ops.post(f"{TRANSFERS}/{promised_id}/receive", json={"received_quantity": 2})
    assert short.status_code == 409 and code_of(short) == "stock_below_reserved"
    assert figures((await stock_at(ops, sku))[b_code]) == (0, 3, 3, 0, 0), "nothing changed"
    assert (await ops.post(f"{TRANSFERS}/{promised_id}/receive")).status_code == 200
    assert figures((await stock_at(ops, sku))[b_code]) == (3, 3, 0, 0, 0)

    async with engine.begin() as conn:
        await inventory.release(conn, key)
    lossy_id = (await ops.post(TRANSFERS, json=body)).json()["id"]
    await ops.post(f"{TRANSFERS}/{lossy_id}/ship")
    lossy = await ops.post(f"{TRANSFERS}/{lossy_id}/receive", json={"received_quantity": 1})
    assert lossy.status_code == 200 and lossy.json()["received_quantity"] == 1
    assert figures((await stock_at(ops, sku))[b_code]) == (4, 0, 0, 0, 4)
    other = await ops.post(f"{TRANSFERS}/{lossy_id}/receive", json={"received_quantity": 3})
    assert other.status_code == 409 and code_of(other) == "invalid_transfer_transition"
    async with engine.connect() as conn:
        ledger = (await conn.execute(select(inventory_ledger.c.reason, inventory_ledger.c.delta_on_hand,
                                            inventory_ledger.c.delta_inbound_transfers, inventory_ledger.c.note)
                                     .where(inventory_ledger.c.reference == lossy_id,
                                            inventory_ledger.c.location_id == b)
                                     .order_by(inventory_ledger.c.id))).all()
    assert [tuple(r) for r in ledger] == [("transfer_inbound", 0, 3, None), ("transfer_in", 1, -1, None),
                                          ("transfer_loss", 0, -2, "2 of 3 units did not arrive")]


async def test_low_stock_alert_opens_on_a_transfer_out_and_resolves_when_it_ships(ops, engine):
    (a, a_code), (_, b_code) = await location(engine), await location(engine)
    sku = await make_sku(engine, stock={a: 10})
    async with engine.begin() as conn:
        await conn.execute(update(variants).where(variants.c.sku == sku).values(reorder_point=4))
    transfer_id = (await ops.post(TRANSFERS, json={"sku": sku, "from_location": a_code, "to_location": b_code,
                                                   "quantity": 6})).json()["id"]
    async with engine.connect() as conn:
        (alert,) = (await conn.execute(select(low_stock_alerts).where(low_stock_alerts.c.sku == sku))).all()
    assert (alert.atp_at_alert, alert.resolved_at) == (4, None), "6 units left A's promisable stock"

    await ops.post(f"{TRANSFERS}/{transfer_id}/ship")
    async with engine.connect() as conn:
        (alert,) = (await conn.execute(select(low_stock_alerts).where(low_stock_alerts.c.sku == sku))).all()
    assert alert.resolved_at is not None, "in transit, they count toward B's ATP"


async def reserve_outcome(engine, sku: str, quantity: int) -> str:
    try:
        await reserve(engine, sku, quantity)
        return "held"
    except OutOfStock:
        return "out_of_stock"


async def test_concurrent_transfers_and_reservations_never_promise_more_than_exists(ops, engine):
    (a, a_code), (b, b_code) = await location(engine), await location(engine)
    sku = await make_sku(engine, stock={a: 6, b: 4})

    async def transfer(origin: str, destination: str) -> str:
        response = await ops.post(TRANSFERS, json={"sku": sku, "from_location": origin, "to_location": destination,
                                                   "quantity": 1})
        assert response.status_code in (201, 409), response.text
        return "moved" if response.status_code == 201 else code_of(response)

    # Both directions at once plus checkouts' reservations, each on its own connection.
    outcomes = await asyncio.gather(
        *(transfer(a_code, b_code) for _ in range(8)), *(transfer(b_code, a_code) for _ in range(8)),
        *(reserve_outcome(engine, sku, 1) for _ in range(10)),
    )

    assert set(outcomes) <= {"moved", "held", "insufficient_stock", "out_of_stock"}
    assert outcomes.count("moved") + outcomes.count("held") == 10, "exactly the 10 units exist"
    rows = await stock_rows(engine, sku)
    for _, on_hand, reserved, safety, inbound, outbound in rows:
        assert on_hand - reserved - safety + inbound - outbound == 0, "ATP is exhausted, never below 0"
        assert reserved + outbound <= on_hand + inbound
    assert sum(r[2] for r in rows) == outcomes.count("held")
    assert sum(r[5] for r in rows) == outcomes.count("moved")

    # Ship them all at once while a cancel races each ship: one of the two wins, stock stays consistent.
    requested = (await ops.get(TRANSFERS, params={"sku": sku, "status": "requested"})).json()
    results = await asyncio.gather(*(ops.post(f"{TRANSFERS}/{t['id']}/{step}")
                                     for t in requested for step in ("ship", "cancel")))
    assert all(r.status_code in (200, 409) for r in results), [r.text for r in results]
    assert {code_of(r) for r in results if r.status_code == 409} <= {"invalid_transfer_transition"}
    final = {t["id"]: t["status"] for t in (await ops.get(TRANSFERS, params={"sku": sku})).json()}
    assert set(final.values()) <= {"in_transit", "cancelled"} and len(final) == len(requested)
    shipped = [t for t in requested if final[t["id"]] == "in_transit"]
    rows = await stock_rows(engine, sku)
    assert sum(r[1] for r in rows) == 10 - len(shipped), "shipped units left their shelves"
    assert sum(r[4] for r in rows) == len(shipped) and sum(r[5] for r in rows) == 0
    assert all(reserved + outbound <= on_hand + inbound for _, on_hand, reserved, _, inbound, outbound in rows)
    levels = await stock_at(ops, sku)
    assert levels[a_code]["atp"] + levels[b_code]["atp"] == 10 - outcomes.count("held"), "cancels gave units back"


async def test_a_retried_request_with_its_idempotency_key_moves_the_units_once(ops, engine):
    (a, a_code), (_, b_code) = await location(engine), await location(engine)
    sku = await make_sku(engine, stock={a: 10})
    body = {"sku": sku, "from_location": a_code, "to_location": b_code, "quantity": 4, "reference": "TO-7"}
    key = {"Idempotency-Key": f"transfer-{uuid.uuid4()}"}

    first, *racing = await asyncio.gather(*(ops.post(TRANSFERS, json=body, headers=key) for _ in range(4)))
    answers = [first, *racing]
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert [r.headers.get("Idempotent-Replayed") for r in answers if r.status_code == 200] == ["true"] * 3
    assert figures((await stock_at(ops, sku))[a_code]) == (10, 0, 0, 4, 6), "committed once, not four times"

    reused = await ops.post(TRANSFERS, json=body | {"quantity": 5}, headers=key)
    assert reused.status_code == 409 and code_of(reused) == "idempotency_key_reused"
    async with engine.connect() as conn:
        count = len((await conn.execute(select(stock_transfers.c.id).where(stock_transfers.c.sku == sku))).all())
    assert count == 1
    assert figures((await stock_at(ops, sku))[a_code]) == (10, 0, 0, 4, 6)

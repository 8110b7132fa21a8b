"""Stock transfers between locations, in PostgreSQL.

Ops move ``quantity`` units of one SKU from an origin location A to a destination B. The states,
the allowed steps and their stock effects are pure rules in ``models/transfers.py``; this module
locks, checks and writes them. ATP = on_hand − reserved − safety_stock + inbound − outbound.

- **request** (→ ``requested``): A's ATP must cover ``quantity`` (409 ``insufficient_stock``
  otherwise), so a transfer never takes units promised to customers nor safety stock.
  A.outbound_transfers += quantity: the units are committed to leave but still on A's shelf, and
  no longer promisable there. Same location: 422 ``transfer_same_location``.
- **ship** (→ ``in_transit``): A.on_hand −= quantity, A.outbound −= quantity (A's ATP does not
  change); B.inbound_transfers += quantity: confirmed inbound counts toward B's ATP, so checkouts
  may promise it. Refused (409 ``transfer_stock_not_on_hand``) if A's shelf holds fewer units than
  leave, which can only happen when the request was covered by A's own inbound stock.
- **receive** (→ ``received``): B.on_hand += received, B.inbound −= quantity. ``received`` defaults
  to ``quantity``; a shortfall is written to the ledger as ``transfer_loss`` and lowers B's ATP,
  refused (409 ``stock_below_reserved``) if B has already promised those units.
- **cancel** (→ ``cancelled``, only from ``requested``): A.outbound −= quantity.

Repeating the step that led to the current state answers the transfer unchanged (``changed`` is
False); any other step not allowed from the current state is 409 ``invalid_transfer_transition``.

Locks, always in this order: the transfer row, then the two stock rows in (sku, location_id) order
(as ``db.inventory`` takes them), then the variant row (``db.stock_alerts``). Every stock change
writes an ``inventory_ledger`` row in the same transaction (reason ``transfer_*``, reference the
transfer id), and the stock table's CHECK ``reserved + outbound_transfers <= on_hand +
inbound_transfers`` backs the arithmetic up. Low-stock alerts are checked after every step.
"""

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from db import inventory, stock_alerts
from db.catalog import variant_id_of
from db.tables import locations, stock_transfers
from models.errors import Conflict, NotFound
from models.ids import public_id
from models.inventory import StockLevel
from models.transfers import (
    InvalidTransferTransition, Transfer, TransferAction, TransferStatus, plan, transition, validate_request,
)

_origin, _destination = aliased(locations), aliased(locations)
_TIMESTAMP = {TransferStatus.IN_TRANSIT: "shipped_at", TransferStatus.RECEIVED: "received_at",
              TransferStatus.CANCELLED: "cancelled_at"}


def _query():
    return (
        select(stock_transfers, _origin.c.code.label("from_location_code"),
               _destination.c.code.label("to_location_code"))
        .join(_origin, _origin.c.id == stock_transfers.c.from_location_id)
        .join(_destination, _destination.c.id == stock_transfers.c.to_location_id)
    )


def _transfer(row) -> Transfer:
    return Transfer(
        id=row.id, sku=row.sku, from_location_id=row.from_location_id, from_location_code=row.from_location_code,
        to_location_id=row.to_location_id, to_location_code=row.to_location_code, quantity=row.quantity,
        received_quantity=row.received_quantity, status=TransferStatus(row.status), reference=row.reference,
        created_at=row.created_at, shipped_at=row.shipped_at, received_at=row.received_at,
        cancelled_at=row.cancelled_at,
    )


async def get(conn: AsyncConnection, transfer_id: str, *, lock: bool = False) -> Transfer:
    """One transfer, or 404 ``transfer_not_found``; ``lock`` takes its row ``FOR UPDATE``."""
    query = _query().where(stock_transfers.c.id == transfer_id)
    row = (await conn.execute(query.with_for_update(of=stock_transfers) if lock else query)).first()
    if row is None:
        raise NotFound(f"transfer {transfer_id} not found", code="transfer_not_found")
    return _transfer(row)


async def list_transfers(conn: AsyncConnection, *, status: TransferStatus | None = None, sku: str | None = None,
                         limit: int = 100) -> list[Transfer]:
    """Transfers newest first, optionally of one status and/or SKU."""
    query = _query()
    if status is not None:
        query = query.where(stock_transfers.c.status == status.value)
    if sku is not None:
        query = query.where(stock_transfers.c.sku == sku)
    rows = await conn.execute(query.order_by(stock_transfers.c.created_at.desc(), stock_transfers.c.id).limit(limit))
    return [_transfer(r) for r in rows]


async def request(conn: AsyncConnection, *, sku: str, from_location_id: str, to_location_id: str, quantity: int,
                  reference: str | None = None, transfer_id: str | None = None) -> tuple[Transfer, bool]:
    """Commit ``quantity`` units of A's ATP to leave for B (status ``requested``); (transfer, created).

    ``transfer_id`` (derived from an Idempotency-Key) makes a retried request answer the transfer
    it created (created False); the same id with a different request is 409 ``idempotency_key_reused``.
    The check runs after the stock rows are locked, so two racing retries see each other.
    """
    validate_request(sku, from_location_id, to_location_id, quantity)
    await variant_id_of(conn, sku)
    await inventory.ensure_row(conn, sku, to_location_id)  # before any lock: see ensure_row
    origin, destination = await _lock(conn, sku, from_location_id, to_location_id)
    if transfer_id is not None and (prior := await _find(conn, transfer_id)) is not None:
        asked = (sku, from_location_id, to_location_id, quantity, reference)
        if (prior.sku, prior.from_location_id, prior.to_location_id, prior.quantity, prior.reference) != asked:
            raise Conflict("this Idempotency-Key was already used for a different transfer",
                           code="idempotency_key_reused", details={"transfer_id": transfer_id})
        return prior, False
    changes = plan(TransferAction.REQUEST, quantity, origin, destination)
    transfer_id = transfer_id or public_id("transfer")
    await conn.execute(stock_transfers.insert().values(
        id=transfer_id, sku=sku, from_location_id=from_location_id, to_location_id=to_location_id,
        quantity=quantity, status=TransferStatus.REQUESTED.value, reference=reference,
    ))
    await _write(conn, transfer_id, sku, from_location_id, to_location_id, changes)
    return await get(conn, transfer_id), True


async def _find(conn: AsyncConnection, transfer_id: str) -> Transfer | None:
    row = (await conn.execute(_query().where(stock_transfers.c.id == transfer_id))).first()
    return _transfer(row) if row is not None else None


async def ship(conn: AsyncConnection, transfer_id: str) -> tuple[Transfer, bool]:
    """The units left A and are on their way to B (status ``in_transit``)."""
    return await _step(conn, transfer_id, TransferAction.SHIP)


async def receive(conn: AsyncConnection, transfer_id: str, received: int | None = None) -> tuple[Transfer, bool]:
    """B received ``received`` units (all of them by default); the rest are recorded as lost."""
    return await _step(conn, transfer_id, TransferAction.RECEIVE, received)


async def cancel(conn: AsyncConnection, transfer_id: str) -> tuple[Transfer, bool]:
    """Call off a transfer that has not shipped; A's units become promisable again."""
    return await _step(conn, transfer_id, TransferAction.CANCEL)


async def _step(conn: AsyncConnection, transfer_id: str, action: TransferAction,
                received: int | None = None) -> tuple[Transfer, bool]:
    current = await get(conn, transfer_id, lock=True)
    target, changed = transition(current.status, action)
    if not changed:
        if received is not None and received != current.received_quantity:
            raise InvalidTransferTransition(
                f"transfer {transfer_id} was already received with {current.received_quantity} of "
                f"{current.quantity} units; a repeat must not name another quantity",
                details={"status": current.status.value, "received_quantity": current.received_quantity},
            )
        return current, False
    origin, destination = await _lock(conn, current.sku, current.from_location_id, current.to_location_id)
    changes = plan(action, current.quantity, origin, destination, received)
    values = {"status": target.value, "updated_at": func.now(), _TIMESTAMP[target]: func.now()}
    if action is TransferAction.RECEIVE:
        values["received_quantity"] = current.quantity if received is None else received
    await conn.execute(update(stock_transfers).where(stock_transfers.c.id == transfer_id).values(**values))
    await _write(conn, transfer_id, current.sku, current.from_location_id, current.to_location_id, changes)
    return await get(conn, transfer_id), True


async def _lock(conn, sku: str, from_location_id: str, to_location_id: str) -> tuple[StockLevel, StockLevel]:
    levels = await inventory.lock_locations(conn, sku, (from_location_id, to_location_id))
    return tuple(levels.get(loc) or StockLevel(sku, loc, 0, 0) for loc in (from_location_id, to_location_id))


async def _write(conn, transfer_id: str, sku: str, from_location_id: str, to_location_id: str, changes) -> None:
    where = {"origin": from_location_id, "destination": to_location_id}
    for change in changes:
        await inventory.move(conn, sku, where[change.side], on_hand=change.on_hand, inbound=change.inbound,
                             outbound=change.outbound, reason=change.reason, reference=transfer_id, note=change.note)
    await stock_alerts.check_reorder_point(conn, sku)

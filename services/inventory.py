"""Ops' inventory actions: stock locations, stock counts and transfers between locations (rules in
db/inventory.py and db/transfers.py). Every change is audited in the same transaction."""

import uuid
from dataclasses import dataclass

from db import audit, inventory, inventory_admin
from db import transfers as transfer_store
from db.catalog import variant_id_of
from models.auth import Caller
from models.ids import public_id
from models.transfers import Transfer
from services.deps import Deps

# Transfer ids derive from the Idempotency-Key: a retry finds the transfer it created.
TRANSFER_NAMESPACE = uuid.UUID("0b7e6c52-93d4-4f0a-a1c8-6e2d5f4b9a30")


@dataclass(frozen=True)
class CreateLocation:
    code: str
    name: str
    region: str
    country: str
    caller: Caller


@dataclass(frozen=True)
class SetStock:
    sku: str
    location_code: str
    on_hand: int
    safety_stock: int | None
    reason: str
    reference: str | None
    caller: Caller
    audit_details: dict


@dataclass(frozen=True)
class RequestTransfer:
    sku: str
    from_location: str
    to_location: str
    quantity: int
    reference: str | None
    caller: Caller
    idempotency_key: str | None = None


@dataclass(frozen=True)
class TransferStep:
    """ship, receive or cancel a transfer."""

    transfer_id: str
    step: str
    caller: Caller
    reason: str = ""
    received_quantity: int | None = None  # receive: omitted when all arrived


async def create_location(deps: Deps, command: CreateLocation) -> dict:
    details = {"code": command.code, "name": command.name, "region": command.region, "country": command.country}
    location = {"id": public_id("location"), **details}
    async with deps.engine.begin() as conn:
        await inventory_admin.create_location(conn, location)
        await audit.record(conn, command.caller, "inventory.location_created", target=location["id"], details=details)
    return location


async def set_stock(deps: Deps, command: SetStock):
    """Record a stock count or receipt; the difference goes to the ledger. The new stock level."""
    async with deps.engine.begin() as conn:
        await variant_id_of(conn, command.sku)
        location_id = await inventory.location_id_by_code(conn, command.location_code)
        level = await inventory.set_stock(conn, command.sku, location_id, on_hand=command.on_hand,
                                          safety_stock=command.safety_stock, reason=command.reason,
                                          reference=command.reference)
        await audit.record(conn, command.caller, "inventory.stock_set", target=f"{command.sku}@{command.location_code}",
                           reason=command.reason, details=command.audit_details)
    return level


async def request_transfer(deps: Deps, command: RequestTransfer) -> tuple[Transfer, bool]:
    """Commit units of the origin's ATP to move (409 ``insufficient_stock`` beyond it): the transfer and
    whether this call created it (a retried key answers the one it created)."""
    key = command.idempotency_key
    transfer_id = public_id("transfer", uuid.uuid5(TRANSFER_NAMESPACE, key)) if key else None
    async with deps.engine.begin() as conn:
        origin = await inventory.location_id_by_code(conn, command.from_location)
        destination = await inventory.location_id_by_code(conn, command.to_location)
        transfer, created = await transfer_store.request(conn, sku=command.sku, from_location_id=origin,
                                                         to_location_id=destination, quantity=command.quantity,
                                                         reference=command.reference, transfer_id=transfer_id)
        await _audit(conn, command.caller, "requested", transfer, changed=created, reference=command.reference)
    return transfer, created


async def step_transfer(deps: Deps, command: TransferStep) -> Transfer:
    """Ship (units leave the origin), receive (a shortfall is recorded as loss) or cancel (before shipping).
    A repeated step answers the current state and is audited with ``changed`` false."""
    async with deps.engine.begin() as conn:
        if command.step == "receive":
            transfer, changed = await transfer_store.receive(conn, command.transfer_id, command.received_quantity)
            await _audit(conn, command.caller, "received", transfer, changed=changed, reason=command.reason,
                         received_quantity=transfer.received_quantity)
        else:
            step, action = {"ship": (transfer_store.ship, "shipped"),
                            "cancel": (transfer_store.cancel, "cancelled")}[command.step]
            transfer, changed = await step(conn, command.transfer_id)
            await _audit(conn, command.caller, action, transfer, changed=changed, reason=command.reason)
    return transfer


async def _audit(conn, caller: Caller, action: str, transfer: Transfer, *, changed: bool, reason: str = "",
                 **details) -> None:
    await audit.record(conn, caller, f"inventory.transfer_{action}", target=transfer.id, reason=reason, details={
        "sku": transfer.sku, "from_location": transfer.from_location_code, "to_location": transfer.to_location_code,
        "quantity": transfer.quantity, "status": transfer.status.value, "changed": changed, **details,
    })

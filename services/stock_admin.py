"""Reorder points and safety stock, which decide low-stock alerts and what a location may sell. Audited; the JSON
routes (api/routes/stock_admin.py) and the console call these."""

from dataclasses import dataclass

from db import audit, inventory
from db.catalog import variant_id_of
from models.auth import Caller
from services.deps import Deps


@dataclass(frozen=True)
class SetReorderPoint:
    sku: str
    reorder_point: int
    caller: Caller
    audit_details: dict | None = None


@dataclass(frozen=True)
class SetSafetyStock:
    sku: str
    location_code: str
    safety_stock: int
    caller: Caller
    audit_details: dict | None = None


async def set_reorder_point(deps: Deps, command: SetReorderPoint) -> None:
    """The SKU's reorder point; the low-stock alert opens or resolves at once."""
    async with deps.engine.begin() as conn:
        await variant_id_of(conn, command.sku)
        await inventory.set_reorder_point(conn, command.sku, command.reorder_point)
        await audit.record(conn, command.caller, "inventory.reorder_point_set", target=command.sku,
                           details={"reorder_point": command.reorder_point, **(command.audit_details or {})})


async def set_safety_stock(deps: Deps, command: SetSafetyStock) -> None:
    """The location's safety stock for the SKU (its ATP changes; on hand does not)."""
    async with deps.engine.begin() as conn:
        await variant_id_of(conn, command.sku)
        location_id = await inventory.location_id_by_code(conn, command.location_code)
        await inventory.set_safety_stock(conn, command.sku, location_id, command.safety_stock)
        await audit.record(conn, command.caller, "inventory.safety_stock_set",
                           target=f"{command.sku}@{command.location_code}",
                           details={"safety_stock": command.safety_stock, **(command.audit_details or {})})

"""Return (RMA) records and the quantities that decide what may still come back."""

from datetime import timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db import catalog, inventory
from db import orders as order_store
from db.rows import row_or_404
from db.stock_alerts import total_atp
from db.tables import order_lines, orders, products, returns, shipment_items, shipments, variants
from models import workflow_ids
from models.errors import DomainError, NotFound, OutOfStock
from models.ids import public_id
from models.order_state import OrderStatus
from models.returns import ExchangeTerms, PaidLine, ReturnLine, exchange_terms

OPEN_OR_DONE = ("requested", "approved", "awaiting_return", "received", "inspected", "refunded", "exchanged",
                "completed", "exchange_payment_failed")


def exchange_hold_key(rma_id: str) -> str:
    """Stock held for an exchange from its approval until the inspection says how many units it ships."""
    return f"{rma_id}:exchange-hold"


def exchange_key(rma_id: str) -> str:
    """The replacement order's origin and payment reference, and the key of the stock it ships."""
    return f"{rma_id}:exchange"


async def get(conn: AsyncConnection, rma_id: str, *, lock: bool = False):
    return await row_or_404(conn, returns, rma_id, what="return", code="return_not_found", lock=lock)


async def find(conn: AsyncConnection, rma_id: str):
    return (await conn.execute(select(returns).where(returns.c.id == rma_id))).first()


async def delivered(conn: AsyncConnection, order_id: str):
    """(quantities delivered per sku, last delivery time)."""
    rows = list(await conn.execute(
        select(shipment_items.c.sku, shipment_items.c.quantity, shipments.c.delivered_at)
        .join(shipments, shipments.c.id == shipment_items.c.shipment_id)
        .where(and_(shipments.c.order_id == order_id, shipments.c.delivered_at.is_not(None)))
    ))
    quantities: dict[str, int] = {}
    for row in rows:
        quantities[row.sku] = quantities.get(row.sku, 0) + row.quantity
    return quantities, max((row.delivered_at for row in rows), default=None)


async def returned(conn: AsyncConnection, order_id: str, *, statuses=OPEN_OR_DONE, excluding: str | None = None):
    rows = await conn.execute(select(returns.c.id, returns.c.lines).where(
        and_(returns.c.order_id == order_id, returns.c.status.in_(statuses))))
    totals: dict[str, int] = {}
    for rma_id, lines in rows:
        if rma_id != excluding:
            for line in lines:
                totals[line["sku"]] = totals.get(line["sku"], 0) + line["quantity"]
    return totals


async def ordered(conn: AsyncConnection, order_id: str) -> dict[str, int]:
    rows = await conn.execute(select(order_lines.c.sku, order_lines.c.quantity).where(order_lines.c.order_id == order_id))
    return {sku: quantity for sku, quantity in rows}


async def create(conn: AsyncConnection, *, rma_id: str, order_id: str, lines: list[dict], exchange: bool) -> None:
    await conn.execute(returns.insert().values(id=rma_id, order_id=order_id, lines=lines, exchange=exchange,
                                               workflow_id=workflow_ids.return_(rma_id)))


async def set_status(conn: AsyncConnection, rma_id: str, status: str, **values) -> None:
    await conn.execute(update(returns).where(returns.c.id == rma_id)
                       .values(status=status, updated_at=func.now(), **values))


async def record_refund(conn: AsyncConnection, rma_id: str, refund_id: str) -> None:
    """The refund of a return whose status says something else (an exchange's price difference)."""
    await conn.execute(update(returns).where(returns.c.id == rma_id).values(refund_id=refund_id, updated_at=func.now()))


async def by_tracking_code(conn: AsyncConnection, tracking_code: str):
    return (await conn.execute(select(returns).where(returns.c.label["tracking_code"].astext == tracking_code))).first()


async def for_order(conn: AsyncConnection, order_id: str) -> list:
    return list(await conn.execute(select(returns).where(returns.c.order_id == order_id)
                                   .order_by(returns.c.created_at, returns.c.id)))


async def create_exchange_order(conn: AsyncConnection, *, order_id: str, rma_id: str, original, units: dict[str, int],
                                now, charged=None) -> None:
    """A replacement of the accepted units, holding stock like a checkout's order does: at no charge, or, for a
    dearer variant, paid up front by ``charged`` (the captured price difference: the order's subtotal and tax
    are that difference, its lines the replacement units; shipments find nothing left to capture)."""
    key = exchange_key(rma_id)
    await inventory.reserve(conn, key, units, now=now, expires_at=now + timedelta(hours=1))
    titles = dict((await conn.execute(select(variants.c.sku, variants.c.title)
                                      .where(variants.c.sku.in_(list(units))))).tuples().all())
    titles.update((await conn.execute(select(order_lines.c.sku, order_lines.c.title)
                                      .where(order_lines.c.order_id == original.id))).tuples().all())
    net, tax = (charged.net, charged.tax) if charged else (0, 0)
    await conn.execute(orders.insert().values(
        id=order_id, checkout_id=key, cart_id=original.cart_id, email=original.email,
        status=OrderStatus.PENDING_PAYMENT, currency=original.currency, subtotal=net, discount_total=0,
        tax_total=tax, shipping_total=0, total=net + tax, shipping_address=original.shipping_address,
        shipping_method=original.shipping_method, tax_provider="none", payment_ref=key,
        payment_provider=charged.provider if charged else "none",
        authorization_id=charged.authorization_id if charged else "none", authorized_amount=net + tax,
        payment_method=original.payment_method if charged else None,
    ))
    for sku, quantity in sorted(units.items()):
        await conn.execute(order_lines.insert().values(
            id=public_id("order_line"), order_id=order_id, sku=sku, title=titles.get(sku, sku), quantity=quantity,
            unit_price=0, discount=0, tax=0, line_total=0))
    await inventory.commit_to_order(conn, key, order_id)
    await order_store.append_event(conn, order_id, f"{key}:created", "order.created",
                                   data={"exchange_for": original.id, "rma_id": rma_id, "total": net + tax})
    if charged:
        await order_store.append_event(conn, order_id, f"{key}:captured", "payment.captured",
                                       to_status=OrderStatus.CAPTURED,
                                       data={"payment_ref": key, "charge_id": charged.authorization_id,
                                             "amount": net + tax, "provider": charged.provider,
                                             "reason": "exchange price difference"})
    else:
        await order_store.append_event(conn, order_id, f"{key}:no_charge", "payment.not_required",
                                       to_status=OrderStatus.AUTHORIZED, data={"reason": "exchange"})


async def record_exchange_tax(conn: AsyncConnection, rma_id: str, provider: str, document_code: str) -> None:
    """The difference's committed tax document, recorded on the replacement order (created without one)."""
    order_id = (await get(conn, rma_id)).replacement_order_id
    if order_id:
        await conn.execute(update(orders).where(orders.c.id == order_id)
                           .values(tax_provider=provider, tax_document=document_code, updated_at=func.now()))


async def variant_tax_details(conn: AsyncConnection, skus: list[str]) -> dict[str, tuple[str, str | None]]:
    """sku → (title, tax code: the variant's, else its product's) for the lines of a tax document."""
    rows = await conn.execute(
        select(variants.c.sku, variants.c.title, catalog.EFFECTIVE_TAX_CODE)
        .join(products, products.c.id == variants.c.product_id).where(variants.c.sku.in_(skus)))
    return {sku: (title, tax_code) for sku, title, tax_code in rows}


async def check_exchange_variants(conn: AsyncConnection, lines: list[ReturnLine], currency: str) -> None:
    """A line may swap to another variant of the same product that is for sale and in stock now (its stock is
    held only once the exchange is approved)."""
    wanted = {line.sku: line for line in lines if line.exchange_sku and line.exchange_sku != line.sku}
    if not wanted:
        return
    skus = set(wanted) | {line.exchange_sku for line in wanted.values()}
    product_of = dict((await conn.execute(select(variants.c.sku, variants.c.product_id)
                                          .where(variants.c.sku.in_(skus)))).tuples().all())
    for sku, line in sorted(wanted.items()):
        if line.exchange_sku not in product_of:
            raise NotFound(f"unknown SKU {line.exchange_sku!r}", code="unknown_sku")
        if product_of[line.exchange_sku] != product_of.get(sku):
            raise DomainError(f"{line.exchange_sku} is not a variant of the product {sku} belongs to",
                              code="exchange_not_same_product", details={"sku": sku, "exchange_sku": line.exchange_sku})
        await catalog.sellable_price(conn, line.exchange_sku, currency)
        available = await total_atp(conn, line.exchange_sku)
        if available < line.quantity:
            raise OutOfStock(f"only {available} of {line.exchange_sku} available", code="insufficient_stock",
                             details={"sku": line.exchange_sku, "available": available})


async def hold_exchange_stock(conn: AsyncConnection, rma_id: str, units: dict[str, int], *, now, expires_at) -> None:
    """Hold the replacement units (raises OutOfStock, holding nothing, when they are not there)."""
    await inventory.reserve(conn, exchange_hold_key(rma_id), units, now=now, expires_at=expires_at)


async def release_exchange_stock(conn: AsyncConnection, rma_id: str) -> int:
    """Give back what an exchange holds and has not yet turned into its order. Safe to repeat."""
    held = await inventory.release(conn, exchange_hold_key(rma_id))
    return held + await inventory.release(conn, exchange_key(rma_id))


async def price_exchange(conn: AsyncConnection, order, lines: list[ReturnLine],
                         accepted: dict[str, int]) -> ExchangeTerms:
    """The exchange's terms at today's prices of the chosen variants."""
    paid = {row.sku: PaidLine(sku=row.sku, quantity=row.quantity, unit_price=row.unit_price,
                              line_total=row.line_total, tax=row.tax)
            for row in await conn.execute(select(order_lines).where(order_lines.c.order_id == order.id))}
    prices = {line.exchange_sku: await catalog.sellable_price(conn, line.exchange_sku, order.currency)
              for line in lines if accepted.get(line.sku) and line.exchange_sku not in (None, line.sku)}
    return exchange_terms(lines, accepted, paid, prices, order.currency)


async def secure_exchange_stock(conn: AsyncConnection, rma_id: str, units: dict[str, int], *, now, expires_at) -> None:
    """Turn the approval's hold into a hold of exactly the units the exchange ships (in one transaction, so
    the units given back are there to take again); OutOfStock when they cannot all be held."""
    if await inventory.existing_reservation(conn, exchange_key(rma_id)):
        return
    await inventory.release(conn, exchange_hold_key(rma_id))
    await inventory.reserve(conn, exchange_key(rma_id), units, now=now, expires_at=expires_at)

"""Gathers the facts of one checkout, order or payment from PostgreSQL for models.money_invariants.

What the provider really did and what the workflows are doing are not in the database: callers pass
them in (tests record the provider at its edge and describe the workflows in Temporal).
"""

from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from db import fulfillment
from db.tables import checkouts, orders, payment_operations, stock
from models.money_invariants import (
    LedgerEntry, MoneyFacts, OrderView, ProviderEffect, ShipmentView, StockLevel, Violation, WorkflowView,
    violations,
)


async def ledger_entries(conn: AsyncConnection, *conditions) -> tuple[LedgerEntry, ...]:
    rows = await conn.execute(select(payment_operations).where(or_(*conditions))
                              .order_by(payment_operations.c.created_at, payment_operations.c.id))
    return tuple(LedgerEntry(r.payment_ref, r.kind, int(r.amount), r.status, r.idempotency_key) for r in rows)


async def order_ledger(conn: AsyncConnection, order) -> tuple[LedgerEntry, ...]:
    """The order's money under every reference it used: its checkout, its current authorization, and
    the references derived from its id (re-authorizations)."""
    ref = payment_operations.c.payment_ref
    return await ledger_entries(conn, ref.in_({order.checkout_id, order.payment_ref}),
                                ref.like(f"{order.id}:%"))


async def order_view(conn: AsyncConnection, order) -> OrderView:
    """What GET /orders/{id} shows: each parcel's ``captured`` as the API serves it (not its planned
    share, which a capture whose answer was lost has fixed although nothing was taken)."""
    rows = sorted(await fulfillment.shipments_view(conn, order.id), key=lambda s: s["id"])
    return OrderView(order.id, order.status, int(order.total), tuple(
        ShipmentView(s["id"], s["status"], s["captured"], s["alert"]) for s in rows))


async def stock_levels(conn: AsyncConnection, places: Iterable[tuple[str, str]]) -> tuple[StockLevel, ...]:
    """Stock rows at (sku, location_id) places; take one before a flow and compare after it."""
    places = list(places)
    if not places:
        return ()
    rows = await conn.execute(select(stock).where(tuple_(stock.c.sku, stock.c.location_id).in_(places))
                              .order_by(stock.c.sku, stock.c.location_id))
    return tuple(StockLevel(r.sku, r.location_id, r.on_hand, r.reserved) for r in rows)


async def stock_of_skus(conn: AsyncConnection, skus: Iterable[str]) -> tuple[StockLevel, ...]:
    rows = await conn.execute(select(stock).where(stock.c.sku.in_(list(skus))).order_by(stock.c.sku, stock.c.location_id))
    return tuple(StockLevel(r.sku, r.location_id, r.on_hand, r.reserved) for r in rows)


async def order_facts(conn: AsyncConnection, order_id: str, **observed) -> MoneyFacts:
    order = (await conn.execute(select(orders).where(orders.c.id == order_id))).one()
    cancelled = order.status == "cancelled"
    return await _with_stock(conn, MoneyFacts(
        order_id, ledger=await order_ledger(conn, order), order=await order_view(conn, order),
        settled=cancelled, stock_must_return=cancelled, **observed))


async def checkout_facts(conn: AsyncConnection, checkout_id: str, **observed) -> MoneyFacts:
    """A checkout that became an order is judged as that order; a failed one must leave nothing behind."""
    checkout = (await conn.execute(select(checkouts).where(checkouts.c.id == checkout_id))).one()
    failed = checkout.status == "failed"
    order_id = (await conn.execute(select(orders.c.id).where(orders.c.checkout_id == checkout_id))).scalar()
    if order_id is not None:
        facts = await order_facts(conn, order_id, **observed)
        if failed:  # told it failed: judged as a failed checkout that left an order behind
            facts = await _with_stock(conn, replace(facts, checkout_failed=True, settled=True, stock_must_return=True))
        return facts
    return await _with_stock(conn, MoneyFacts(
        checkout_id, ledger=await ledger_entries(conn, payment_operations.c.payment_ref == checkout_id),
        settled=failed, stock_must_return=failed, **observed))


async def payment_facts(conn: AsyncConnection, payment_ref: str, **observed) -> MoneyFacts:
    """Money under one reference (a subscription renewal's charge): judged with its order if it has one."""
    order_id = (await conn.execute(select(orders.c.id).where(orders.c.payment_ref == payment_ref))).scalar()
    if order_id is not None:
        return await order_facts(conn, order_id, **observed)
    # No order: whatever was held or reserved for it must have been given back.
    return await _with_stock(conn, MoneyFacts(
        payment_ref, ledger=await ledger_entries(conn, payment_operations.c.payment_ref == payment_ref),
        settled=True, stock_must_return=True, **observed))


async def check_checkout(conn: AsyncConnection, checkout_id: str, *,
                         provider: tuple[ProviderEffect, ...] | None = None,
                         stock_before: tuple[StockLevel, ...] | None = None,
                         workflows: tuple[WorkflowView, ...] = ()) -> list[Violation]:
    return violations(await checkout_facts(conn, checkout_id, provider=provider, stock_before=stock_before,
                                           workflows=workflows))


async def _with_stock(conn: AsyncConnection, facts: MoneyFacts) -> MoneyFacts:
    if facts.stock_before is None:
        return facts
    after = await stock_levels(conn, [(s.sku, s.location_id) for s in facts.stock_before])
    return replace(facts, stock_after=after)

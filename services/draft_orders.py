"""Draft orders: support builds an order for a customer, completed by phone or through an emailed invoice link.

The draft holds a cart of its own, so its quote is the cart quote (services/quotes.py, the checkout's own code)
and its completion is a normal checkout of that cart (services/checkout.start_checkout: the same claim, the same
checkout workflow, ``price_changed`` when the total moved). Handlers own their transactions: lock the draft,
change it, commit; then ask the quote services or start the checkout with no connection held; audit support's
actions with their actor.

A checkout of the draft's cart may also start elsewhere (``POST /checkouts`` with the invoice link's cart token),
and may fail; ``_settled`` brings the draft up to date with its cart's checkout before every read and action.
"""

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from db import audit, carts, promotions
from db import customers
from db import draft_orders as store
from db import quotes as quote_store
from db.stock_alerts import total_atp
from models.auth import Caller
from models.commerce import Address
from models.content_hash import content_hash
from models.draft_orders import (
    DraftCreate, DraftLine, DraftOrder, DraftUpdate, InvoiceRequest, assert_may, invoice_workflow_id, reopened_status,
)
from models.errors import Conflict, DomainError, NotFound
from models.ids import public_id
from models.money import normalize_currency
from models.quotes import QuoteRequest
from services import checkout, quotes
from services.deps import Deps
from services.errors import Refused
from workflows.draft_invoice import DraftInvoiceWorkflow

log = structlog.get_logger("orderflow.services.draft_orders")

ID_NAMESPACE = uuid.UUID("0b9f3c52-6a2e-4c8e-9d1b-5e7f2a4c6d80")


@dataclass(frozen=True)
class CreateDraft:
    idempotency_key: str
    body: DraftCreate
    caller: Caller


@dataclass(frozen=True)
class CompleteDraft:
    draft_id: str
    idempotency_key: str
    payment_method: str
    payment_method_type: str
    client_ip: str | None
    caller: Caller
    by_invoice: bool  # the customer, through the invoice link: held to the invoiced total, not audited
    may_use_cart: Callable[[str, str | None], bool] | None = None  # None: the caller acts for anyone


# ---------------------------------------------------------------- create, read, change, cancel
async def create_draft(deps: Deps, command: CreateDraft) -> tuple[DraftOrder, bool]:
    """The draft and its quote, and whether this call created it (a replayed key answers the draft as it is)."""
    body = command.body
    _refuse_empty(body.lines)
    try:
        currency = normalize_currency(body.currency)
    except ValueError as exc:
        raise DomainError(str(exc), code="unsupported_currency") from exc
    draft_id = public_id("draft_order", uuid.uuid5(ID_NAMESPACE, command.idempotency_key))
    request_hash = content_hash(body.model_dump(mode="json"))
    async with deps.engine.begin() as conn:
        replay = await store.claimed(conn, command.idempotency_key, request_hash)
        if not replay:
            await _create(conn, draft_id, currency, request_hash, command)
    if replay:
        return await _replayed(deps, draft_id), False
    log.info("draft order created", draft_id=draft_id, actor=command.caller.name)
    return await _requote(deps, draft_id), True


async def _create(conn, draft_id: str, currency: str, request_hash: str, command: CreateDraft) -> None:
    """The draft's cart with its lines and codes, the draft, and its audit entry, in the caller's transaction."""
    body = command.body
    cart_id = await carts.create_cart(conn, currency, body.email)
    await _fill_cart(conn, cart_id, body.lines, body.discount_codes, body.email)
    await store.claim(
        conn, draft_id=draft_id, idempotency_key=command.idempotency_key, request_hash=request_hash,
        cart_id=cart_id, email=body.email, shipping_address=body.shipping_address.model_dump(mode="json"),
        billing_address=body.billing_address.model_dump(mode="json") if body.billing_address else None,
        shipping_speed=body.shipping_speed, created_by=command.caller.label)
    await audit.record(conn, command.caller, "draft_order.create", target=draft_id, reason=body.note,
                       details={"cart_id": cart_id, "email": body.email})


async def _replayed(deps: Deps, draft_id: str) -> DraftOrder:
    """The draft as it is now; quoted first if its first quote never answered (the services were down)."""
    draft = await view(deps, draft_id)
    return draft if draft.quote else await _requote(deps, draft_id)


def _refuse_empty(lines: list[DraftLine]) -> None:
    if not lines:
        raise DomainError("a draft order needs at least one line", code="draft_empty")


async def _fill_cart(conn, cart_id: str, lines: list[DraftLine], codes: list[str], email: str) -> None:
    """The lines at today's prices (``unknown_sku``, ``sku_not_sellable``…), within what can be promised."""
    for line in lines:
        await carts.add_line(conn, cart_id, line.sku, line.quantity)
    _, snapshot = await carts.get_cart(conn, cart_id)
    for line in snapshot.lines:
        available = await total_atp(conn, line.sku)
        if line.quantity > available:
            raise Conflict(f"only {available} of {line.sku} can be promised", code="insufficient_stock",
                           details={"sku": line.sku, "requested": line.quantity, "available": available})
    for code in codes:
        await promotions.attach(conn, cart_id, code, datetime.now(UTC), email)


async def view(deps: Deps, draft_id: str) -> DraftOrder:
    async with deps.engine.begin() as conn:
        return await _answer(conn, await _settled(conn, draft_id))


async def update_draft(deps: Deps, draft_id: str, change: DraftUpdate,
                       caller: Caller) -> DraftOrder:
    """Change an open (or invoiced) draft and quote it again."""
    async with deps.engine.begin() as conn:
        row = await _settled(conn, draft_id)
        assert_may("update", row.status)
        if change.lines is not None:
            _refuse_empty(change.lines)
            await _replace_lines(conn, row.cart_id, change.lines, change.discount_codes, change.email or row.email)
        elif change.discount_codes:
            await carts.lock_for_change(conn, row.cart_id)
            for code in change.discount_codes:
                await promotions.attach(conn, row.cart_id, code, datetime.now(UTC), change.email or row.email)
        if change.email:
            await carts.set_email(conn, row.cart_id, change.email)
        await store.change(conn, draft_id, **_field_changes(change))
        await audit.record(conn, caller, "draft_order.update", target=draft_id, reason=change.note,
                           details={"changed": sorted(change.model_dump(exclude_defaults=True, exclude={"note"}))})
    return await _requote(deps, draft_id)


def _field_changes(change: DraftUpdate) -> dict:
    values = {"email": change.email, "shipping_speed": change.shipping_speed,
              "shipping_address": change.shipping_address.model_dump(mode="json") if change.shipping_address else None,
              "billing_address": change.billing_address.model_dump(mode="json") if change.billing_address else None}
    return {name: value for name, value in values.items() if value is not None}


async def _replace_lines(conn, cart_id: str, lines: list[DraftLine], codes: list[str], email: str) -> None:
    _, snapshot = await carts.get_cart(conn, cart_id)
    for line in snapshot.lines:
        await carts.remove_line(conn, cart_id, line.line_id)
    await _fill_cart(conn, cart_id, lines, codes, email)


async def requote(deps: Deps, draft_id: str) -> DraftOrder:
    """A fresh quote of an open draft (today's prices, rates and tax); the same one while nothing changed."""
    async with deps.engine.begin() as conn:
        assert_may("update", (await _settled(conn, draft_id)).status)
    return await _requote(deps, draft_id)


async def _requote(deps: Deps, draft_id: str) -> DraftOrder:
    async with deps.engine.connect() as conn:
        row = await store.get(conn, draft_id)
    quote = await quotes.quote(deps, row.cart_id, QuoteRequest(
        shipping_address=Address(**row.shipping_address), shipping_speed=row.shipping_speed, email=row.email))
    async with deps.engine.begin() as conn:
        await store.change(conn, draft_id, quote_id=quote.quote_id)
        return await _answer(conn, await _settled(conn, draft_id))


async def cancel_draft(deps: Deps, draft_id: str, caller: Caller, reason: str) -> DraftOrder:
    """Cancel an open or invoiced draft. Its cart is emptied, so the invoice link can no longer check it out."""
    async with deps.engine.begin() as conn:
        row = await _settled(conn, draft_id)
        assert_may("cancel", row.status)
        _, snapshot = await carts.get_cart(conn, row.cart_id)
        for line in snapshot.lines:
            await carts.remove_line(conn, row.cart_id, line.line_id)
        await store.change(conn, draft_id, status="cancelled")
        await audit.record(conn, caller, "draft_order.cancel", target=draft_id, reason=reason)
        return await _answer(conn, await store.get(conn, draft_id))


# ---------------------------------------------------------------- complete, by phone or by the invoice link
async def complete_draft(deps: Deps, command: CompleteDraft) -> DraftOrder:
    """Start a normal checkout of the draft's cart; the draft is completed with its checkout and order id.

    By phone the checkout is held to the draft's quote (``quote_expired``: re-quote first); by the invoice link
    to the invoiced total. A second completion under another key is ``draft_already_completed``; one refused
    before its checkout started (a switched-off payment method, an expired quote, Temporal unreachable) leaves
    the draft as it was."""
    # Its own key space (a key used for another checkout cannot collide), hashed to fit the checkout's column.
    checkout_key = f"draft:{command.draft_id}:{hashlib.sha256(command.idempotency_key.encode()).hexdigest()}"
    checkout_id, order_id, _ = checkout.checkout_ids(checkout_key)
    async with deps.engine.begin() as conn:
        row = await _settled(conn, command.draft_id)
        await _assert_may_use(conn, command, row)
        replay = row.status == "completed" and row.completion_key == command.idempotency_key
        if not replay:
            assert_may("complete", row.status)
            _assert_agreement(row, command.by_invoice)
            await store.change(conn, row.id, status="completed", checkout_id=checkout_id, order_id=order_id,
                               completion_key=command.idempotency_key)
    try:
        await checkout.start_checkout(deps, _start_command(row, command, checkout_key))
    except Exception:
        # Refused, or Temporal did not answer: the draft is as it was. Had the start reached Temporal after all,
        # the checkout locks the cart and _settled completes the draft with it.
        if not replay:
            await _undo_completion(deps, row, command.idempotency_key)
        raise
    if not replay and not command.by_invoice:
        async with deps.engine.begin() as conn:
            await audit.record(conn, command.caller, "draft_order.complete", order_id=order_id, target=row.id,
                               details={"checkout_id": checkout_id})
    log.info("draft order completed", draft_id=row.id, checkout_id=checkout_id, by_invoice=command.by_invoice)
    return await view(deps, row.id)


async def _assert_may_use(conn, command: CompleteDraft, row) -> None:
    """The invoice link's cart token (or the customer's own token) proves the draft; others see it missing."""
    if command.may_use_cart is not None and not command.may_use_cart(row.cart_id,
                                                                     await customers.cart_owner(conn, row.cart_id)):
        raise NotFound(f"draft order {row.id} not found", code="draft_not_found")


def _assert_agreement(row, by_invoice: bool) -> None:
    if by_invoice and row.status != "invoiced":
        raise Conflict("this draft order has not been invoiced", code="draft_not_invoiced")
    if row.quote_id is None:
        raise Conflict("the draft order has no quote yet: re-quote it", code="draft_not_quoted")


def _start_command(row, command: CompleteDraft, checkout_key: str) -> checkout.StartCheckout:
    return checkout.StartCheckout(
        idempotency_key=checkout_key,
        request_hash=content_hash({"draft_id": row.id, "payment_method": command.payment_method,
                            "payment_method_type": command.payment_method_type, "by_invoice": command.by_invoice}),
        cart_id=row.cart_id, email=row.email, shipping_address=Address(**row.shipping_address),
        billing_address=Address(**row.billing_address) if row.billing_address else None,
        payment_method=command.payment_method, payment_method_type=command.payment_method_type,
        shipping_speed=row.shipping_speed, client_ip=command.client_ip,
        quote_id=None if command.by_invoice else row.quote_id,
        expected_total=row.invoiced_total if command.by_invoice else None,
        may_use_cart=command.may_use_cart,
    )


async def _undo_completion(deps: Deps, before, idempotency_key: str) -> None:
    """The checkout was refused before it started: the draft is as it was (unless another call moved it on)."""
    async with deps.engine.begin() as conn:
        row = await store.get(conn, before.id, lock=True)
        if row.status == "completed" and row.completion_key == idempotency_key:
            await store.change(conn, row.id, status=before.status, checkout_id=None, order_id=None,
                               completion_key=None)


# ---------------------------------------------------------------- the invoice
async def send_invoice(deps: Deps, draft_id: str, caller: Caller, note: str = "") -> tuple[DraftOrder, bool]:
    """Email the customer a link to pay the draft at its current quote; (draft, whether an email was started).

    Once per quote (the workflow id names it): sent again it changes nothing; re-quoted, a new invoice goes out.
    The email is mailed by ``DraftInvoiceWorkflow`` (suppressed addresses are skipped there)."""
    if deps.settings.storefront_links is None:
        raise Refused(503, "draft_invoices_not_configured", "invoice links need STOREFRONT_URL")
    async with deps.engine.begin() as conn:
        row = await _settled(conn, draft_id)
        assert_may("send_invoice", row.status)
        _assert_agreement(row, by_invoice=False)
        quote = await quote_store.get(conn, row.quote_id)
        await store.change(conn, draft_id, status="invoiced", invoiced_quote_id=quote.quote_id,
                           invoiced_total=quote.total)
    # Started once the draft says invoiced (the sending activity checks it). Should starting fail, the draft
    # is invoiced without an email: sending again starts it then.
    started = await _start_invoice(deps, draft_id, quote.quote_id)
    async with deps.engine.begin() as conn:
        if started:
            await audit.record(conn, caller, "draft_order.send_invoice", target=draft_id, reason=note,
                               amount=quote.total, currency=quote.currency, details={"quote_id": quote.quote_id})
        answer = await _answer(conn, await _settled(conn, draft_id))
    log.info("draft invoice sent" if started else "draft invoice already sent", draft_id=draft_id,
             quote_id=quote.quote_id)
    return answer, started


async def _start_invoice(deps: Deps, draft_id: str, quote_id: str) -> bool:
    workflow_id = invoice_workflow_id(draft_id, quote_id)
    try:
        await deps.temporal.start_workflow(
            DraftInvoiceWorkflow.run, InvoiceRequest(draft_id=draft_id, quote_id=quote_id), id=workflow_id,
            task_queue=deps.settings.task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"Invoice of draft order {draft_id}")
    except WorkflowAlreadyStartedError:
        return False
    return True


# ---------------------------------------------------------------- keeping the draft in step with its checkout
async def _settled(conn, draft_id: str):
    """The draft, locked, after catching up with its cart: a checkout started elsewhere completes it; a failed
    one reopens it (invoiced if it had been), with the reason kept in ``last_checkout_error``."""
    row = await store.get(conn, draft_id, lock=True)
    if row.status in ("open", "invoiced"):
        started = await store.cart_checkout(conn, row.cart_id)
        found = await store.checkout_of(conn, started) if started else None
        if found is not None and found.status != "failed":
            await store.change(conn, draft_id, status="completed", checkout_id=started, order_id=found.order_id)
    elif row.status == "completed" and row.checkout_id:
        found = await store.checkout_of(conn, row.checkout_id)
        if found is not None and found.status == "failed":
            await store.change(conn, draft_id, status=reopened_status(row.invoiced_total is not None),
                               checkout_id=None, order_id=None, completion_key=None,
                               last_checkout_error=found.error_code)
    return await store.get(conn, draft_id)


async def _answer(conn, row) -> DraftOrder:
    found = await store.checkout_of(conn, row.checkout_id) if row.checkout_id else None
    return DraftOrder(
        draft_id=row.id, status=row.status, cart_id=row.cart_id, email=row.email,
        shipping_address=row.shipping_address, billing_address=row.billing_address,
        shipping_speed=row.shipping_speed,
        quote=await quote_store.get(conn, row.quote_id) if row.quote_id else None,
        invoiced_total=row.invoiced_total, checkout_id=row.checkout_id, order_id=row.order_id,
        checkout_status=found.status if found else ("pending" if row.checkout_id else None),
        last_checkout_error=row.last_checkout_error,
    )

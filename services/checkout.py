"""Checkouts: start the durable checkout workflow idempotently, report its progress, decide fraud reviews.

``start_checkout`` claims the Idempotency-Key and (first time only) checks capacity, kill switches and the
cart and links the customer, in one transaction; then, with no transaction held, starts the workflow under
the id the key derives. A start that fails releases the claim (services/workflow_calls.start_claimed) and
the client retries with the same key; a replay of a pending checkout starts it too, so a claim whose first
attempt died before starting never blocks the key.
"""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from dataclasses import dataclass
from typing import Literal

import structlog
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import (
    Priority, SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.quoting import agreed_total
from config import Settings
from db import audit, carts
from db import checkouts as store
from db import customers
from db import switches
from models import workflow_ids
from models.auth import Caller
from models.commerce import Address, CheckoutInput, TaxExemption
from models.errors import DomainError, NotFound
from models.fraud import FraudPolicy, ReviewDecision
from models.ids import public_id
from services import workflow_calls
from services.cart_recovery import stop_reminders
from services.deps import Deps
from services.errors import Refused
from workflows import search_attributes as sa
from workflows.checkout import CheckoutWorkflow

log = structlog.get_logger("orderflow.services.checkout")

# Ids derive from the Idempotency-Key, so a retried request reaches the same workflow
# even if an earlier attempt died between writing the record and starting the workflow.
ID_NAMESPACE = uuid.UUID("6f0c7d3e-2b5c-4b1e-9a55-0f3d8f6b1c2a")
# What a client refused by backpressure is told to wait: about one checkout's duration.
RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True)
class StartCheckout:
    idempotency_key: str
    request_hash: str  # of the request body: the same key with another body is refused
    cart_id: str
    email: str
    shipping_address: Address
    billing_address: Address | None
    payment_method: str
    payment_method_type: str
    shipping_speed: str
    client_ip: str | None
    signed_in_customer: str | None = None
    quote_id: str | None = None  # with expected_total: the total the shopper agreed to (price_changed otherwise)
    expected_total: int | None = None
    tax_exemption: TaxExemption | None = None
    # For a caller acting for one shopper: whether its proofs cover a cart owned by this owner (None:
    # the caller acts for anyone). Checked in the claim's transaction.
    may_use_cart: Callable[[str, str | None], bool] | None = None  # (cart id, its owner)


@dataclass(frozen=True)
class ReviewCheckout:
    checkout_id: str
    decision: Literal["approve", "reject"]
    note: str
    caller: Caller


def checkout_ids(idempotency_key: str) -> tuple[str, str, str]:
    checkout_id = public_id("checkout", uuid.uuid5(ID_NAMESPACE, f"checkout:{idempotency_key}"))
    order_id = public_id("order", uuid.uuid5(ID_NAMESPACE, f"order:{idempotency_key}"))
    return checkout_id, order_id, workflow_ids.checkout(checkout_id)


def fraud_policy(settings: Settings) -> FraudPolicy | None:
    if not settings.fraud_screening_enabled:
        return None
    return FraudPolicy(
        review_score=settings.fraud_review_score, reject_score=settings.fraud_reject_score,
        email_per_hour=settings.fraud_velocity_per_hour, card_per_hour=settings.fraud_velocity_per_hour,
        email_per_day=settings.fraud_velocity_per_day, card_per_day=settings.fraud_velocity_per_day,
        ip_per_hour=settings.fraud_ip_velocity_per_hour, ip_per_day=settings.fraud_ip_velocity_per_day,
        high_risk_categories=tuple(settings.fraud_high_risk_categories),
        high_value_amount=settings.fraud_high_value_amount,
        very_high_value_amount=settings.fraud_very_high_value_amount,
    )


async def start_checkout(deps: Deps, command: StartCheckout):
    """Claim the key and start the workflow: the checkout's row and whether this call created it."""
    checkout_id, order_id, workflow_id = checkout_ids(command.idempotency_key)
    row, created, version, reminded = await _claim(deps, command, checkout_id, order_id, workflow_id)
    if row.status == "pending":  # a replay starts it too: its first attempt may have died before starting it
        await workflow_calls.start_claimed(deps, "checkout", checkout_id, version, workflow_id, _start_workflow(
            deps.temporal, deps.settings.task_queue, workflow_id, _input(deps.settings, command, checkout_id, order_id)))
    if created and reminded:  # best effort: the reminder activity re-checks the cart anyway
        await stop_reminders(deps.temporal, command.cart_id)
    log.info("checkout accepted" if created else "checkout replayed", checkout_id=checkout_id,
             workflow_id=workflow_id, cart_id=command.cart_id, status=row.status)
    return row, created


async def _claim(deps: Deps, command: StartCheckout, checkout_id: str, order_id: str, workflow_id: str):
    """Claim the key and, the first time, check capacity, kill switches and the cart and link the customer;
    committed before the workflow starts (no transaction waits on Temporal). ``(row, created, version, reminded)``:
    ``reminded`` when the cart has an email, hence abandoned-cart reminders to stop (services/cart_recovery.py
    starts them only then), so a cart without any costs the checkout no call to Temporal for them."""
    reminded = False
    async with deps.engine.begin() as conn:
        await _assert_may_use_cart(conn, command)
        row, created, version = await store.claim(
            conn, checkout_id=checkout_id, order_id=order_id, idempotency_key=command.idempotency_key,
            request_hash=command.request_hash, cart_id=command.cart_id, email=command.email, workflow_id=workflow_id,
        )
        if created:
            await _assert_capacity(conn, deps.settings.max_inflight_checkouts)
            await _assert_methods_enabled(conn, command)
            reminded = (await carts.assert_checkoutable(conn, command.cart_id)).email is not None
            await _record_agreement(conn, command, checkout_id)
            await _link_customer(conn, command)
    return row, created, version, reminded


def _input(settings: Settings, command: StartCheckout, checkout_id: str, order_id: str) -> CheckoutInput:
    return CheckoutInput(
        checkout_id=checkout_id, order_id=order_id, cart_id=command.cart_id, email=command.email,
        shipping_address=command.shipping_address, payment_method=command.payment_method,
        shipping_speed=command.shipping_speed, reservation_ttl_seconds=settings.reservation_ttl_seconds,
        authentication_timeout_seconds=settings.authentication_timeout_seconds,
        billing_address=command.billing_address, client_ip=command.client_ip, fraud=fraud_policy(settings),
        fraud_review_timeout_seconds=settings.fraud_review_timeout_seconds,
        provider_budget_seconds=settings.checkout_provider_budget_seconds,
    )


async def _record_agreement(conn, command: StartCheckout, checkout_id: str) -> None:
    """With quote_id or expected_total the checkout is held to that total (activities/quoting.py); a tax
    exemption is kept for the checkout's tax calls."""
    async def may_use_cart(cart_id: str) -> bool:
        return command.may_use_cart is None or command.may_use_cart(cart_id, await customers.cart_owner(conn, cart_id))

    total = await agreed_total(conn, command.cart_id, command.quote_id, command.expected_total, datetime.now(UTC),
                               may_use_cart)
    if total is not None:
        await store.record_agreement(conn, checkout_id, quote_id=command.quote_id, total=total)
    if command.tax_exemption is not None:
        await store.record_tax_exemption(conn, checkout_id, command.tax_exemption)


async def _assert_may_use_cart(conn, command: StartCheckout) -> None:
    """A caller acting for one shopper sees another's cart as missing (api/ownership.py words it the same)."""
    owner = await customers.cart_owner(conn, command.cart_id) if command.may_use_cart is not None else None
    if command.may_use_cart is not None and not command.may_use_cart(command.cart_id, owner):
        raise NotFound(f"cart {command.cart_id} not found", code="cart_not_found")


async def _assert_capacity(conn, cap: int) -> None:
    """Backpressure: refuse a new checkout while ``cap`` are already in flight (MAX_INFLIGHT_CHECKOUTS).

    Counted in PostgreSQL, where the claim was just written (so the count includes it), rather than
    in Temporal's visibility store: that is eventually consistent, costs a call to the server this cap
    protects, and needs advanced visibility in production. Concurrent requests may overshoot the cap by
    a few; it is a pressure valve, not a quota."""
    if cap and await store.count_pending(conn, at_most=cap + 1) > cap:
        raise Refused(429, "too_many_checkouts", f"more than {cap} checkouts are in progress; retry shortly",
                      headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _assert_methods_enabled(conn, command: StartCheckout) -> None:
    if command.payment_method_type in await switches.disabled(conn, "payment_method"):
        raise DomainError(f"{command.payment_method_type} payments are switched off right now",
                          code="payment_method_disabled")
    if command.shipping_speed in await switches.disabled(conn, "shipping_method"):
        raise DomainError(f"{command.shipping_speed} shipping is switched off right now",
                          code="shipping_method_disabled")


async def _link_customer(conn, command: StartCheckout) -> None:
    """The order will belong to the cart's customer: the signed-in one, or else the one the email names
    (created on a first order). A cart someone already owns keeps its owner."""
    if await customers.cart_owner(conn, command.cart_id) is None:
        owner = command.signed_in_customer or await customers.for_checkout(conn, command.email)
        await customers.link_cart(conn, command.cart_id, owner)


# A shopper waits on a checkout; nobody waits on an order's routing, email and parcels, which each checkout starts
# (default priority 3, as every other workflow). Under a backlog the Temporal server hands out the checkout's workflow
# tasks and its local steps' before those (bench/README.md: the p99 at concurrency 50); its payment and compensations
# keep the default (workflows/checkout.DEFAULT_PRIORITY).
CHECKOUT_PRIORITY = Priority(priority_key=2)


async def _start_workflow(client: Client, task_queue: str, workflow_id: str, checkout: CheckoutInput) -> None:
    """Started once under its id: a retry finds it running (USE_EXISTING) or, once it ended, refused
    (WorkflowAlreadyStartedError, which ``start_claimed`` takes as started: the record shows the outcome)."""
    await client.start_workflow(
        CheckoutWorkflow.run, checkout, id=workflow_id, task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.CHECKOUT_STATUS, "pending"),
            SearchAttributePair(sa.CUSTOMER_EMAIL, checkout.email),
            SearchAttributePair(sa.CART_ID, checkout.cart_id),
            SearchAttributePair(sa.ORDER_ID, checkout.order_id),
        ]),
        memo={"cart_id": checkout.cart_id, "order_id": checkout.order_id, "email": checkout.email},
        static_summary=f"Checkout of cart {checkout.cart_id} for {checkout.email}",
        priority=CHECKOUT_PRIORITY,
    )


async def checkout_status(deps: Deps, checkout_id: str):
    """The checkout's row, and while it runs the step it is on and any 3-D Secure challenge."""
    async with deps.engine.connect() as conn:
        row = await store.get(conn, checkout_id)
    if row.status != "pending":
        return row, None, None
    return row, *await _progress(deps.temporal, row.workflow_id)


# A query waits for the workflow task in progress, and a checkout's first task runs every step up to the payment
# (local activities, the quotes included): a slow carrier must not hold a status poll past this, so the step is
# left out then. A checkout waiting for 3-D Secure runs no task, so its challenge answers well within it.
PROGRESS_WITHIN_SECONDS = 3.0


async def _progress(client: Client, workflow_id: str,
                    within: float = PROGRESS_WITHIN_SECONDS) -> tuple[str | None, dict | None]:
    """Best effort, within ``within`` seconds: the step a running checkout is on, and a 3-D Secure challenge if it
    waits on one; (None, None) when the workflow cannot say in time."""
    try:
        return await asyncio.wait_for(_ask_progress(client, workflow_id), within)
    except TimeoutError:
        return None, None


async def _ask_progress(client: Client, workflow_id: str) -> tuple[str | None, dict | None]:
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return None, None
        progress = await handle.query(CheckoutWorkflow.progress)
        return progress["step"], progress["next_action"]
    except RPCError:
        return None, None


async def review_checkout(deps: Deps, command: ReviewCheckout):
    """Support's decision on a checkout held for fraud review; audited. Answers as ``checkout_status``."""
    checkout_id = command.checkout_id
    async with deps.engine.connect() as conn:
        row = await store.get(conn, checkout_id)
    refused = Refused(409, "checkout_not_in_review", f"checkout {checkout_id} is not waiting for a fraud review",
                      {"status": row.status})
    if row.status != "pending":
        raise refused
    decision = ReviewDecision(decision=command.decision, note=command.note, reviewer=command.caller.name)
    try:
        await deps.temporal.get_workflow_handle(row.workflow_id).execute_update(CheckoutWorkflow.review_decision,
                                                                                decision)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type:
            raise Refused(409, cause.type, cause.message) from error
        raise
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise refused from error
        raise
    async with deps.engine.begin() as conn:
        await audit.record(conn, command.caller, f"checkout.fraud_{command.decision}", order_id=row.order_id,
                           target=checkout_id, reason=command.note, details={"decision": command.decision})
    log.info("fraud review decided", checkout_id=checkout_id, decision=command.decision, reviewer=command.caller.name)
    return row, *await _progress(deps.temporal, row.workflow_id)

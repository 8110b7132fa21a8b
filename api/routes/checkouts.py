"""Checkouts: start the durable checkout workflow, idempotently, and report its outcome."""

import hashlib
import ipaddress
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Header, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.quoting import agreed_total
from api.auth import CurrentCaller
from api.cart_recovery import stop_reminders
from api.deps import AppSettings, Engine, ReadConn, Temporal
from api.errors import ApiError
from api.metrics import CHECKOUTS
from api.ownership import RequestProofs, acts_for_anyone, assert_may_use_cart
from api.schemas import CheckoutCreate, CheckoutOptions, CheckoutOut, ErrorDetail, ErrorResponse
from config import Settings
from db import audit
from db import carts as cart_store
from db import checkouts as store
from db import customers
from db import switches
from models.commerce import CheckoutInput
from models.customer_tokens import CustomerTokens
from models.errors import Conflict, DomainError
from models.fraud import FraudPolicy, ReviewDecision
from models.ids import public_id
from models.switches import offered
from workflows import search_attributes as sa
from workflows.checkout import CheckoutWorkflow

router = APIRouter(prefix="/checkouts", tags=["checkouts"])
log = structlog.get_logger("orderflow.api.checkouts")

# Ids derive from the Idempotency-Key, so a retried request reaches the same workflow
# even if an earlier attempt died between writing the record and starting the workflow.
ID_NAMESPACE = uuid.UUID("6f0c7d3e-2b5c-4b1e-9a55-0f3d8f6b1c2a")


def checkout_ids(idempotency_key: str) -> tuple[str, str, str]:
    checkout_id = public_id("checkout", uuid.uuid5(ID_NAMESPACE, f"checkout:{idempotency_key}"))
    order_id = public_id("order", uuid.uuid5(ID_NAMESPACE, f"order:{idempotency_key}"))
    return checkout_id, order_id, f"checkout-{checkout_id}"


def body_hash(body: CheckoutCreate) -> str:
    # Fields added later are left out while unset, so a key claimed before they existed still matches.
    unset = {name for name in ("billing_address", "quote_id", "expected_total", "tax_exemption")
             if getattr(body, name) is None}
    return hashlib.sha256(body.model_dump_json(exclude=unset or None).encode()).hexdigest()


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


def client_ip(request: Request) -> str | None:
    """The shopper's address: the peer, as our trusted proxies report it (TRUSTED_PROXIES, api/app.py)."""
    try:
        return str(ipaddress.ip_address(request.client.host)) if request.client else None
    except ValueError:  # a proxy that reported something other than an address
        return None


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
# What a client refused by backpressure is told to wait: about one checkout's duration.
RETRY_AFTER_SECONDS = 2


async def _assert_capacity(conn, cap: int) -> None:
    """Backpressure: refuse a new checkout while ``cap`` are already in flight (MAX_INFLIGHT_CHECKOUTS).

    Counted in PostgreSQL, where the claim was just written (so the count includes it), rather than
    in Temporal's visibility store: that is eventually consistent, costs a call to the server this cap
    protects, and needs advanced visibility in production. Concurrent requests may overshoot the cap by
    a few; it is a pressure valve, not a quota."""
    if cap and await store.count_pending(conn, at_most=cap + 1) > cap:
        CHECKOUTS.labels("rejected").inc()
        raise ApiError(429, "too_many_checkouts", f"more than {cap} checkouts are in progress; retry shortly",
                       headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _assert_methods_enabled(conn, body: CheckoutCreate) -> None:
    if body.payment_method_type in await switches.disabled(conn, "payment_method"):
        raise DomainError(f"{body.payment_method_type} payments are switched off right now",
                          code="payment_method_disabled")
    if body.shipping_speed in await switches.disabled(conn, "shipping_method"):
        raise DomainError(f"{body.shipping_speed} shipping is switched off right now", code="shipping_method_disabled")


@router.get("/options", response_model=CheckoutOptions)
async def checkout_options(conn: ReadConn) -> CheckoutOptions:
    """What the storefront may offer now (ops kill switches applied)."""
    return CheckoutOptions(
        payment_method_types=offered("payment_method", await switches.disabled(conn, "payment_method")),
        shipping_methods=offered("shipping_method", await switches.disabled(conn, "shipping_method")),
    )


async def _assert_cart_checkoutable(conn, cart_id: str) -> None:
    cart, snapshot = await cart_store.get_cart(conn, cart_id)
    if cart.status == "checked_out":
        raise Conflict("the cart has already been checked out", code="cart_checked_out")
    if not snapshot.lines:
        raise DomainError("the cart is empty", code="cart_empty")


async def _record_agreement(conn, body: CheckoutCreate, checkout_id: str, caller, proofs) -> None:
    """With quote_id or expected_total the checkout is held to that total (activities/quoting.py); a tax
    exemption is kept for the checkout's tax calls."""
    async def may_use_cart(cart_id: str) -> bool:
        return acts_for_anyone(caller) or proofs.may_use_cart(cart_id, await customers.cart_owner(conn, cart_id))

    total = await agreed_total(conn, body.cart_id, body.quote_id, body.expected_total, datetime.now(UTC), may_use_cart)
    if total is not None:
        await store.record_agreement(conn, checkout_id, quote_id=body.quote_id, total=total)
    if body.tax_exemption is not None:
        await store.record_tax_exemption(conn, checkout_id, body.tax_exemption)


async def _link_customer(conn, body: CheckoutCreate, signed_in: str | None) -> None:
    """The order will belong to the cart's customer: the signed-in one, or else the one the email names
    (created on a first order). A cart someone already owns keeps its owner."""
    if await customers.cart_owner(conn, body.cart_id) is None:
        await customers.link_cart(conn, body.cart_id, signed_in or await customers.for_checkout(conn, body.email))


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=CheckoutOut,
    responses={409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 400: {"model": ErrorResponse},
               429: {"model": ErrorResponse, "description": "Too many checkouts in progress: retry after "
                     "`Retry-After` seconds (a replayed Idempotency-Key is always answered)"}},
)
async def start_checkout(body: CheckoutCreate, engine: Engine, temporal: Temporal, settings: AppSettings,
                         request: Request, response: Response, caller: CurrentCaller, proofs: RequestProofs,
                         idempotency_key: IdempotencyKey = None) -> CheckoutOut:
    """Start a checkout. Replaying the same Idempotency-Key and body returns the same checkout."""
    if not idempotency_key or not idempotency_key.strip():
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header (e.g. a UUID)")
    checkout_id, order_id, workflow_id = checkout_ids(idempotency_key)
    bound = log.bind(checkout_id=checkout_id, workflow_id=workflow_id, cart_id=body.cart_id)
    async with engine.begin() as conn:
        if not acts_for_anyone(caller):
            await assert_may_use_cart(conn, proofs, body.cart_id)
        row, created = await store.claim(
            conn, checkout_id=checkout_id, order_id=order_id, idempotency_key=idempotency_key,
            request_hash=body_hash(body), cart_id=body.cart_id, email=body.email, workflow_id=workflow_id,
        )
        if created:
            await _assert_capacity(conn, settings.max_inflight_checkouts)
            await _assert_methods_enabled(conn, body)
            await _assert_cart_checkoutable(conn, body.cart_id)
            await _record_agreement(conn, body, checkout_id, caller, proofs)
            await _link_customer(conn, body, proofs.customer_id)
        if row.status == "pending":
            # Started inside the transaction: if starting fails nothing is recorded and the client may retry.
            await _start_workflow(temporal, settings.task_queue, workflow_id, CheckoutInput(
                checkout_id=checkout_id, order_id=order_id, cart_id=body.cart_id, email=body.email,
                shipping_address=body.shipping_address, payment_method=body.payment_method,
                shipping_speed=body.shipping_speed, reservation_ttl_seconds=settings.reservation_ttl_seconds,
                authentication_timeout_seconds=settings.authentication_timeout_seconds,
                billing_address=body.billing_address, client_ip=client_ip(request), fraud=fraud_policy(settings),
                fraud_review_timeout_seconds=settings.fraud_review_timeout_seconds,
                provider_budget_seconds=settings.checkout_provider_budget_seconds,
            ))
    if created:
        await stop_reminders(temporal, body.cart_id)  # best effort: the reminder activity re-checks the cart
    bound.info("checkout accepted" if created else "checkout replayed", status=row.status)
    CHECKOUTS.labels("started" if created else "replayed").inc()
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return _checkout_out(row, tokens=settings.customer_tokens)


async def _start_workflow(client: Client, task_queue: str, workflow_id: str, checkout: CheckoutInput) -> None:
    try:
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
        )
    except WorkflowAlreadyStartedError:
        pass  # it already ran to completion under this id: the record will show the outcome


def _checkout_out(row, step: str | None = None, next_action: dict | None = None, *,
                  tokens: CustomerTokens | None = None) -> CheckoutOut:
    """With ``tokens``, a completed checkout carries the guest's order token (the caller proved the cart)."""
    error = ErrorDetail(code=row.error_code, message=row.error_message or "",
                        details=row.error_details) if row.error_code else None
    completed = row.status == "completed"
    return CheckoutOut(checkout_id=row.id, status=row.status, order_id=row.order_id if completed else None,
                       step=step, error=error, next_action=next_action,
                       order_token=tokens.order_token(row.order_id) if completed and tokens else None)


@router.get("/{checkout_id}", response_model=CheckoutOut, responses={404: {"model": ErrorResponse}})
async def get_checkout(checkout_id: str, conn: ReadConn, temporal: Temporal, settings: AppSettings) -> CheckoutOut:
    """Pending (with its step), failed (with the error) or completed (with the order and its guest token)."""
    row = await store.get(conn, checkout_id)
    if row.status != "pending":
        return _checkout_out(row, tokens=settings.customer_tokens)
    return _checkout_out(row, *await _progress(temporal, row.workflow_id))


async def _progress(client: Client, workflow_id: str) -> tuple[str | None, dict | None]:
    """Best effort: the step a running checkout is on, and a 3-D Secure challenge if it waits on one."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return None, None
        step = await handle.query(CheckoutWorkflow.current_step)
        action = await handle.query(CheckoutWorkflow.next_action) if step == "requires_action" else None
        return step, action
    except RPCError:
        return None, None


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    note: str = Field("", max_length=1000)


@router.post("/{checkout_id}/review", response_model=CheckoutOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def review_checkout(checkout_id: str, body: ReviewBody, engine: Engine, temporal: Temporal,
                          caller: CurrentCaller) -> CheckoutOut:
    """Support's decision on a checkout held for fraud review (step `fraud_review`); audited.
    `checkout_not_in_review` (409) when it is not waiting for one."""
    async with engine.connect() as conn:
        row = await store.get(conn, checkout_id)
    refused = ApiError(409, "checkout_not_in_review", f"checkout {checkout_id} is not waiting for a fraud review",
                       {"status": row.status})
    if row.status != "pending":
        raise refused
    decision = ReviewDecision(decision=body.decision, note=body.note, reviewer=caller.name)
    try:
        await temporal.get_workflow_handle(row.workflow_id).execute_update(CheckoutWorkflow.review_decision, decision)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type:
            raise ApiError(409, cause.type, cause.message) from error
        raise
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise refused from error
        raise
    async with engine.begin() as conn:
        await audit.record(conn, caller, f"checkout.fraud_{body.decision}", order_id=row.order_id,
                           target=checkout_id, reason=body.note, details={"decision": body.decision})
    log.info("fraud review decided", checkout_id=checkout_id, decision=body.decision, reviewer=caller.name)
    return _checkout_out(row, *await _progress(temporal, row.workflow_id))

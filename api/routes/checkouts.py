"""Checkouts: start the durable checkout workflow, idempotently, and report its outcome."""

import hashlib
import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Response, status
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.deps import AppSettings, Engine, ReadConn, Temporal
from api.errors import ApiError
from api.schemas import CheckoutCreate, CheckoutOptions, CheckoutOut, ErrorDetail, ErrorResponse
from db import carts as cart_store
from db import checkouts as store
from db import switches
from models.commerce import CheckoutInput
from models.errors import Conflict, DomainError
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
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


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


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=CheckoutOut,
    responses={409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 400: {"model": ErrorResponse}},
)
async def start_checkout(body: CheckoutCreate, engine: Engine, temporal: Temporal, settings: AppSettings,
                         response: Response, idempotency_key: IdempotencyKey = None) -> CheckoutOut:
    """Start a checkout. Replaying the same Idempotency-Key and body returns the same checkout."""
    if not idempotency_key or not idempotency_key.strip():
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header (e.g. a UUID)")
    checkout_id, order_id, workflow_id = checkout_ids(idempotency_key)
    bound = log.bind(checkout_id=checkout_id, workflow_id=workflow_id, cart_id=body.cart_id)
    async with engine.begin() as conn:
        row, created = await store.claim(
            conn, checkout_id=checkout_id, order_id=order_id, idempotency_key=idempotency_key,
            request_hash=body_hash(body), cart_id=body.cart_id, email=body.email, workflow_id=workflow_id,
        )
        if created:
            await _assert_methods_enabled(conn, body)
            await _assert_cart_checkoutable(conn, body.cart_id)
        if row.status == "pending":
            # Started inside the transaction: if starting fails nothing is recorded and the client may retry.
            await _start_workflow(temporal, settings.task_queue, workflow_id, CheckoutInput(
                checkout_id=checkout_id, order_id=order_id, cart_id=body.cart_id, email=body.email,
                shipping_address=body.shipping_address, payment_method=body.payment_method,
                shipping_speed=body.shipping_speed, reservation_ttl_seconds=settings.reservation_ttl_seconds,
                authentication_timeout_seconds=settings.authentication_timeout_seconds,
            ))
    bound.info("checkout accepted" if created else "checkout replayed", status=row.status)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return _checkout_out(row)


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


def _checkout_out(row, step: str | None = None, next_action: dict | None = None) -> CheckoutOut:
    error = ErrorDetail(code=row.error_code, message=row.error_message or "") if row.error_code else None
    return CheckoutOut(checkout_id=row.id, status=row.status,
                       order_id=row.order_id if row.status == "completed" else None, step=step, error=error,
                       next_action=next_action)


@router.get("/{checkout_id}", response_model=CheckoutOut, responses={404: {"model": ErrorResponse}})
async def get_checkout(checkout_id: str, conn: ReadConn, temporal: Temporal) -> CheckoutOut:
    row = await store.get(conn, checkout_id)
    if row.status != "pending":
        return _checkout_out(row)
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

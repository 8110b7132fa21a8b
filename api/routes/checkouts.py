"""Checkouts: start the durable checkout workflow, idempotently, and report its outcome
(handlers: services/checkout.py)."""

import hashlib
import ipaddress
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CurrentCaller
from services.checkout_wait import preferred_wait, settled_checkout
from api.deps import AppSettings, IdempotencyKey, ReadConn, Services
from api.metrics import CHECKOUTS
from api.ownership import RequestProofs, acts_for_anyone
from api.schemas import CheckoutCreate, CheckoutOptions, CheckoutOut, ErrorDetail, ErrorResponse
from db import switches
from models.customer_tokens import CustomerTokens
from models.switches import offered
from services import checkout
from services.errors import Refused, required_key

router = APIRouter(prefix="/checkouts", tags=["checkouts"])


def body_hash(body: CheckoutCreate) -> str:
    # Fields added later are left out while unset, so a key claimed before they existed still matches.
    unset = {name for name in ("billing_address", "quote_id", "expected_total", "tax_exemption")
             if getattr(body, name) is None}
    return hashlib.sha256(body.model_dump_json(exclude=unset or None).encode()).hexdigest()


def client_ip(request: Request) -> str | None:
    """The shopper's address: the peer, as our trusted proxies report it (TRUSTED_PROXIES, api/app.py)."""
    try:
        return str(ipaddress.ip_address(request.client.host)) if request.client else None
    except ValueError:  # a proxy that reported something other than an address
        return None


@router.get("/options", response_model=CheckoutOptions)
async def checkout_options(conn: ReadConn) -> CheckoutOptions:
    """What the storefront may offer now (ops kill switches applied)."""
    return CheckoutOptions(
        payment_method_types=offered("payment_method", await switches.disabled(conn, "payment_method")),
        shipping_methods=offered("shipping_method", await switches.disabled(conn, "shipping_method")),
    )


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=CheckoutOut,
    responses={200: {"model": CheckoutOut, "description": "With `Prefer: wait=N`: the checkout ended within N "
                     "seconds (completed or failed); otherwise 202 as without it"},
               409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 400: {"model": ErrorResponse},
               429: {"model": ErrorResponse, "description": "Too many checkouts in progress: retry after "
                     "`Retry-After` seconds (a replayed Idempotency-Key is always answered)"}},
)
async def start_checkout(body: CheckoutCreate, services: Services, settings: AppSettings, request: Request,
                         response: Response, caller: CurrentCaller, proofs: RequestProofs,
                         idempotency_key: IdempotencyKey = None,
                         prefer: Annotated[str | None, Header(max_length=200)] = None) -> CheckoutOut:
    """Start a checkout. Replaying the same Idempotency-Key and body returns the same checkout.
    `Prefer: wait=N` (N ≤ 30): wait up to N seconds for the outcome (services/checkout_wait.py)."""
    command = checkout.StartCheckout(
        idempotency_key=required_key(idempotency_key), request_hash=body_hash(body), cart_id=body.cart_id,
        email=body.email, shipping_address=body.shipping_address, billing_address=body.billing_address,
        payment_method=body.payment_method, payment_method_type=body.payment_method_type,
        shipping_speed=body.shipping_speed, client_ip=client_ip(request), signed_in_customer=proofs.customer_id,
        quote_id=body.quote_id, expected_total=body.expected_total, tax_exemption=body.tax_exemption,
        may_use_cart=None if acts_for_anyone(caller) else proofs.may_use_cart,
    )
    try:
        row, created = await checkout.start_checkout(services, command)
    except Refused as refused:
        if refused.code == "too_many_checkouts":
            CHECKOUTS.labels("rejected").inc()
        raise
    CHECKOUTS.labels("started" if created else "replayed").inc()
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    if (wait := preferred_wait(prefer)) and row.status == "pending":
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        row = await settled_checkout(services.engine, services.temporal, row, wait)
        if row.status != "pending":
            response.status_code = status.HTTP_200_OK
    return _checkout_out(row, tokens=settings.customer_tokens)


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
async def get_checkout(checkout_id: str, services: Services, settings: AppSettings) -> CheckoutOut:
    """Pending (with its step), failed (with the error) or completed (with the order and its guest token)."""
    row, step, next_action = await checkout.checkout_status(services, checkout_id)
    if row.status != "pending":
        return _checkout_out(row, tokens=settings.customer_tokens)
    return _checkout_out(row, step, next_action)


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    note: str = Field("", max_length=1000)


@router.post("/{checkout_id}/review", response_model=CheckoutOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def review_checkout(checkout_id: str, body: ReviewBody, services: Services,
                          caller: CurrentCaller) -> CheckoutOut:
    """Support's decision on a checkout held for fraud review (step `fraud_review`); audited.
    `checkout_not_in_review` (409) when it is not waiting for one."""
    row, step, next_action = await checkout.review_checkout(services, checkout.ReviewCheckout(
        checkout_id=checkout_id, decision=body.decision, note=body.note, caller=caller))
    return _checkout_out(row, step, next_action)

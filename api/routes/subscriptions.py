"""Subscriptions: create one idempotently, read it, and act on it through its workflow's updates."""

import hashlib
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, EmailStr, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from adapters.factory import build_adapters
from adapters.ports import PaymentGateway, ProviderUnavailable
from api import updates
from api.auth import CurrentCaller
from api.deps import AppSettings, Engine, ReadConn, Temporal
from api.errors import ApiError
from api.ownership import OptionalCustomer
from api.schemas import CustomerEmail, ErrorResponse, PageAfter, PageSize
from db import audit, catalog, customers
from db import subscription_plans as plans
from db import subscriptions as store
from models.commerce import Address
from models.errors import DomainError
from models.ids import public_id
from models.money import normalize_currency
from models.subscriptions import (
    CancelRequest, ChangeRequest, Interval, PauseRequest, PaymentMethodRequest, Schedule, SubscriptionEvent,
    SubscriptionLine, SubscriptionPlan, SubscriptionPolicy, SubscriptionState, check_lines, next_period,
    next_renewal, renewal_at,
)
from workflows import search_attributes as sa
from workflows.subscription import SubscriptionWorkflow

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])
log = structlog.get_logger("orderflow.api.subscriptions")
ID_NAMESPACE = uuid.UUID("3d8f5a61-2c4e-4f7b-8a90-6b1c2d3e4f50")
UNPROCESSABLE = {"invalid_pause_until", "invalid_payment_method", "payment_declined"}
Errors = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


class SubscriptionCreate(BaseModel):
    model_config = {"extra": "forbid"}

    email: EmailStr
    payment_method: str = Field(min_length=1, max_length=200, examples=["pm_card_visa"])
    shipping_address: Address
    lines: list[SubscriptionLine] = Field(max_length=50)
    interval: Interval
    n: int | None = Field(None, ge=1, le=365, description="Days between renewals, for interval every_n_days")
    anchor_date: date = Field(description="Date of the first renewal; later ones count from it")
    plan_id: str | None = Field(None, max_length=40, description="A plan from GET /subscription-plans: its "
                                "discount applies to every renewal; none = catalog prices")
    currency: str = Field("USD", min_length=3, max_length=3)
    # Retired: a storefront once set its own discount here. Still parsed (hidden from the schema) so that
    # a caller sending it gets a clear 422 price_not_accepted instead of a generic validation error.
    discount_percent: SkipJsonSchema[Any] = Field(None, exclude=True)

    @field_validator("lines")
    @classmethod
    def _lines(cls, value: list[SubscriptionLine]) -> list[SubscriptionLine]:
        return check_lines(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return normalize_currency(value)

    @model_validator(mode="after")
    def _schedule(self) -> "SubscriptionCreate":
        Schedule(interval=self.interval, every_n_days=self.n, anchor=self.anchor_date)
        return self


class RenewalOut(BaseModel):
    cycle: int
    renewal_date: date
    order_id: str
    order_status: str
    total: int
    currency: str


class EventOut(BaseModel):
    type: str
    data: dict
    at: datetime


class SubscriptionOut(BaseModel):
    id: str
    status: Literal["active", "paused", "past_due", "cancelled"]
    email: str
    currency: str
    lines: list[SubscriptionLine]
    interval: Interval
    n: int | None
    anchor_date: date
    discount_percent: Decimal = Field(description="From the plan at sign-up (subscriptions before plans keep theirs)")
    plan_id: str | None
    payment_method: str
    next_renewal_at: datetime | None
    paused_until: datetime | None
    skip_next: bool
    cancel_at_period_end: bool
    cancel_reason: str | None
    dunning: dict | None = Field(description="While a declined renewal is retried: cycle, failures, last_error, "
                                             "next_retry_at")
    renewals: list[RenewalOut]
    events: list[EventOut] = Field(description="Latest history, oldest first")


def payment_gateway(request: Request) -> PaymentGateway:
    """The configured payment provider (built once per app; tests may set ``app.state.payment_gateway``)."""
    gateway = getattr(request.app.state, "payment_gateway", None)
    if gateway is None:
        gateway = request.app.state.payment_gateway = build_adapters(request.app.state.settings).payment
    return gateway


Gateway = Annotated[PaymentGateway, Depends(payment_gateway)]


def subscription_ids(idempotency_key: str) -> tuple[str, str]:
    subscription_id = public_id("subscription", uuid.uuid5(ID_NAMESPACE, f"subscription:{idempotency_key}"))
    return subscription_id, f"subscription-{subscription_id}"


def policy_from(settings) -> SubscriptionPolicy:
    return SubscriptionPolicy(dunning_retry_days=settings.subscription_dunning_retry_days,
                              past_due_grace_days=settings.subscription_past_due_grace_days,
                              out_of_stock=settings.subscription_out_of_stock,
                              out_of_stock_retry_days=settings.subscription_out_of_stock_retry_days,
                              renewal_notice_days=settings.subscription_renewal_notice_days)


async def _assert_sellable(conn, lines: list[SubscriptionLine], currency: str) -> None:
    skus = [line.sku for line in lines]
    missing = sorted(set(skus) - set(await catalog.current_prices(conn, skus, currency)))
    if missing:
        raise DomainError(f"not for sale: {', '.join(missing)}", code="sku_not_sellable", details={"skus": missing})


def _assert_plan_allows(plan: SubscriptionPlan | None, interval: Interval) -> None:
    refusal = plan.refusal(interval) if plan else None
    if refusal:
        code, message = refusal
        raise DomainError(message, code=code, details={"plan_id": plan.id})


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionOut,
             responses={400: {"model": ErrorResponse}, **Errors})
async def create_subscription(body: SubscriptionCreate, engine: Engine, temporal: Temporal, settings: AppSettings,
                              caller: CurrentCaller, gateway: Gateway, response: Response,
                              signed_in: OptionalCustomer, idempotency_key: IdempotencyKey = None) -> SubscriptionOut:
    """Save the payment method with the provider and start renewing. Replaying the Idempotency-Key with
    the same body returns the same subscription; another body is 409 ``idempotency_key_reused``."""
    if not idempotency_key or not idempotency_key.strip():
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header (e.g. a UUID)")
    if body.discount_percent is not None:
        raise ApiError(422, "price_not_accepted", "a subscription's discount comes from its plan: send plan_id "
                       "(GET /subscription-plans), never a discount")
    subscription_id, workflow_id = subscription_ids(idempotency_key)
    schedule = Schedule(interval=body.interval, every_n_days=body.n, anchor=body.anchor_date)
    period = next_period(schedule, datetime.now(UTC).date())
    async with engine.begin() as conn:
        plan = await plans.get(conn, body.plan_id) if body.plan_id else None
        row, created = await store.claim(
            conn, subscription_id=subscription_id, idempotency_key=idempotency_key,
            request_hash=hashlib.sha256(body.model_dump_json().encode()).hexdigest(), workflow_id=workflow_id,
            email=body.email, currency=body.currency, payment_method=body.payment_method,
            shipping_address=body.shipping_address.model_dump(mode="json"),
            lines=[line.model_dump() for line in body.lines], interval=body.interval, every_n_days=body.n,
            anchor_date=body.anchor_date, plan_id=body.plan_id, discount_bp=plan.discount_bp if plan else 0,
            next_renewal_at=renewal_at(schedule, period),
        )
        customer_ref = row.customer_ref
        if created:  # a replay stands even if its plan has since been withdrawn
            _assert_plan_allows(plan, body.interval)
            await _assert_sellable(conn, body.lines, row.currency)
            try:
                customer = await gateway.create_customer(email=body.email, payment_method=body.payment_method,
                                                         idempotency_key=f"{subscription_id}:customer")
            except ProviderUnavailable as error:
                raise ApiError(503, "payment_provider_unavailable", "the payment provider did not answer; "
                               "retry with the same Idempotency-Key") from error
            customer_ref = customer.customer_ref
            await store.set_customer(conn, subscription_id, provider=gateway.name, customer_ref=customer_ref)
            await _link_customer(conn, subscription_id, signed_in or await customers.for_checkout(conn, body.email),
                                 provider=gateway.name, provider_ref=customer_ref, payment_method=body.payment_method)
            await store.append_event(conn, subscription_id, SubscriptionEvent(
                event_id="created", type="created", data={"interval": body.interval, "n": body.n,
                                                          "anchor_date": body.anchor_date.isoformat()}))
            await audit.record(conn, caller, "subscription.create", target=subscription_id,
                               details={"email": body.email, "lines": [line.model_dump() for line in body.lines]})
        if row.status != "cancelled":
            # Started inside the transaction: if starting fails nothing is recorded and the client may retry.
            state = SubscriptionState(
                subscription_id=subscription_id, email=body.email, currency=row.currency, customer_ref=customer_ref,
                payment_method=body.payment_method, shipping_address=body.shipping_address, lines=body.lines,
                discount_bp=row.discount_bp, schedule=schedule,
                period=period, policy=policy_from(settings),
            )
            await _start(temporal, settings.task_queue, workflow_id, state)
    log.info("subscription created" if created else "subscription replayed", subscription_id=subscription_id)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return await _out(engine, subscription_id)


async def _link_customer(conn, subscription_id: str, customer_id: str, **payment_method) -> None:
    """The subscription belongs to the signed-in customer (a storefront must send one, api/access.py) or,
    when support creates it, to the email's; the saved method joins the customer's payment methods."""
    await customers.link_subscription(conn, subscription_id, customer_id)
    await customers.save_payment_method(conn, customer_id, **payment_method)


async def _start(client: Client, task_queue: str, workflow_id: str, state: SubscriptionState) -> None:
    upcoming = next_renewal(state)
    try:
        await client.start_workflow(
            SubscriptionWorkflow.run, state, id=workflow_id, task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.SUBSCRIPTION_STATUS, state.status),
                SearchAttributePair(sa.CUSTOMER_EMAIL, state.email),
                *([SearchAttributePair(sa.NEXT_RENEWAL_AT, upcoming)] if upcoming else []),
            ]),
            static_summary=f"Subscription {state.subscription_id} for {state.email}",
        )
    except WorkflowAlreadyStartedError:
        pass  # it ended (cancelled) under this id: the record shows the outcome


async def _out(engine, subscription_id: str) -> SubscriptionOut:
    async with engine.connect() as conn:
        row = await store.get(conn, subscription_id)
        renewals = await store.renewal_orders(conn, subscription_id)
        events = await store.events(conn, subscription_id)
    return SubscriptionOut(
        id=row.id, status=row.status, email=row.email, currency=row.currency, lines=row.lines, interval=row.interval,
        n=row.every_n_days, anchor_date=row.anchor_date, discount_percent=Decimal(row.discount_bp) / 100,
        plan_id=row.plan_id,
        payment_method=row.payment_method, next_renewal_at=row.next_renewal_at, paused_until=row.paused_until,
        skip_next=row.skip_next, cancel_at_period_end=row.cancel_at_period_end, cancel_reason=row.cancel_reason,
        dunning=row.dunning,
        renewals=[RenewalOut(cycle=r.cycle, renewal_date=r.renewal_date, order_id=r.id, order_status=r.status,
                             total=r.total, currency=r.currency) for r in renewals],
        events=[EventOut(type=e.type, data=e.data, at=e.created_at) for e in events],
    )


class SubscriptionSummaryOut(BaseModel):
    id: str
    status: Literal["active", "paused", "past_due", "cancelled"]
    email: str
    currency: str
    interval: Interval
    n: int | None
    next_renewal_at: datetime | None
    created_at: datetime


class SubscriptionPage(BaseModel):
    subscriptions: list[SubscriptionSummaryOut]
    next_after: str | None = Field(None, description="Pass as `after` for the next page; null on the last")


@router.get("", response_model=SubscriptionPage, responses={422: {"model": ErrorResponse}})
async def search_subscriptions(
    conn: ReadConn,
    email: CustomerEmail = None,
    status_: Annotated[Literal["active", "paused", "past_due", "cancelled"] | None, Query(alias="status")] = None,
    limit: PageSize = 20,
    after: PageAfter = None,
) -> SubscriptionPage:
    """Subscriptions newest first, by customer and/or status (support: any customer's)."""
    page, next_after = await store.search(conn, email=email, status=status_, limit=limit, after=after)
    return SubscriptionPage(subscriptions=[SubscriptionSummaryOut(n=row.pop("every_n_days"), **row) for row in page],
                            next_after=next_after)


@router.get("/{subscription_id}", response_model=SubscriptionOut, responses={404: {"model": ErrorResponse}})
async def get_subscription(subscription_id: str, engine: Engine) -> SubscriptionOut:
    """Status, next renewal, the renewals' orders, dunning state and recent history."""
    return await _out(engine, subscription_id)


async def _update(engine, temporal: Client, caller, subscription_id: str, action: str, update,
                  *args) -> SubscriptionOut:
    """Run one of the workflow's validated updates; a refusal keeps its code (409, or 422 for bad input)."""
    async with engine.connect() as conn:
        row = await store.get(conn, subscription_id)
    if row.status == "cancelled":
        raise ApiError(409, "subscription_cancelled", f"subscription {subscription_id} is cancelled")
    await updates.execute(  # an ended workflow means the subscription was cancelled
        temporal.get_workflow_handle(row.workflow_id), update, *args, unprocessable=UNPROCESSABLE,
        closed=lambda: ApiError(409, "subscription_cancelled", f"subscription {subscription_id} is cancelled"),
    )
    async with engine.begin() as conn:
        await audit.record(conn, caller, f"subscription.{action}", target=subscription_id,
                           details=args[0].model_dump(mode="json") if args else {})
    log.info("subscription changed", subscription_id=subscription_id, action=action)
    return await _out(engine, subscription_id)


@router.post("/{subscription_id}/pause", response_model=SubscriptionOut, responses=Errors)
async def pause(subscription_id: str, engine: Engine, temporal: Temporal, caller: CurrentCaller,
                body: PauseRequest | None = None) -> SubscriptionOut:
    """Pause until a date (renewals due before it are skipped) or, without one, until resumed."""
    return await _update(engine, temporal, caller, subscription_id, "pause", SubscriptionWorkflow.pause,
                         body or PauseRequest())


@router.post("/{subscription_id}/resume", response_model=SubscriptionOut, responses=Errors)
async def resume(subscription_id: str, engine: Engine, temporal: Temporal, caller: CurrentCaller) -> SubscriptionOut:
    return await _update(engine, temporal, caller, subscription_id, "resume", SubscriptionWorkflow.resume)


@router.post("/{subscription_id}/skip", response_model=SubscriptionOut, responses=Errors)
async def skip(subscription_id: str, engine: Engine, temporal: Temporal, caller: CurrentCaller) -> SubscriptionOut:
    """Skip the next renewal (no charge, no order); the one after it is unchanged."""
    return await _update(engine, temporal, caller, subscription_id, "skip", SubscriptionWorkflow.skip_next)


@router.post("/{subscription_id}/cancel", response_model=SubscriptionOut, responses=Errors)
async def cancel(subscription_id: str, engine: Engine, temporal: Temporal, caller: CurrentCaller,
                 body: CancelRequest | None = None) -> SubscriptionOut:
    """Cancel now, or with ``at_period_end`` at the next renewal date instead of renewing."""
    return await _update(engine, temporal, caller, subscription_id, "cancel", SubscriptionWorkflow.cancel,
                         body or CancelRequest())


@router.patch("/{subscription_id}", response_model=SubscriptionOut, responses=Errors)
async def change(subscription_id: str, body: ChangeRequest, engine: Engine, temporal: Temporal,
                 caller: CurrentCaller) -> SubscriptionOut:
    """New lines and/or interval, from the next cycle on (nothing is prorated). A plan's subscription keeps
    to the plan's intervals: its discount was offered for those."""
    async with engine.connect() as conn:
        row = await store.get(conn, subscription_id)
        if body.lines is not None:
            await _assert_sellable(conn, body.lines, row.currency)
        if body.interval is not None and row.plan_id:
            plan = await plans.get(conn, row.plan_id)
            if body.interval not in plan.intervals:
                raise DomainError(f"plan {plan.id} offers {', '.join(plan.intervals)}, not {body.interval}",
                                  code="interval_not_in_plan", details={"plan_id": plan.id})
    return await _update(engine, temporal, caller, subscription_id, "change", SubscriptionWorkflow.change, body)


@router.post("/{subscription_id}/payment-method", response_model=SubscriptionOut, responses=Errors)
async def payment_method(subscription_id: str, body: PaymentMethodRequest, engine: Engine, temporal: Temporal,
                         caller: CurrentCaller) -> SubscriptionOut:
    """Save a new card; a renewal whose charge failed is retried with it at once."""
    return await _update(engine, temporal, caller, subscription_id, "payment_method",
                         SubscriptionWorkflow.update_payment_method, body)

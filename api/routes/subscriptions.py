"""Subscriptions: create one idempotently, read it, and act on it through its workflow's updates
(handlers: services/subscriptions.py)."""

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, EmailStr, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from api.auth import CurrentCaller
from api.deps import IdempotencyKey, ReadConn, Services
from api.errors import ApiError
from api.ownership import OptionalCustomer
from api.schemas import (
    CustomerEmail, ErrorResponse, PageAfter, PageSize, SubscriptionPage, SubscriptionSummaryOut,
)
from db import subscriptions as store
from models.commerce import Address
from models.money import normalize_currency
from models.subscriptions import (
    CancelRequest, ChangeRequest, Interval, PauseRequest, PaymentMethodRequest, Schedule, SubscriptionLine,
    check_lines,
)
from services import subscriptions
from services.errors import required_key

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])
Errors = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


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


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionOut,
             responses={400: {"model": ErrorResponse}, **Errors})
async def create_subscription(body: SubscriptionCreate, services: Services, caller: CurrentCaller,
                              response: Response, signed_in: OptionalCustomer,
                              idempotency_key: IdempotencyKey = None) -> SubscriptionOut:
    """Save the payment method with the provider and start renewing. Replaying the Idempotency-Key with
    the same body returns the same subscription; another body is 409 ``idempotency_key_reused``."""
    key = required_key(idempotency_key)
    if body.discount_percent is not None:
        raise ApiError(422, "price_not_accepted", "a subscription's discount comes from its plan: send plan_id "
                       "(GET /subscription-plans), never a discount")
    command = subscriptions.CreateSubscription(
        idempotency_key=key, request_hash=hashlib.sha256(body.model_dump_json().encode()).hexdigest(),
        email=body.email, payment_method=body.payment_method, shipping_address=body.shipping_address,
        lines=body.lines, interval=body.interval, n=body.n, anchor_date=body.anchor_date, plan_id=body.plan_id,
        currency=body.currency, caller=caller, signed_in_customer=signed_in,
    )
    subscription_id, created = await subscriptions.create_subscription(services, command)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return await _out(services.engine, subscription_id)


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
async def get_subscription(subscription_id: str, services: Services) -> SubscriptionOut:
    """Status, next renewal, the renewals' orders, dunning state and recent history."""
    return await _out(services.engine, subscription_id)


async def _act(services, caller, subscription_id: str, action: str, request=None) -> SubscriptionOut:
    await subscriptions.act_on_subscription(services, subscriptions.ActOnSubscription(
        subscription_id=subscription_id, action=action, caller=caller, request=request))
    return await _out(services.engine, subscription_id)


@router.post("/{subscription_id}/pause", response_model=SubscriptionOut, responses=Errors)
async def pause(subscription_id: str, services: Services, caller: CurrentCaller,
                body: PauseRequest | None = None) -> SubscriptionOut:
    """Pause until a date (renewals due before it are skipped) or, without one, until resumed."""
    return await _act(services, caller, subscription_id, "pause", body or PauseRequest())


@router.post("/{subscription_id}/resume", response_model=SubscriptionOut, responses=Errors)
async def resume(subscription_id: str, services: Services, caller: CurrentCaller) -> SubscriptionOut:
    return await _act(services, caller, subscription_id, "resume")


@router.post("/{subscription_id}/skip", response_model=SubscriptionOut, responses=Errors)
async def skip(subscription_id: str, services: Services, caller: CurrentCaller) -> SubscriptionOut:
    """Skip the next renewal (no charge, no order); the one after it is unchanged."""
    return await _act(services, caller, subscription_id, "skip")


@router.post("/{subscription_id}/cancel", response_model=SubscriptionOut, responses=Errors)
async def cancel(subscription_id: str, services: Services, caller: CurrentCaller,
                 body: CancelRequest | None = None) -> SubscriptionOut:
    """Cancel now, or with ``at_period_end`` at the next renewal date instead of renewing."""
    return await _act(services, caller, subscription_id, "cancel", body or CancelRequest())


@router.patch("/{subscription_id}", response_model=SubscriptionOut, responses=Errors)
async def change(subscription_id: str, body: ChangeRequest, services: Services,
                 caller: CurrentCaller) -> SubscriptionOut:
    """New lines and/or interval, from the next cycle on (nothing is prorated). A plan's subscription keeps
    to the plan's intervals: its discount was offered for those."""
    return await _act(services, caller, subscription_id, "change", body)


@router.post("/{subscription_id}/payment-method", response_model=SubscriptionOut, responses=Errors)
async def payment_method(subscription_id: str, body: PaymentMethodRequest, services: Services,
                         caller: CurrentCaller) -> SubscriptionOut:
    """Save a new card; a renewal whose charge failed is retried with it at once."""
    return await _act(services, caller, subscription_id, "payment_method", body)

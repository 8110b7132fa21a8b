"""Subscription plans: admins define them (audited); storefronts list the active ones to offer.

A subscription's discount comes only from its plan: no caller, whatever its role, names an amount.
"""

from fastapi import APIRouter, status
from pydantic import BaseModel, Field, field_validator, model_validator

from api.auth import CurrentCaller
from api.deps import Engine, ReadConn
from api.schemas import ErrorResponse, Strict
from db import audit
from db import subscription_plans as store
from models.subscriptions import Interval, SubscriptionPlan

admin = APIRouter(prefix="/admin/catalog/subscription-plans", tags=["admin"])
storefront = APIRouter(prefix="/subscription-plans", tags=["subscriptions"])
_ERRORS = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


def _distinct(intervals: list[Interval] | None) -> list[Interval] | None:
    if intervals is not None and len(set(intervals)) != len(intervals):
        raise ValueError("list each interval once")
    return intervals


class PlanCreate(Strict):
    name: str = Field(min_length=1, max_length=120, examples=["Monthly refill, 10% off"])
    intervals: list[Interval] = Field(min_length=1, max_length=3, examples=[["monthly"]])
    discount_bp: int = Field(ge=0, le=10_000, description="Off every renewal's lines, in basis points (1000 = 10%)")
    active: bool = True

    @field_validator("intervals")
    @classmethod
    def _intervals(cls, value: list[Interval]) -> list[Interval]:
        return _distinct(value)


class PlanUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=120)
    intervals: list[Interval] | None = Field(None, min_length=1, max_length=3)
    discount_bp: int | None = Field(None, ge=0, le=10_000, description="New subscriptions only: existing ones keep "
                                    "the discount they signed up with")
    active: bool | None = Field(None, description="false: no new subscriptions on this plan")

    @field_validator("intervals")
    @classmethod
    def _intervals(cls, value: list[Interval] | None) -> list[Interval] | None:
        return _distinct(value)

    @model_validator(mode="after")
    def _something(self) -> "PlanUpdate":
        if not self.model_fields_set:
            raise ValueError("change name, intervals, discount_bp or active")
        return self


class PlanOut(BaseModel):
    id: str
    name: str
    intervals: list[Interval]
    discount_bp: int
    active: bool


def _out(plan: SubscriptionPlan) -> PlanOut:
    return PlanOut(**plan.model_dump())


@admin.get("", response_model=list[PlanOut])
async def list_all(conn: ReadConn) -> list[PlanOut]:
    return [_out(plan) for plan in await store.list_plans(conn, active_only=False)]


@admin.post("", status_code=status.HTTP_201_CREATED, response_model=PlanOut, responses=_ERRORS)
async def create(body: PlanCreate, engine: Engine, caller: CurrentCaller) -> PlanOut:
    async with engine.begin() as conn:
        plan = await store.create(conn, **body.model_dump())
        await audit.record(conn, caller, "subscription_plan.created", target=plan.id, details=body.model_dump())
    return _out(plan)


@admin.patch("/{plan_id}", response_model=PlanOut, responses=_ERRORS)
async def change(plan_id: str, body: PlanUpdate, engine: Engine, caller: CurrentCaller) -> PlanOut:
    changes = body.model_dump(exclude_unset=True)
    async with engine.begin() as conn:
        before = await store.get(conn, plan_id)
        plan = await store.change(conn, plan_id, **changes)
        await audit.record(conn, caller, "subscription_plan.updated", target=plan_id,
                           details={"before": before.model_dump(), "changes": changes})
    return _out(plan)


@storefront.get("", response_model=list[PlanOut])
async def list_offered(conn: ReadConn) -> list[PlanOut]:
    """The plans a shopper may subscribe on (name them as ``plan_id`` in ``POST /subscriptions``)."""
    return [_out(plan) for plan in await store.list_plans(conn, active_only=True)]

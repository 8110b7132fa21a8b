"""Privacy requests (GDPR/CCPA) for support: export everything held about a customer, or erase it. Audited."""

from typing import Annotated

import structlog
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CurrentCaller
from api.deps import Engine, ReadConn
from api.schemas import ErrorResponse
from db import audit
from db import customer_privacy as privacy
from db import customers
from models.customers import CustomerOut
from models.errors import NotFound

router = APIRouter(prefix="/customers", tags=["customers"])
log = structlog.get_logger("orderflow.api.customer_privacy")


class CustomerRecord(CustomerOut):
    has_password: bool = Field(description="False for a customer created by a guest checkout")
    created_at: str


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="The request's reference, e.g. a ticket")


class ErasureOut(BaseModel):
    customer_id: str
    erased: bool = True
    already_erased: bool = Field(description="True when an earlier request had erased it (nothing changed)")


@router.get("", response_model=CustomerRecord, responses={404: {"model": ErrorResponse}})
async def find_customer(email: Annotated[str, Query(min_length=3, max_length=320)], conn: ReadConn) -> CustomerRecord:
    """The customer an email names (any case), for a privacy request that arrives by email."""
    row = await customers.by_email(conn, email)
    if row is None:
        raise NotFound("no customer has this email", code="customer_not_found")
    return CustomerRecord(id=row.id, email=row.email, name=row.name, marketing_consent=row.marketing_consent,
                          has_password=row.password_hash is not None, created_at=row.created_at.isoformat())


@router.get("/{customer_id}/export", responses={404: {"model": ErrorResponse}})
async def export_customer(customer_id: str, engine: Engine, caller: CurrentCaller) -> dict:
    """Profile, addresses, payment method references, orders, subscriptions, carts, consent and email
    suppressions, as JSON. The export itself is audited (who read whose data)."""
    async with engine.begin() as conn:
        data = await privacy.export(conn, customer_id)
        await audit.record(conn, caller, "customer.export", target=customer_id)
    return data


@router.post("/{customer_id}/erase", response_model=ErasureOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def erase_customer(customer_id: str, body: ErasureRequest, engine: Engine, caller: CurrentCaller) -> ErasureOut:
    """Anonymise the customer's personal data, keeping the financial records (amounts, tax, ledger).
    Idempotent. `409 customer_has_open_orders` while an order, checkout or subscription is still live."""
    async with engine.begin() as conn:
        erased_now = await privacy.erase(conn, customer_id)
        await audit.record(conn, caller, "customer.erase", target=customer_id, reason=body.reason,
                           details={"already_erased": not erased_now})
    log.info("customer erased", customer_id=customer_id, already=not erased_now)
    return ErasureOut(customer_id=customer_id, already_erased=not erased_now)

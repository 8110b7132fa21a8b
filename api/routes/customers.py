"""Customer accounts: sign-up and sign-in (a customer token for the storefront), and self-service under /me."""

import hashlib
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import TooManyFailures
from api.deps import AppSettings, Engine, ReadConn, Services
from api.errors import ApiError
from api.ownership import CurrentCustomer
from api.schemas import (
    ErrorResponse, OrderPage, OrderSummaryOut, PageAfter, PageSize, SubscriptionPage, SubscriptionSummaryOut,
)
from db import auth_failures
from db import customers as store
from models.commerce import Address
from models.customers import (
    CustomerOut, SavedAddress, Session, SignIn, SignInLinkAsk, SignInLinkRedeem, SignUp, hash_password, needs_rehash,
    password_matches,
)
from models.unsubscribe import normalise_email
from services import sign_in_links

router = APIRouter(tags=["customers"])
log = structlog.get_logger("orderflow.api.customers")
_ERRORS = {401: {"model": ErrorResponse}, 409: {"model": ErrorResponse}}
MAX_ADDRESSES = 20


def _customer_out(row) -> CustomerOut:
    return CustomerOut(id=row.id, email=row.email, name=row.name, marketing_consent=row.marketing_consent)


def _session(settings, row) -> Session:
    tokens = settings.customer_tokens
    return Session(customer=_customer_out(row), customer_token=tokens.customer_token(row.id, datetime.now(UTC)),
                   expires_in=tokens.ttl_seconds)


@router.post("/customers", status_code=status.HTTP_201_CREATED, response_model=Session, responses=_ERRORS)
async def sign_up(body: SignUp, engine: Engine, settings: AppSettings, response: Response) -> Session:
    """A new account (`409 customer_exists` if the email is known); answers a customer token."""
    password_hash = await run_in_threadpool(hash_password, body.password)
    async with engine.begin() as conn:
        customer_id = await store.sign_up(conn, email=body.email, name=body.name, password_hash=password_hash,
                                          marketing_consent=body.marketing_consent)
        row = await store.get(conn, customer_id)
    response.headers["Cache-Control"] = "no-store"
    log.info("customer signed up", customer_id=customer_id)
    return _session(settings, row)


def _throttle_key(email: str) -> str:
    """Failures count per account, not per address: a headless store's shoppers all arrive from the
    storefront's servers. Hashed, so the throttle table holds no email (it fits its 64 characters)."""
    return "customer:" + hashlib.sha256(normalise_email(email).encode()).hexdigest()[:40]


@router.post("/customers/sessions", response_model=Session,
             responses={**_ERRORS, 429: {"model": ErrorResponse, "description": "Too many failed sign-ins for this "
                                         "account: retry after `Retry-After` seconds"}})
async def sign_in(body: SignIn, engine: Engine, settings: AppSettings, response: Response) -> Session:
    """A customer token for the right email and password; one answer for every failure. After
    AUTH_FAILURE_LIMIT failures within AUTH_FAILURE_WINDOW_SECONDS the account answers 429."""
    key, now = _throttle_key(body.email), datetime.now(UTC)
    window = timedelta(seconds=settings.auth_failure_window_seconds)
    async with engine.connect() as conn:
        wait = await auth_failures.retry_after(conn, key, now, limit=settings.auth_failure_limit, window=window)
        row = await store.by_email(conn, body.email)
    if wait is not None:
        raise TooManyFailures(wait)
    live = row is not None and row.erased_at is None
    if not await run_in_threadpool(password_matches, row.password_hash if live else None, body.password):
        async with engine.begin() as conn:
            failures = await auth_failures.record_failure(conn, key, now, window=window)
        log.warning("customer sign-in refused", failures=failures, throttle_key=key)
        raise ApiError(401, "invalid_credentials", "the email or password is wrong")
    if needs_rehash(row.password_hash):
        rehashed = await run_in_threadpool(hash_password, body.password)
        async with engine.begin() as conn:
            await store.set_password_hash(conn, row.id, rehashed)
    response.headers["Cache-Control"] = "no-store"
    return _session(settings, row)


@router.post("/customers/sign-in-links", status_code=status.HTTP_202_ACCEPTED,
             responses={503: {"model": ErrorResponse, "description": "STOREFRONT_SIGN_IN_URL is not set"}})
async def ask_for_sign_in_link(body: SignInLinkAsk, services: Services) -> dict:
    """Mail a one-time sign-in link to the address, if it belongs to a customer (a guest's included). The
    answer is the same whether or not it does, so the route tells nobody which addresses shop here; one
    link per customer per minute."""
    await sign_in_links.ask_for_link(services, body.email)
    return {"status": "accepted"}


@router.post("/customers/sign-in-links/redeem", response_model=Session, responses=_ERRORS)
async def redeem_sign_in_link(body: SignInLinkRedeem, services: Services, settings: AppSettings,
                              response: Response) -> Session:
    """A customer token for a live, unused link (`401 invalid_sign_in_link` otherwise); with `password`,
    the account's password becomes it (a guest's account is claimed, a forgotten password reset)."""
    password_hash = await run_in_threadpool(hash_password, body.password) if body.password else None
    row = await sign_in_links.redeem(services, body.token, password_hash)
    response.headers["Cache-Control"] = "no-store"
    return _session(settings, row)


@router.get("/me", response_model=CustomerOut, responses=_ERRORS)
async def me(customer_id: CurrentCustomer, conn: ReadConn) -> CustomerOut:
    return _customer_out(await store.get(conn, customer_id))


@router.get("/me/orders", response_model=OrderPage, responses=_ERRORS)
async def my_orders(customer_id: CurrentCustomer, conn: ReadConn, limit: PageSize = 20,
                    after: PageAfter = None) -> OrderPage:
    """The signed-in customer's orders, newest first."""
    await store.get(conn, customer_id)
    page, next_after = await store.orders_page(conn, customer_id, limit=limit, after=after)
    return OrderPage(orders=[OrderSummaryOut(**row | {"created_at": row["created_at"].isoformat()}) for row in page],
                     next_after=next_after)


@router.get("/me/subscriptions", response_model=SubscriptionPage, responses=_ERRORS)
async def my_subscriptions(customer_id: CurrentCustomer, conn: ReadConn, limit: PageSize = 20,
                           after: PageAfter = None) -> SubscriptionPage:
    await store.get(conn, customer_id)
    page, next_after = await store.subscriptions_page(conn, customer_id, limit=limit, after=after)
    return SubscriptionPage(subscriptions=[SubscriptionSummaryOut(**row) for row in page], next_after=next_after)


@router.get("/me/addresses", response_model=list[SavedAddress], responses=_ERRORS)
async def my_addresses(customer_id: CurrentCustomer, conn: ReadConn) -> list[SavedAddress]:
    await store.get(conn, customer_id)
    return [SavedAddress(**address) for address in await store.addresses(conn, customer_id)]


@router.post("/me/addresses", status_code=status.HTTP_201_CREATED, response_model=SavedAddress, responses=_ERRORS)
async def add_address(body: Address, customer_id: CurrentCustomer, engine: Engine) -> SavedAddress:
    async with engine.begin() as conn:
        await store.get(conn, customer_id)
        if len(await store.addresses(conn, customer_id)) >= MAX_ADDRESSES:
            raise ApiError(409, "too_many_addresses", f"a customer keeps at most {MAX_ADDRESSES} addresses")
        address_id = await store.add_address(conn, customer_id, body.model_dump(mode="json"))
    return SavedAddress(id=address_id, **body.model_dump())


@router.delete("/me/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_address(address_id: str, customer_id: CurrentCustomer, engine: Engine) -> Response:
    """Another customer's address answers 404 `address_not_found`, like a missing one."""
    async with engine.begin() as conn:
        await store.delete_address(conn, customer_id, address_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

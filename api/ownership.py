"""The storefront trust boundary: a storefront key acts for one shopper at a time.

``enforce_ownership`` runs on every route after ``api.auth.authorize``. For a caller without
``Permission.ANY_CUSTOMER`` (the storefront role) it looks up who owns the route's resource
(``api.access.ROUTE_OWNERSHIP``) and asks for that owner's proof in a header. Without it the answer is
the resource's own 404, word for word, so a foreign id and a missing one cannot be told apart.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from api import access
from api.auth import authorize
from api.deps import AppSettings, Engine
from api.errors import ApiError
from db import customers as store
from models.auth import Caller, Permission
from models.customer_tokens import CustomerTokens
from models.errors import NotFound

CUSTOMER_TOKEN = "X-Customer-Token"
ORDER_TOKEN = "X-Order-Token"
CART_TOKEN = "X-Cart-Token"


class Proofs:
    """The tokens a request carries, checked against one resource at a time."""

    def __init__(self, tokens: CustomerTokens, request: Request):
        self.tokens = tokens
        headers = request.headers
        self.customer_id = tokens.customer_of(headers.get(CUSTOMER_TOKEN, ""), datetime.now(UTC))
        self.order_token = headers.get(ORDER_TOKEN, "")
        self.cart_token = headers.get(CART_TOKEN, "")

    def owns(self, owner: str | None) -> bool:
        return owner is not None and owner == self.customer_id

    def may_use_cart(self, cart_id: str, owner: str | None) -> bool:
        return self.owns(owner) or (bool(self.cart_token) and self.tokens.proves_cart(cart_id, self.cart_token))

    def may_use_order(self, order_id: str, owner: str | None) -> bool:
        return self.owns(owner) or (bool(self.order_token) and self.tokens.proves_order(order_id, self.order_token))


def acts_for_anyone(caller: Caller | None) -> bool:
    return caller is None or caller.may(Permission.ANY_CUSTOMER)  # None: a public route, nothing to own


async def assert_may_use_cart(conn: AsyncConnection, proofs: Proofs, cart_id: str) -> None:
    owner = await store.cart_owner(conn, cart_id)
    if not proofs.may_use_cart(cart_id, owner):
        raise NotFound(f"cart {cart_id} not found", code="cart_not_found")


async def assert_may_use_order(conn: AsyncConnection, proofs: Proofs, order_id: str) -> None:
    owner = await store.order_owner(conn, order_id)
    if not proofs.may_use_order(order_id, owner):
        raise NotFound(f"order {order_id} not found", code="order_not_found")


async def _check(conn: AsyncConnection, rule: str, params: dict, proofs: Proofs) -> None:
    if rule == access.CART:
        await assert_may_use_cart(conn, proofs, params["cart_id"])
    elif rule == access.CHECKOUT:
        checkout_id = params["checkout_id"]
        try:
            await assert_may_use_cart(conn, proofs, await store.checkout_cart(conn, checkout_id))
        except NotFound as refused:
            raise NotFound(f"checkout {checkout_id} not found", code="checkout_not_found") from refused
    elif rule == access.ORDER:
        await assert_may_use_order(conn, proofs, params["order_id"])
    elif rule == access.RETURN:
        rma_id = params["rma_id"]
        try:
            await assert_may_use_order(conn, proofs, await store.return_order(conn, rma_id))
        except NotFound as refused:
            raise NotFound(f"return {rma_id} not found", code="return_not_found") from refused
    elif rule == access.SUBSCRIPTION:
        subscription_id = params["subscription_id"]
        if not proofs.owns(await store.subscription_owner(conn, subscription_id)):
            raise NotFound(f"subscription {subscription_id} not found", code="subscription_not_found")
    elif rule == access.FOR_SIGNED_IN and proofs.customer_id is None:
        raise _token_required()


def _token_required() -> ApiError:
    return ApiError(401, "customer_token_required",
                    f"send the signed-in customer's token in {CUSTOMER_TOKEN} (POST /customers/sessions)")


async def proofs_of(request: Request, settings: AppSettings, engine: Engine) -> Proofs:
    proofs = Proofs(settings.customer_tokens, request)
    if proofs.customer_id is not None:
        async with engine.connect() as conn:
            if not await store.is_live(conn, proofs.customer_id):
                proofs.customer_id = None  # erased since the token was minted: it names nobody now
    return proofs


RequestProofs = Annotated[Proofs, Depends(proofs_of)]


async def enforce_ownership(request: Request, engine: Engine, proofs: RequestProofs,
                            caller: Annotated[Caller | None, Depends(authorize)]) -> None:
    """The app-wide check (api/app.py); CART_IN_BODY is checked by its route, which has the body."""
    rule = access.ownership_for(request.method, getattr(request.scope.get("route"), "path", ""))
    if rule == access.SELF or acts_for_anyone(caller) or rule in (access.ANYONE, access.CART_IN_BODY):
        return  # SELF: the /me routes take CurrentCustomer, which needs the token whatever the role
    async with engine.connect() as conn:
        await _check(conn, rule, request.path_params, proofs)


async def current_customer(proofs: RequestProofs) -> str:
    """The signed-in customer's id, for /me routes (any role: there is no "me" without a token)."""
    if proofs.customer_id is None:
        raise _token_required()
    return proofs.customer_id


CurrentCustomer = Annotated[str, Depends(current_customer)]


async def signed_in_customer(proofs: RequestProofs) -> str | None:
    """The customer token's customer, if one was sent (routes that link what they create to it)."""
    return proofs.customer_id


OptionalCustomer = Annotated[str | None, Depends(signed_in_customer)]


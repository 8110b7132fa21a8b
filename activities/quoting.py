"""What a cart costs, computed in ONE place: today's prices (price lists), promotions and the cart's codes,
the shipping rate (shipping promotions applied), tax and the total.

The checkout's activities (``activities/checkout.py``) and ``POST /carts/{id}/quote`` (priced in the API,
its provider calls in ``QuoteActivities`` run by ``workflows/quote.py``) both call these functions, so a quote is what the checkout workflow computes for the same cart, email, address and
speed. The agreement (``hold_to_agreed_total``) is checked at authorization, the last step before money
moves: a checkout whose total differs from the one the shopper agreed to fails ``price_changed``.
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from adapters.ports import ShippingCarrier, TaxCalculator
from db import carts as cart_store
from db import checkouts as checkout_store
from db import pricing
from db import promotions as promotion_store
from db import quotes as quote_store
from db import switches
from models.commerce import Address, CartSnapshot, PricedCart, PricedLine, ShippingRate, TaxExemption, TaxQuote
from models.errors import Conflict, DomainError, NotFound
from models.ids import public_id
from models.money import percent_of
from models.promotions import PromoLine
from models.commerce import order_total
from models.quotes import Quote, QuoteAsk, QuoteRequest, fingerprint, option_of, quote_lines

QUOTE_ID_NAMESPACE = uuid.UUID("0b7e4c2a-5f3d-4a8e-9c61-7d2f1e3a4b58")


# ---------------------------------------------------------------- the computation, shared with the checkout
async def price_cart(conn, cart: CartSnapshot, email: str | None, now: datetime,
                     tax_exemption: TaxExemption | None = None) -> PricedCart:
    """Reprice every line at today's price (price lists included), then apply promotions and the cart's
    codes. Lines no longer for sale (``sku_not_sellable``) or codes no longer usable are refused."""
    context = await pricing.cart_context(conn, cart.cart_id, now, email=email)
    current = await pricing.unit_prices(conn, [line.sku for line in cart.lines], context, now)
    missing = sorted(line.sku for line in cart.lines if line.sku not in current)
    if missing:
        raise DomainError(f"no longer for sale: {', '.join(missing)}", code="sku_not_sellable",
                          details={"skus": missing})
    result = await pricing.price_lines(conn, [
        PromoLine(sku=line.sku, quantity=line.quantity, unit_price=current[line.sku].price,
                  category=current[line.sku].category) for line in cart.lines], context, now)
    for code in result.codes:  # fail early when used up; create_order counts the use under a row lock
        await promotion_store.check_code(conn, code, now, email)
    lines = [
        PricedLine(sku=line.sku, title=line.title, quantity=line.quantity, unit_price=priced.unit_price,
                   line_subtotal=priced.subtotal, discount=priced.discount, weight_grams=line.weight_grams,
                   tax_code=line.tax_code)
        for line, priced in zip(cart.lines, result.lines)
    ]
    repriced = sorted(line.sku for line in cart.lines if current[line.sku].price != line.unit_price)
    return PricedCart(cart_id=cart.cart_id, currency=cart.currency, lines=lines, subtotal=result.subtotal,
                      discount_total=result.discount_total, repriced_skus=repriced,
                      shipping_discount_bp=result.shipping_discount_bp, promotions=result.applied,
                      tax_exemption=tax_exemption)


async def price_for_checkout(conn, cart: CartSnapshot, now: datetime) -> PricedCart:
    """``price_cart`` for the checkout now holding the cart: under its email and with its tax exemption."""
    email, exemption = await checkout_store.pricing_terms_of_cart(conn, cart.cart_id)
    return await price_cart(conn, cart, email, now, exemption)


async def shipping_rates(carrier: ShippingCarrier, cart: PricedCart, address: Address, speed: str,
                         switched_off: set[str] | list[str]) -> tuple[ShippingRate, list[ShippingRate]]:
    """(the rate the checkout charges for ``speed``, every rate on offer), shipping promotions applied.

    An undeliverable address fails here (address_invalid), before stock or money moves; rates are quoted
    for the carrier's corrected form of it."""
    if speed in switched_off:
        raise DomainError(f"{speed} shipping is switched off right now", code="shipping_method_disabled")
    address = await carrier.verify_address(address=address)
    rates = await carrier.rates(cart=cart, address=address)
    matching = [rate for rate in rates if rate.service == speed]
    if not matching:
        raise DomainError(f"no {speed!r} shipping to {address.country}", code="shipping_unavailable",
                          details={"offered": sorted({rate.service for rate in rates})})
    chosen = min(matching, key=lambda rate: (rate.amount, rate.estimated_days))
    offered = [_discounted(rate, cart.shipping_discount_bp) for rate in rates if rate.service not in switched_off]
    return _discounted(chosen, cart.shipping_discount_bp), offered


def _discounted(rate: ShippingRate, discount_bp: int) -> ShippingRate:
    # Promotions (free shipping): the workflow adds the rate as is, so it must already be discounted.
    return rate.model_copy(update={"amount": rate.amount - percent_of(rate.amount, discount_bp)})


async def tax_quote(tax: TaxCalculator, cart: PricedCart, address: Address, shipping_amount: int,
                    document_code: str) -> TaxQuote:
    return await tax.quote(cart=cart, address=address, shipping_amount=shipping_amount, document_code=document_code)


# ---------------------------------------------------------------- POST /carts/{id}/quote
async def reusable_or_ask(engine: AsyncEngine, cart_id: str, request: QuoteRequest, now: datetime,
                          ttl_seconds: int) -> Quote | QuoteAsk:
    """Price the cart now (database only): the stored quote when nothing it depends on changed, else the
    question for the carrier and the tax provider, which ``QuoteActivities`` asks in the worker."""
    async with engine.begin() as conn:
        cart, email, priced, switched_off = await _priced_for_quote(conn, cart_id, request, now)
        key = fingerprint(priced, request, email, switched_off)
        reused = await quote_store.reusable(conn, cart_id, key, now, min_left_seconds=ttl_seconds / 2)
    return reused or QuoteAsk(cart_id=cart_id, request=request, priced=priced, switched_off=switched_off,
                              fingerprint=key, ttl_seconds=ttl_seconds)


class QuoteActivities:
    """The provider calls of a quote, run by ``QuoteWorkflow`` (never in the API process)."""

    def __init__(self, engine: AsyncEngine, carrier: ShippingCarrier, tax: TaxCalculator):
        self.engine, self.carrier, self.tax = engine, carrier, tax

    @activity.defn
    @raises_business_errors
    async def quote_with_providers(self, ask: QuoteAsk) -> Quote:
        """Ask the carrier and the tax provider (no database connection held meanwhile), then store the quote.
        Its id is the workflow run's, so a retried attempt stores (and answers) one quote."""
        info = activity.info()
        quote_id = public_id("quote", uuid.uuid5(QUOTE_ID_NAMESPACE, f"{info.workflow_id}:{info.workflow_run_id}"))
        request, priced = ask.request, ask.priced
        shipping, offered = await shipping_rates(self.carrier, priced, request.shipping_address,
                                                 request.shipping_speed, ask.switched_off)
        tax = await tax_quote(self.tax, priced, request.shipping_address, shipping.amount, f"{quote_id}:quote")
        quote = Quote(
            quote_id=quote_id, cart_id=ask.cart_id, expires_at=datetime.now(UTC) + timedelta(seconds=ask.ttl_seconds),
            currency=priced.currency, lines=quote_lines(priced), shipping_speed=request.shipping_speed,
            shipping_options=[option_of(rate) for rate in offered], shipping_amount=shipping.amount,
            subtotal=priced.subtotal, discount_total=priced.discount_total, tax_total=tax.total,
            total=order_total(priced, tax, shipping), repriced_skus=priced.repriced_skus,
        )
        async with self.engine.begin() as conn:
            return await quote_store.save(conn, quote, ask.fingerprint)


async def _priced_for_quote(conn, cart_id: str, request: QuoteRequest, now: datetime):
    if request.discount_codes:  # attached as by POST /carts/{id}/discount-codes, so the checkout applies them too
        cart = await cart_store.lock_for_change(conn, cart_id)
        for code in request.discount_codes:
            await promotion_store.attach(conn, cart_id, code, now, request.email or cart.email)
    cart, snapshot = await cart_store.get_cart(conn, cart_id)
    if cart.status == "checked_out":
        raise Conflict("the cart has already been checked out", code="cart_checked_out")
    if not snapshot.lines:
        raise DomainError("the cart is empty", code="cart_empty")
    email = request.email or cart.email
    priced = await price_cart(conn, snapshot, email, now, request.tax_exemption)
    return cart, email, priced, sorted(await switches.disabled(conn, "shipping_method"))


# ---------------------------------------------------------------- the agreement, POST /checkouts
async def agreed_total(conn, cart_id: str, quote_id: str | None, expected_total: int | None, now: datetime,
                       may_use_cart: Callable[[str], Awaitable[bool]]) -> int | None:
    """The total a new checkout must match: the quote's (valid, unexpired, of this cart) or ``expected_total``.

    A quote of a cart the caller may not use answers as a missing one (``quote_not_found``)."""
    if quote_id is None:
        return expected_total
    quote = await quote_store.get(conn, quote_id)
    if quote.cart_id != cart_id:
        if not await may_use_cart(quote.cart_id):
            raise NotFound(f"quote {quote_id} not found", code="quote_not_found")
        raise DomainError(f"quote {quote_id} is for another cart", code="quote_for_other_cart",
                          details={"cart_id": cart_id})
    if quote.expires_at <= now:
        raise DomainError(f"quote {quote_id} expired at {quote.expires_at.isoformat()}; ask for a new one",
                          code="quote_expired")
    if expected_total is not None and expected_total != quote.total:
        raise DomainError("expected_total differs from the quote's total", code="expected_total_mismatch",
                          details={"quote_total": quote.total})
    return quote.total


async def hold_to_agreed_total(engine: AsyncEngine, checkout_id: str, total: int, currency: str) -> None:
    """``price_changed`` (with the new total in the checkout's error details) when the checkout ``checkout_id``
    was started with an agreed total other than ``total``. No checkout, or none agreed: nothing to hold to."""
    async with engine.begin() as conn:
        agreed = await checkout_store.agreed_total(conn, checkout_id)
        if agreed is None or agreed == total:
            return
        details = {"expected_total": agreed, "total": total, "currency": currency}
        await checkout_store.note_error_details(conn, checkout_id, details)
    raise DomainError(f"the total is now {total}, not the {agreed} agreed to; nothing was charged",
                      code="price_changed", details=details)

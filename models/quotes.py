"""A quote: what a cart costs, delivered to an address, before the shopper pays (pure values).

The storefront shows it and may send its ``quote_id`` (or just its ``total`` as ``expected_total``)
with ``POST /checkouts``; a checkout whose own total differs fails ``price_changed`` before anything
is authorized (``activities/quoting.py``).
"""

from datetime import datetime

from pydantic import EmailStr, Field

from models.base import Frozen
from models.commerce import Address, PricedCart, ShippingRate, TaxExemption
from models.content_hash import content_hash
from models.switches import ShippingMethod

MAX_QUOTE_CODES = 10


class QuoteRequest(Frozen):
    shipping_address: Address
    shipping_speed: ShippingMethod = "standard"
    email: EmailStr | None = Field(None, description="The buyer's email (customer-group prices); default the cart's")
    discount_codes: list[str] = Field(default_factory=list, max_length=MAX_QUOTE_CODES,
                                      description="Attached to the cart first, as POST /carts/{id}/discount-codes")
    tax_exemption: TaxExemption | None = Field(None, description="A tax-exempt buyer; send the same with the checkout")


class QuoteLine(Frozen):
    sku: str
    title: str
    quantity: int
    unit_price: int = Field(description="Today's price for this shopper, minor units")
    discount: int
    total: int


class ShippingOption(Frozen):
    id: str
    carrier: str
    service: str
    speed: str
    amount: int = Field(description="After shipping promotions")
    estimated_days: int


class Quote(Frozen):
    quote_id: str
    cart_id: str
    expires_at: datetime
    currency: str
    lines: list[QuoteLine]
    shipping_speed: str
    shipping_options: list[ShippingOption]
    shipping_amount: int
    subtotal: int
    discount_total: int
    tax_total: int
    total: int
    repriced_skus: list[str] = Field(default_factory=list, description="Lines whose price changed since added")


class QuoteAsk(Frozen):
    """What the quote workflow's activity needs to ask the carrier and the tax service: the cart as priced
    in the API (the same facts its ``fingerprint`` covers) and how long the answer lives."""

    cart_id: str
    request: QuoteRequest
    priced: PricedCart
    switched_off: list[str]
    fingerprint: str
    ttl_seconds: int


def speed_of(rate: ShippingRate) -> str:
    return rate.service


def option_of(rate: ShippingRate) -> ShippingOption:
    return ShippingOption(id=rate.rate_id or f"{rate.carrier}:{rate.service}", carrier=rate.carrier,
                          service=rate.service, speed=speed_of(rate), amount=rate.amount,
                          estimated_days=rate.estimated_days)


def quote_lines(priced: PricedCart) -> list[QuoteLine]:
    return [QuoteLine(sku=line.sku, title=line.title, quantity=line.quantity, unit_price=line.unit_price,
                      discount=line.discount, total=line.line_total) for line in priced.lines]


def fingerprint(priced: PricedCart, request: QuoteRequest, email: str | None, switched_off: list[str]) -> str:
    """Everything a quote's shipping and tax depend on: an unchanged fingerprint reuses the stored quote.

    The priced cart is computed fresh (cheap: database and price cache only), so a price, promotion or
    cart change makes a new fingerprint; only the provider calls are saved."""
    facts = {"priced": priced.model_dump(mode="json"), "address": request.shipping_address.model_dump(mode="json"),
             "speed": request.shipping_speed, "email": (email or "").strip().lower(),
             "switched_off": sorted(switched_off)}
    return content_hash(facts)

"""Value objects that travel between API, workflows and activities (pydantic, JSON-safe)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator, model_validator

from models.base import Frozen
from models.fraud import FraudAssessment, FraudPolicy, ScreeningRequest
from models.money import normalize_currency
from models.promotions import AppliedPromotion

MAX_LINE_QUANTITY = 999


class Address(Frozen):
    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100, description="State/province code, e.g. CA")
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")

    @field_validator("country")
    @classmethod
    def _upper_country(cls, value: str) -> str:
        if not value.isalpha():
            raise ValueError("country must be an ISO 3166-1 alpha-2 code")
        return value.upper()

    @field_validator("region")
    @classmethod
    def _upper_region(cls, value: str | None) -> str | None:
        return value.upper() if value else value


class CartLine(Frozen):
    line_id: str
    sku: str
    title: str
    quantity: int = Field(gt=0, le=MAX_LINE_QUANTITY)
    unit_price: int = Field(ge=0, description="Price captured when the line was added, minor units")
    weight_grams: int = 0
    tax_code: str | None = None  # the variant's, else its product's; None: the provider's default


class CartSnapshot(Frozen):
    cart_id: str
    currency: str
    lines: list[CartLine]

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return normalize_currency(value)


class PricedLine(Frozen):
    sku: str
    title: str
    quantity: int
    unit_price: int
    line_subtotal: int
    discount: int = 0
    weight_grams: int = 0
    tax_code: str | None = None

    @property
    def line_total(self) -> int:
        return self.line_subtotal - self.discount


class TaxExemption(Frozen):
    """A tax-exempt buyer (reseller, charity, government): what the tax provider needs to exempt the sale."""

    exemption_number: str | None = Field(None, min_length=1, max_length=25, description="Exemption certificate")
    entity_use_code: str | None = Field(None, min_length=1, max_length=25, pattern=r"^[A-Za-z0-9]+$",
                                        description="Avalara entity/use code, e.g. E (charitable), G (resale)")

    @model_validator(mode="after")
    def _something(self):
        if not (self.exemption_number or self.entity_use_code):
            raise ValueError("give exemption_number, entity_use_code or both")
        return self


class PricedCart(Frozen):
    cart_id: str
    currency: str
    lines: list[PricedLine]
    subtotal: int
    discount_total: int = 0
    repriced_skus: list[str] = Field(default_factory=list, description="Lines whose price changed since add")
    shipping_discount_bp: int = Field(0, ge=0, le=10_000, description="Share of the shipping rate taken off")
    promotions: list[AppliedPromotion] = Field(default_factory=list, description="Applied, with their codes")
    tax_exemption: TaxExemption | None = None  # the buyer's, sent with every tax call about this cart


class TaxLine(Frozen):
    sku: str
    amount: int


class TaxQuote(Frozen):
    provider: str
    currency: str
    lines: list[TaxLine]
    shipping_tax: int = 0
    total: int
    document_code: str | None = None


class ShippingRate(Frozen):
    provider: str
    carrier: str
    service: str
    amount: int
    currency: str
    estimated_days: int
    rate_id: str | None = None


class ShipmentRequest(Frozen):
    """What a label is bought for: the parcel (weights of the priced cart) and where it goes."""

    cart: PricedCart
    address: Address


class Label(Frozen):
    """A purchased postage label. ``label_id`` is what the carrier needs to refund it."""

    provider: str
    label_id: str
    tracking_code: str
    carrier: str
    service: str
    amount: int
    currency: str
    label_url: str | None = None


class TaxRefund(Frozen):
    """A committed return document; ``total`` is the tax given back (positive, minor units)."""

    provider: str
    document_code: str
    refund_code: str
    currency: str | None = None
    lines: list[TaxLine] = Field(default_factory=list)
    shipping_tax: int = 0
    total: int = 0



class PaymentAuthorization(Frozen):
    provider: str
    authorization_id: str
    amount: int
    currency: str
    status: str = "authorized"  # or requires_action (3-D Secure pending)
    client_secret: str | None = None
    next_action_url: str | None = None
    # The provider lets it be captured in parts (Stripe multicapture available); otherwise its first capture
    # is its only one. False for payloads recorded before it existed: capturing all at once is always safe.
    multicapture: bool = False
    # The provider customer the card was saved for at checkout, through which it is charged again later (Stripe
    # refuses a second use of a card that was not); None: not saved (payloads and orders from before it existed).
    customer_ref: str | None = None


class ReservedItem(Frozen):
    sku: str
    location_id: str
    quantity: int


class Reservation(Frozen):
    reservation_key: str
    items: list[ReservedItem]
    expires_at: datetime


class CheckoutInput(Frozen):
    """What the checkout workflow is started with; ids are fixed before start."""

    checkout_id: str
    order_id: str
    cart_id: str
    email: str
    shipping_address: Address
    payment_method: str
    shipping_speed: str = "standard"
    reservation_ttl_seconds: int = 900
    authentication_timeout_seconds: int = 900
    # How long a provider step keeps retrying before the checkout fails checkout_unavailable
    # (CHECKOUT_PROVIDER_BUDGET_SECONDS); None: the workflow's default budget.
    provider_budget_seconds: float | None = None
    # Fraud screening (patched "fraud-screening"): None skips it; the API passes the settings' policy.
    billing_address: Address | None = None
    client_ip: str | None = None
    fraud: FraudPolicy | None = Field(default_factory=FraudPolicy)
    fraud_review_timeout_seconds: int = 24 * 3600


class CheckoutError(Frozen):
    code: str
    message: str


class CheckoutResult(Frozen):
    checkout_id: str
    status: str  # completed | failed
    order_id: str | None = None
    error: CheckoutError | None = None


class OrderDraft(Frozen):
    """Everything the order row needs; built by the workflow from step results."""

    order_id: str
    checkout_id: str
    cart_id: str
    email: str
    currency: str
    shipping_address: Address
    priced: PricedCart
    tax: TaxQuote
    shipping: ShippingRate
    reservation: Reservation
    authorization: PaymentAuthorization
    payment_method: str | None = None
    # create_order starts the order's FulfillmentWorkflow itself (checkouts since local-database-steps).
    start_fulfillment: bool = False

    @property
    def total(self) -> int:
        return order_total(self.priced, self.tax, self.shipping)


def order_total(priced: PricedCart, tax: TaxQuote, shipping: ShippingRate) -> int:
    """What the customer pays for an order: its lines after discounts, plus tax and shipping (minor units)."""
    return priced.subtotal - priced.discount_total + tax.total + shipping.amount


class PreparedCheckout(Frozen):
    """Everything a checkout settles before the payment, from one local activity (patch ``prepared-checkout``):
    the locked cart priced, the two quotes, the fraud assessment and the stock held."""

    priced: PricedCart
    shipping: ShippingRate
    tax: TaxQuote
    assessment: FraudAssessment | None = None  # None: screening is off for this checkout
    # None while screening has not approved (a review pending, or a rejection): nothing is held yet.
    reservation: Reservation | None = None

    @property
    def total(self) -> int:
        return order_total(self.priced, self.tax, self.shipping)


def screening_request(checkout: CheckoutInput, priced: PricedCart, total: int) -> ScreeningRequest:
    """What fraud screening is asked about a checkout (its policy must be set)."""
    return ScreeningRequest(
        checkout_id=checkout.checkout_id, email=checkout.email, payment_method=checkout.payment_method,
        client_ip=checkout.client_ip, shipping_country=checkout.shipping_address.country,
        billing_country=checkout.billing_address.country if checkout.billing_address else None,
        skus=tuple(line.sku for line in priced.lines), total=total, currency=priced.currency,
        policy=checkout.fraud,
    )


def wanted_units(priced: PricedCart) -> dict[str, int]:
    """sku → quantity a checkout reserves."""
    return {line.sku: line.quantity for line in priced.lines}


class DisputeNotice(Frozen):
    """A chargeback the payment provider reported."""

    dispute_id: str
    order_id: str
    amount: int
    currency: str
    reason: str

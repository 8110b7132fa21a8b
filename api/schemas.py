"""Request and response bodies of the public API."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt

from models.commerce import MAX_LINE_QUANTITY, Address, TaxExemption
from models.subscriptions import Interval
from models.switches import PaymentMethodType, ShippingMethod


MAX_UNITS = 1_000_000_000  # stock quantities: inside the INTEGER columns


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict | list | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


# ---- carts
class CartCreate(Strict):
    currency: str = Field("USD", min_length=3, max_length=3, examples=["USD"])
    email: EmailStr | None = None
    market: str | None = Field(None, min_length=2, max_length=20, examples=["US"],
                               description="Selects market price lists and promotions")
    channel: str = Field("web", min_length=1, max_length=30, examples=["web", "app", "pos"])


class LineAdd(Strict):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=MAX_LINE_QUANTITY)


class LineUpdate(Strict):
    quantity: int = Field(gt=0, le=MAX_LINE_QUANTITY)


class CartLineOut(BaseModel):
    id: str
    sku: str
    title: str
    quantity: int
    unit_price: int
    line_total: int
    discount: int = 0


class DiscountCodeAdd(Strict):
    code: str = Field(min_length=1, max_length=64, examples=["WELCOME10"])


class CartCodeOut(BaseModel):
    code: str
    applied: bool = Field(description="False while the promotion's conditions are not met")


class CartDiscountOut(BaseModel):
    promotion_id: str
    code: str | None
    amount: int
    free_shipping: bool


class CartOut(BaseModel):
    id: str
    status: str
    currency: str
    email: str | None
    lines: list[CartLineOut]
    subtotal: int
    discount_total: int = 0
    total: int = Field(0, description="Subtotal minus discounts, before tax and shipping")
    discount_codes: list[CartCodeOut] = []
    discounts: list[CartDiscountOut] = []


# ---- checkouts
class CheckoutCreate(Strict):
    cart_id: str = Field(min_length=1, max_length=40)
    email: EmailStr
    shipping_address: Address
    billing_address: Address | None = Field(None, description="Screened against the shipping country")
    payment_method: str = Field(min_length=1, max_length=200, examples=["pm_card_visa"])
    payment_method_type: PaymentMethodType = "card"
    shipping_speed: ShippingMethod = "standard"
    # The agreement (POST /carts/{id}/quote): a checkout whose total differs fails price_changed, uncharged.
    quote_id: str | None = Field(None, min_length=1, max_length=40, description="Hold the checkout to this quote")
    expected_total: StrictInt | None = Field(None, ge=0, description="Hold the checkout to this total, minor units")
    tax_exemption: TaxExemption | None = Field(None, description="A tax-exempt buyer (exemption number / entity "
                                               "use code), sent to the tax provider with the quote and the commit")


class CheckoutOptions(BaseModel):
    payment_method_types: list[str]
    shipping_methods: list[str]


class CheckoutOut(BaseModel):
    checkout_id: str
    status: Literal["pending", "completed", "failed"]
    order_id: str | None = None
    step: str | None = None
    next_action: dict | None = Field(None, description="3-D Secure challenge for the storefront (client_secret)")
    error: ErrorDetail | None = None
    order_token: str | None = Field(None, description="Once completed: the guest's proof for the order, "
                                    "sent as `X-Order-Token` to read it (status, invoice, refunds, returns)")


# ---- orders
class OrderLineOut(BaseModel):
    sku: str
    title: str
    quantity: int
    unit_price: int
    discount: int
    tax: int
    line_total: int
    delivered_quantity: int = 0
    delivered_at: str | None = Field(None, description="When the line's last unit arrived, once all have")


class Totals(BaseModel):
    subtotal: int
    discount: int
    tax: int
    shipping: int
    total: int


class OrderEventOut(BaseModel):
    event_id: str
    type: str
    from_status: str | None
    to_status: str | None
    data: dict
    created_at: str


class ShipmentOut(BaseModel):
    id: str
    status: str
    location_id: str
    carrier: str | None
    service: str | None
    tracking_code: str | None
    captured: int | None
    alert: str | None
    items: list[dict]
    shipped_at: str | None
    delivered_at: str | None


class OrderPromotionOut(BaseModel):
    promotion_id: str
    code: str | None
    amount: int
    free_shipping: bool
    allocations: dict[str, int] = Field(description="SKU -> discount it took (for partial refunds)")


# Query parameters of the support searches (GET /orders, GET /subscriptions): keyset pages, newest first.
CustomerEmail = Annotated[str | None, Query(min_length=3, max_length=320, description="Customer email, any case")]
PageSize = Annotated[int, Query(ge=1, le=100)]
PageAfter = Annotated[str | None, Query(max_length=64, description="`next_after` of the previous page")]


class OrderSummaryOut(BaseModel):
    id: str
    status: str
    email: str
    currency: str
    total: int
    created_at: str


class OrderPage(BaseModel):
    orders: list[OrderSummaryOut]
    next_after: str | None = Field(None, description="Pass as `after` for the next page; null on the last")


class OrderOut(BaseModel):
    id: str
    status: str
    email: str
    currency: str
    totals: Totals
    lines: list[OrderLineOut]
    shipping_address: dict
    shipping_method: dict
    events: list[OrderEventOut]
    shipments: list[ShipmentOut] = []
    promotions: list[OrderPromotionOut] = []
    created_at: str


# ---- inventory
class LocationStock(BaseModel):
    location_id: str
    location_code: str
    on_hand: int
    reserved: int
    safety_stock: int
    inbound_transfers: int = Field(description="Shipped here by a stock transfer, not yet received; counts toward ATP")
    outbound_transfers: int = Field(description="Committed to a stock transfer, still on this shelf; not promisable")
    atp: int = Field(description="on_hand − reserved − safety_stock + inbound_transfers − outbound_transfers, ≥ 0")


class InventoryOut(BaseModel):
    sku: str
    atp: int
    locations: list[LocationStock]


# ---- subscriptions (listed by support and on /me)
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

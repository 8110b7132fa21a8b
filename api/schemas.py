"""Request and response bodies of the public API."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from models.commerce import MAX_LINE_QUANTITY, Address
from models.switches import PaymentMethodType, ShippingMethod


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


class CartOut(BaseModel):
    id: str
    status: str
    currency: str
    email: str | None
    lines: list[CartLineOut]
    subtotal: int


# ---- checkouts
class CheckoutCreate(Strict):
    cart_id: str = Field(min_length=1, max_length=40)
    email: EmailStr
    shipping_address: Address
    payment_method: str = Field(min_length=1, max_length=200, examples=["pm_card_visa"])
    payment_method_type: PaymentMethodType = "card"
    shipping_speed: ShippingMethod = "standard"


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


# ---- orders
class OrderLineOut(BaseModel):
    sku: str
    title: str
    quantity: int
    unit_price: int
    discount: int
    tax: int
    line_total: int


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
    created_at: str


# ---- inventory
class LocationStock(BaseModel):
    location_id: str
    location_code: str
    on_hand: int
    reserved: int
    safety_stock: int
    atp: int


class InventoryOut(BaseModel):
    sku: str
    atp: int
    locations: list[LocationStock]

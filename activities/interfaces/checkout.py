"""What the workflows may know of ``activities.checkout``: names and types, no implementation."""

from datetime import datetime

from temporalio import activity

from models.commerce import (
    Address, CartSnapshot, DisputeNotice, OrderDraft, PricedCart, Reservation, ShippingRate, TaxQuote,
)


class CartActivities:
    @activity.defn
    async def begin_checkout(self, cart_id: str, checkout_id: str) -> CartSnapshot:
        ...

    @activity.defn
    async def reopen_cart(self, cart_id: str, checkout_id: str) -> None:
        ...


class PricingActivities:
    @activity.defn
    async def price_cart(self, cart: CartSnapshot) -> PricedCart:
        ...


class TaxActivities:
    @activity.defn
    async def quote_tax(self, cart: PricedCart, address: Address, shipping_amount: int, document_code: str) -> TaxQuote:
        ...

    @activity.defn
    async def void_tax(self, document_code: str) -> None:
        ...


class ShippingActivities:
    @activity.defn
    async def quote_shipping(self, cart: PricedCart, address: Address, speed: str) -> ShippingRate:
        ...


class InventoryActivities:
    @activity.defn
    async def reserve_inventory(self, reservation_key: str, wanted: dict[str, int], now: datetime,
                                ttl_seconds: int) -> Reservation:
        ...

    @activity.defn
    async def release_reservation(self, reservation_key: str) -> int:
        ...


class OrderActivities:
    @activity.defn
    async def create_order(self, draft: OrderDraft) -> str:
        ...

    @activity.defn
    async def record_dispute(self, notice: DisputeNotice) -> str:
        ...

    @activity.defn
    async def order_recorded(self, checkout_id: str) -> bool:
        ...

    @activity.defn
    async def fail_checkout(self, checkout_id: str, code: str, message: str) -> None:
        ...

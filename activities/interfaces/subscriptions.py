"""What the workflows may know of ``activities.subscriptions``: names and types, no implementation."""

from datetime import datetime

from temporalio import activity

from models.commerce import OrderDraft, PaymentAuthorization, PricedCart, Reservation
from models.subscriptions import RenewalOrder, SubscriptionEvent, SubscriptionView


class SubscriptionActivities:
    @activity.defn
    async def record(self, current: SubscriptionView, event: SubscriptionEvent | None) -> None:
        ...

    @activity.defn
    async def reserve_renewal(self, key: str, wanted: dict[str, int], now: datetime, ttl_seconds: int,
                              ship_available: bool) -> Reservation:
        ...

    @activity.defn
    async def price_renewal(self, subscription_id: str, currency: str, quantities: dict[str, int],
                            discount_bp: int) -> PricedCart:
        ...

    @activity.defn
    async def charge_renewal(self, payment_ref: str, customer_ref: str, payment_method: str, amount: int,
                             currency: str, idempotency_key: str) -> PaymentAuthorization:
        ...

    @activity.defn
    async def create_renewal_order(self, draft: OrderDraft, renewal: RenewalOrder) -> str:
        ...

    @activity.defn
    async def save_payment_method(self, email: str, payment_method: str, idempotency_key: str) -> str:
        ...

    @activity.defn
    async def send_payment_failed(self, subscription_id: str, cycle: int, attempt: int, amount: int | None,
                                  next_retry_at: datetime | None) -> bool:
        ...

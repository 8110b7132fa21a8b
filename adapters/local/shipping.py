"""Deterministic shipping rates by weight, speed and destination."""

import hashlib

from models.commerce import Address, Label, PricedCart, ShipmentRequest, ShippingRate
from models.errors import DomainError

DOMESTIC_COUNTRY = "US"
# (base, per extra 500 g, days) in minor units of the cart currency
SERVICES = {
    "standard": (499, 100, 5),
    "express": (1299, 200, 2),
}
INTERNATIONAL_FACTOR_PERCENT = 250
FREE_STANDARD_FROM = 10_000  # orders from 100.00 ship free (standard)
CARRIER = "LocalPost"

# What the local carrier reports after a parcel ships (LOCAL_CARRIER_SCHEDULE spaces them out), in
# EasyPost's statuses. Test addresses, like Stripe's test cards: a parcel whose first address line is
# one of these meets that exception when it would have gone out for delivery.
TRACKING_PATH = ("pre_transit", "in_transit", "out_for_delivery", "delivered")
EASYPOST_STATUSES = (*TRACKING_PATH[:3], "available_for_pickup", "delivered", "return_to_sender", "failure",
                     "cancelled", "error", "unknown")
EXCEPTION_ADDRESSES = {"1 failure way": "failure", "1 return to sender way": "return_to_sender"}


def tracking_plan(address: dict, schedule: dict[str, float]) -> list[tuple[str, float]]:
    """(EasyPost status, seconds after shipping) the local carrier reports for a parcel to ``address``."""
    exception = EXCEPTION_ADDRESSES.get(" ".join(str(address.get("line1", "")).lower().split()))
    statuses = TRACKING_PATH if exception is None else (*TRACKING_PATH[:2], exception)
    plan, seconds = [], 0.0
    for status, step in zip(statuses, TRACKING_PATH):  # an exception takes out_for_delivery's turn
        if step in schedule:
            seconds += schedule[step]
            plan.append((status, seconds))
    return plan


class LocalShippingCarrier:
    name = "local"

    async def rates(self, *, cart: PricedCart, address: Address) -> list[ShippingRate]:
        grams = sum(line.weight_grams * line.quantity for line in cart.lines)
        extra_steps = max(0, (grams - 1) // 500)
        international = address.country != DOMESTIC_COUNTRY
        rates = []
        for service, (base, per_step, days) in SERVICES.items():
            amount = base + per_step * extra_steps
            if international:
                amount = amount * INTERNATIONAL_FACTOR_PERCENT // 100
                days += 5
            elif service == "standard" and cart.subtotal - cart.discount_total >= FREE_STANDARD_FROM:
                amount = 0
            rates.append(
                ShippingRate(
                    provider=self.name, carrier=CARRIER, service=service, amount=amount,
                    currency=cart.currency, estimated_days=days, rate_id=f"local:{service}",
                )
            )
        return rates

    async def verify_address(self, *, address: Address) -> Address:
        return address

    async def buy_label(self, *, shipment: ShipmentRequest, rate_id: str, idempotency_key: str) -> Label:
        service = rate_id.removeprefix("local:")
        rate = next((r for r in await self.rates(cart=shipment.cart, address=shipment.address)
                     if r.service == service), None)
        if rate is None:
            raise DomainError(f"unknown rate {rate_id!r}", code="shipping_request_invalid")
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        return Label(provider=self.name, label_id=f"llbl_{digest[:24]}",
                     tracking_code=f"LP{int(digest[:16], 16):020d}", carrier=rate.carrier, service=rate.service,
                     amount=rate.amount, currency=rate.currency, label_url=f"https://labels.local/{digest[:24]}.pdf")

    async def refund_label(self, *, label_id: str) -> str:
        return "refunded"

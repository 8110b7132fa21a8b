"""EasyPost: address verification, rate shopping, label purchase and refund.

Rates come back as decimal strings ("7.58") and become integer minor units through
``Decimal``. EasyPost has no idempotency keys; a shipment holds at most one label, so a
retried purchase finds the label already bought and returns it. The SDK is synchronous
(requests), so every call runs in a worker thread.
"""

import asyncio
import time
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

import easypost
from easypost import errors as ep_errors

from adapters.ports import InvalidWebhook, ProviderUnavailable, refuse_future_signing
from models.commerce import Address, Label, PricedCart, ShipmentRequest, ShippingRate
from models.errors import DomainError
from models.money import from_major

GRAMS_PER_OUNCE = Decimal("28.349523125")
EXPRESS_WORDS = ("express", "overnight", "nextday", "next_day", "2day", "2ndday", "second_day", "saver")
EXPRESS_MAX_DAYS = 2
UNKNOWN_DAYS = 7
TRANSIENT_STATUSES = {401, 403, 408, 429}  # credentials/permissions are an ops fix: retry until then


class EasyPostShippingCarrier:
    name = "easypost"

    def __init__(self, api_key: str, api_base: str | None = None, *, from_address: Address, timeout: float = 20.0):
        options = {"api_base": api_base} if api_base else {}
        self._client = easypost.EasyPostClient(api_key, timeout=timeout, **options)
        self.from_address = from_address

    async def verify_address(self, *, address: Address) -> Address:
        found = await self._call(self._client.address.create, verify=True, **_ep_address(address), problem="address")
        delivery = (found.get("verifications") or {}).get("delivery") or {}
        if not delivery.get("success"):
            errors = [e.get("message") if isinstance(e, dict) else str(e) for e in delivery.get("errors") or []]
            raise DomainError("; ".join(filter(None, errors)) or "the address could not be verified",
                              code="address_invalid", details={"errors": errors})
        return Address(name=found.get("name") or address.name, line1=found["street1"],
                       line2=found.get("street2") or None, city=found["city"], region=found.get("state") or None,
                       postal_code=found["zip"], country=found["country"])

    async def rates(self, *, cart: PricedCart, address: Address) -> list[ShippingRate]:
        shipment = await self._create_shipment(cart, address)
        return [_rate(rate) for rate in shipment.get("rates") or [] if rate.get("currency") == cart.currency]

    async def buy_label(self, *, shipment: ShipmentRequest, rate_id: str, idempotency_key: str) -> Label:
        rate = await self._call(self._client.rate.retrieve, rate_id)
        shipment_id = rate["shipment_id"]
        existing = await self._call(self._client.shipment.retrieve, shipment_id)
        if not existing.get("postage_label"):
            try:
                return _label(await self._call(self._client.shipment.buy, shipment_id, rate={"id": rate_id}))
            except DomainError:
                # A lost answer to an earlier attempt may have bought it already: look again.
                existing = await self._call(self._client.shipment.retrieve, shipment_id)
                if not existing.get("postage_label"):
                    raise
        if (existing.get("selected_rate") or {}).get("id") != rate_id:
            raise DomainError("this shipment already has a label at another rate", code="label_already_purchased",
                              details={"shipment": shipment_id})
        return _label(existing)

    async def refund_label(self, *, label_id: str) -> str:
        try:
            refunded = await self._call(self._client.shipment.refund, label_id)
        except DomainError:
            refunded = await self._call(self._client.shipment.retrieve, label_id)
            if refunded.get("refund_status") not in ("submitted", "refunded"):
                raise
        return refunded.get("refund_status") or "submitted"

    async def _create_shipment(self, cart: PricedCart, address: Address) -> dict:
        grams = sum(line.weight_grams * line.quantity for line in cart.lines)
        return await self._call(
            self._client.shipment.create, to_address=_ep_address(address), from_address=_ep_address(self.from_address),
            parcel={"weight": float(ounces(grams))}, reference=cart.cart_id,
        )

    async def _call(self, fn, *args, problem: str = "shipping", **kwargs) -> dict:
        """Run one SDK call in a thread; 4xx become business errors, the rest stays retryable."""
        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except ep_errors.ApiError as error:
            status = error.http_status
            transient = status is None or status >= 500 or status in TRANSIENT_STATUSES
            if transient or isinstance(error, ep_errors.JsonError):
                raise ProviderUnavailable(f"easypost: {type(error).__name__}: {error.message}") from error
            about_address = problem == "address" or str(error.code or "").startswith("ADDRESS.")
            code = "address_invalid" if about_address else "shipping_request_invalid"
            raise DomainError(error.message or "the carrier refused the request", code=code,
                              details={"provider_code": error.code, "http_status": status,
                                       "errors": [str(e) for e in error.errors or []]}) from error
        return result.to_dict()


def ounces(grams: int) -> Decimal:
    """Parcel weight for EasyPost: ounces, rounded up to 0.1 oz, never zero."""
    return max(Decimal("0.1"), (Decimal(grams) / GRAMS_PER_OUNCE).quantize(Decimal("0.1"), rounding=ROUND_CEILING))


def speed(service: str, days: int | None) -> str:
    """Our vocabulary for a carrier service: 'express' or 'standard'."""
    if days is not None:
        return "express" if days <= EXPRESS_MAX_DAYS else "standard"
    compact = service.lower().replace(" ", "")
    return "express" if any(word in compact for word in EXPRESS_WORDS) else "standard"


def cheapest(rates: list[ShippingRate]) -> ShippingRate | None:
    return min(rates, key=lambda rate: (rate.amount, rate.estimated_days), default=None)


def fastest(rates: list[ShippingRate]) -> ShippingRate | None:
    return min(rates, key=lambda rate: (rate.estimated_days, rate.amount), default=None)


def _rate(rate: dict) -> ShippingRate:
    days = rate.get("delivery_days") or rate.get("est_delivery_days")
    return ShippingRate(provider=EasyPostShippingCarrier.name, carrier=rate["carrier"],
                        service=speed(rate["service"], days), amount=from_major(rate["rate"], rate["currency"]),
                        currency=rate["currency"], estimated_days=days or UNKNOWN_DAYS, rate_id=rate["id"])


def _label(shipment: dict) -> Label:
    rate = shipment["selected_rate"]
    return Label(provider=EasyPostShippingCarrier.name, label_id=shipment["id"],
                 tracking_code=shipment["tracking_code"], carrier=rate["carrier"], service=rate["service"],
                 amount=from_major(rate["rate"], rate["currency"]), currency=rate["currency"],
                 label_url=(shipment.get("postage_label") or {}).get("label_url"))


def _ep_address(address: Address) -> dict:
    fields = {"name": address.name, "street1": address.line1, "street2": address.line2, "city": address.city,
              "state": address.region, "zip": address.postal_code, "country": address.country}
    return {key: value for key, value in fields.items() if value is not None}



def parse_webhook(body: bytes, signature: str | None, secret: str, now: float | None = None) -> dict:
    """Verify EasyPost's X-Hmac-Signature and return the event; ``InvalidWebhook`` otherwise.

    EasyPost signs the body only, with no signing time: the event's own (signed) ``created_at`` and
    ``updated_at`` stand in for it, and one too far ahead of our clock is refused.
    """
    try:
        event = easypost.util.validate_webhook(body, {"X-Hmac-Signature": signature or ""}, secret)
    except (ep_errors.SignatureVerificationError, ValueError) as error:
        raise InvalidWebhook(f"easypost webhook rejected: {error}") from error
    now = time.time() if now is None else now
    for field in ("created_at", "updated_at"):
        if event.get(field):
            refuse_future_signing("easypost", _timestamp(event[field]), now)
    return event


def _timestamp(value: str) -> float:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidWebhook(f"easypost webhook rejected: unreadable time {value!r}") from error
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()  # EasyPost times are UTC

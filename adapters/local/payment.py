"""Simulated card processor. Outcomes follow Stripe's test payment-method tokens."""

import asyncio
import hashlib

from adapters.ports import PaymentCustomer, PaymentResult
from models.errors import DomainError, PaymentDeclined

# Stripe test tokens that decline; anything else starting with pm_ is approved.
DECLINING_METHODS = {
    "pm_card_chargeDeclined": "card_declined",
    "pm_card_visa_chargeDeclined": "card_declined",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
    "pm_card_chargeCustomerFail": "card_declined",
}

# Stripe test tokens whose issuer asks for 3-D Secure; the local stand-in treats the
# authentication webhook as the issuer's answer (see retrieve).
AUTHENTICATING_METHODS = {"pm_card_authenticationRequired", "pm_card_threeDSecure2Required"}


def _ref(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class LocalPaymentGateway:
    name = "local"
    delay = 0.0  # seconds each authorization takes (LOCAL_PAYMENT_DELAY_MS): rehearse a slow provider

    def __init__(self, delay_ms: int = 0) -> None:
        self.delay = delay_ms / 1000

    async def authorize(self, *, amount, currency, payment_method, idempotency_key, reference):
        if self.delay:
            await asyncio.sleep(self.delay)
        if not payment_method.startswith("pm_"):
            raise DomainError(f"unknown payment method {payment_method!r}", code="invalid_payment_method")
        if payment_method in DECLINING_METHODS:
            raise PaymentDeclined("the card was declined", details={"decline_code": DECLINING_METHODS[payment_method]})
        ref = _ref("lpi", idempotency_key)
        if payment_method in AUTHENTICATING_METHODS:
            return PaymentResult(ref, "requires_action", amount, client_secret=f"{ref}_secret_local",
                                 next_action_url=f"https://3ds.local/authenticate/{ref}")
        return PaymentResult(ref, "authorized", amount)

    async def retrieve(self, *, provider_ref):
        # Nothing is stored locally: by the time anyone asks, authentication has succeeded.
        return PaymentResult(provider_ref, "authorized", 0)

    async def capture(self, *, provider_ref, amount, currency, idempotency_key):
        return PaymentResult(provider_ref, "captured", amount)

    async def void(self, *, provider_ref, idempotency_key):
        return PaymentResult(provider_ref, "voided", 0)

    async def refund(self, *, provider_ref, amount, currency, idempotency_key):
        return PaymentResult(_ref("lre", idempotency_key), "refunded", amount)

    async def create_customer(self, *, email, payment_method, idempotency_key):
        _check_method(payment_method)
        return PaymentCustomer(_ref("lcus", idempotency_key), payment_method)

    async def charge_off_session(self, *, customer_ref, payment_method, amount, currency, idempotency_key, reference):
        _check_method(payment_method)
        if payment_method in DECLINING_METHODS:
            raise PaymentDeclined("the card was declined", details={"decline_code": DECLINING_METHODS[payment_method]})
        ref = _ref("lpi", idempotency_key)
        if payment_method in AUTHENTICATING_METHODS:
            # As Stripe does: a card that insists on 3-D Secure cannot be charged with nobody present.
            return PaymentResult(ref, "requires_action", amount, client_secret=f"{ref}_secret_local")
        return PaymentResult(ref, "captured", amount)


def _check_method(payment_method: str) -> None:
    if not payment_method.startswith("pm_"):
        raise DomainError(f"unknown payment method {payment_method!r}", code="invalid_payment_method")

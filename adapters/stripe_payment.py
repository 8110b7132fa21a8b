"""Stripe PaymentIntents: manual-capture authorizations, captures, refunds, off-session charges.

Amounts are already integer minor units, which is what Stripe takes. Every mutating call
carries the caller's idempotency key (derived from business ids), so a retried activity
replays the provider's first answer instead of charging twice.
"""

import json

import stripe

from adapters.ports import InvalidWebhook, PaymentCustomer, PaymentResult, ProviderUnavailable
from models.errors import Conflict, DomainError, PaymentDeclined

DEFAULT_TIMEOUT_SECONDS = 20.0
STATUS = {
    "requires_capture": "authorized",
    "requires_action": "requires_action",
    "processing": "pending",
    "succeeded": "captured",
    "canceled": "voided",
}


class StripePaymentGateway:
    name = "stripe"

    def __init__(self, api_key: str, api_base: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS):
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=0,  # Temporal owns retries
            http_client=stripe.HTTPXClient(timeout=timeout),
        )
        self._intents = self._client.v1.payment_intents

    async def authorize(self, *, amount, currency, payment_method, idempotency_key, reference):
        params = {"amount": amount, "currency": currency.lower(), "payment_method": payment_method,
                  "payment_method_types": ["card"], "capture_method": "manual", "confirm": True,
                  "metadata": {"reference": reference}}
        intent = await _call(self._intents.create_async(params=params, options=_key(idempotency_key)))
        return _intent_result(intent, amount)

    async def capture(self, *, provider_ref, amount, currency, idempotency_key):
        intent = await _call(self._intents.capture_async(
            provider_ref, params={"amount_to_capture": amount}, options=_key(idempotency_key)))
        return PaymentResult(intent.id, STATUS.get(intent.status, intent.status), amount)

    async def void(self, *, provider_ref, idempotency_key):
        try:
            intent = await _call(self._intents.cancel_async(provider_ref, options=_key(idempotency_key)))
        except DomainError:
            # A compensation may run twice: an intent already canceled is the outcome we wanted.
            intent = await _call(self._intents.retrieve_async(provider_ref))
            if intent.status != "canceled":
                raise
        return PaymentResult(intent.id, "voided", 0)

    async def refund(self, *, provider_ref, amount, currency, idempotency_key):
        refund = await _call(self._client.v1.refunds.create_async(
            params={"payment_intent": provider_ref, "amount": amount}, options=_key(idempotency_key)))
        status = {"succeeded": "refunded", "pending": "pending"}.get(refund.status)
        if status is None:
            raise DomainError(f"refund {refund.id} is {refund.status}", code="refund_failed",
                              details={"refund": refund.id, "status": refund.status})
        return PaymentResult(refund.id, status, refund.amount)

    async def retrieve(self, *, provider_ref):
        intent = await _call(self._intents.retrieve_async(provider_ref))
        return _intent_result(intent, intent.amount)

    async def create_customer(self, *, email, payment_method, idempotency_key):
        customer = await _call(self._client.v1.customers.create_async(
            params={"email": email}, options=_key(f"{idempotency_key}:customer")))
        attached = await _call(self._client.v1.payment_methods.attach_async(
            payment_method, params={"customer": customer.id}, options=_key(f"{idempotency_key}:attach")))
        return PaymentCustomer(customer.id, attached.id)

    async def charge_off_session(self, *, customer_ref, payment_method, amount, currency, idempotency_key,
                                 reference):
        params = {"amount": amount, "currency": currency.lower(), "customer": customer_ref,
                  "payment_method": payment_method, "payment_method_types": ["card"], "off_session": True,
                  "confirm": True, "metadata": {"reference": reference}}
        try:
            intent = await _call(self._intents.create_async(params=params, options=_key(idempotency_key)))
        except PaymentDeclined as declined:
            # Stripe answers an off-session charge that needs 3-D Secure with a card error that
            # still carries the intent: the customer must come back and authenticate.
            intent = getattr(declined, "intent", None)
            if declined.details.get("decline_code") != "authentication_required" or intent is None:
                raise
        return _intent_result(intent, amount)


def _key(idempotency_key: str) -> dict:
    return {"idempotency_key": idempotency_key}


def _intent_result(intent, amount: int) -> PaymentResult:
    if intent.status == "requires_payment_method":
        error = _field(intent, "last_payment_error")
        code = _field(error, "decline_code") or _field(error, "code") or "card_declined"
        raise PaymentDeclined("the card was declined", details={"decline_code": code})
    status = STATUS.get(intent.status, intent.status)
    return PaymentResult(intent.id, status, amount,
                         client_secret=intent.client_secret if status == "requires_action" else None,
                         next_action_url=_field(_field(_field(intent, "next_action"), "redirect_to_url"), "url"))


async def _call(request):
    """Await a Stripe call, translating its errors into our vocabulary."""
    try:
        return await request
    except stripe.CardError as error:
        detail = error.error
        declined = PaymentDeclined(
            error.user_message or "the card was declined",
            details={"decline_code": _field(detail, "decline_code") or error.code or "card_declined",
                     "provider_code": error.code},
        )
        declined.intent = _field(detail, "payment_intent")  # not in details: those travel in Temporal payloads
        raise declined from error
    except stripe.IdempotencyError as error:
        raise Conflict(str(error.user_message or error), code="idempotency_key_reused") from error
    except stripe.InvalidRequestError as error:
        raise DomainError(error.user_message or "the payment provider refused the request",
                          code="payment_invalid_request",
                          details={"provider_code": error.code, "param": error.param,
                                   "http_status": error.http_status}) from error
    except stripe.StripeError as error:
        # Connection trouble, 5xx, rate limits, and auth/permission errors (an ops fix, then retry).
        raise ProviderUnavailable(f"stripe: {type(error).__name__}: {error.user_message or error}") from error


def _field(obj, name: str):
    """``obj[name]`` or None: stripe objects are not dicts but support ``in`` and ``[]``."""
    return obj[name] if obj is not None and name in obj else None


def parse_webhook(payload: bytes, signature: str | None, secret: str) -> dict:
    """Verify Stripe's signature header and return the event; ``InvalidWebhook`` otherwise."""
    try:
        stripe.Webhook.construct_event(payload, signature or "", secret)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise InvalidWebhook(f"stripe webhook rejected: {error}") from error
    return json.loads(payload)

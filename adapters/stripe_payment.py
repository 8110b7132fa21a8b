"""Stripe PaymentIntents: manual-capture authorizations, captures, refunds, off-session charges.

Amounts are already integer minor units, which is what Stripe takes. Every mutating call
carries the caller's idempotency key (derived from business ids), so a retried activity
replays the provider's first answer instead of charging twice.

Split orders: an intent is captured once unless it was created with
``payment_method_options[card][request_multicapture]=if_available`` and the card's
``multicapture.status`` came back ``available``; only then is ``final_capture=false`` sent (localstripe
accepts the request option and ignores it, and refuses ``final_capture`` as an unknown parameter, so
against it every authorization reports multicapture unavailable and the capture-all-first fallback runs).
"""

import json
import time

import stripe

from adapters.ports import (
    InvalidWebhook, PaymentCustomer, PaymentResult, ProviderUnavailable, refuse_future_signing,
)
from models.errors import Conflict, DomainError, PaymentDeclined

DEFAULT_TIMEOUT_SECONDS = 20.0
RECENT_SECONDS, RECENT_PAGES = 24 * 3600, 20  # how far back, and how many pages of 100, lookup lists intents
STATUS = {
    "requires_capture": "authorized",
    "requires_action": "requires_action",
    "processing": "pending",
    "succeeded": "captured",
    "canceled": "voided",
}


class StripePaymentGateway:
    name = "stripe"

    def __init__(self, api_key: str, api_base: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 request_multicapture: bool = False):
        self.request_multicapture = request_multicapture
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=0,  # Temporal owns retries
            http_client=stripe.HTTPXClient(timeout=timeout),
        )
        self._intents = self._client.v1.payment_intents

    async def authorize(self, *, amount, currency, payment_method, idempotency_key, reference, customer_ref=None,
                        save_for_future=False, off_session=False):
        params = {"amount": amount, "currency": currency.lower(), "payment_method": payment_method,
                  "payment_method_types": ["card"], "capture_method": "manual", "confirm": True,
                  "metadata": {"reference": reference}, **_saved_card(customer_ref, save_for_future, off_session)}
        if self.request_multicapture:
            params["payment_method_options"] = {"card": {"request_multicapture": "if_available"}}
            params["expand"] = ["latest_charge"]  # the charge says whether the card granted it
        return await self._confirmed_intent(params, idempotency_key, amount)

    async def capture(self, *, provider_ref, amount, currency, idempotency_key, final=True):
        params = {"amount_to_capture": amount}
        if not final:
            params["final_capture"] = False  # multicapture: keep the rest of the hold capturable
        intent = await _call(self._intents.capture_async(provider_ref, params=params, options=_key(idempotency_key)))
        return PaymentResult(intent.id, "captured", amount)

    async def increment_authorization(self, *, provider_ref, amount, currency, idempotency_key):
        """Stripe increments only intents created with incremental authorization support requested, whose card
        granted it (``incremental_authorization.status == "available"``). ``authorize`` does not request it
        (localstripe refuses the parameter), so an order edit's increase takes a new authorization instead."""
        intent = await _call(self._intents.retrieve_async(provider_ref, params={"expand": ["latest_charge"]}))
        if not _incremental_available(intent):
            raise DomainError("this payment was not authorized with incremental authorization support",
                              code="incremental_authorization_unavailable")
        intent = await _call(self._intents.increment_authorization_async(
            provider_ref, params={"amount": amount}, options=_key(idempotency_key)))
        return PaymentResult(intent.id, STATUS.get(intent.status, intent.status), amount,
                             multicapture=_multicapture_available(intent))

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
        # The key in metadata lets ``lookup`` find this refund when its answer was lost.
        refund = await _call(self._client.v1.refunds.create_async(
            params={"payment_intent": provider_ref, "amount": amount, "metadata": {"idempotency_key": idempotency_key}},
            options=_key(idempotency_key)))
        return _refund_result(refund)

    async def retrieve(self, *, provider_ref):
        params = {"expand": ["latest_charge"]} if self.request_multicapture else None  # multicapture status
        intent = await _call(self._intents.retrieve_async(provider_ref, params=params))
        return _intent_result(intent, intent.amount)

    async def lookup(self, *, kind, idempotency_key, reference, provider_ref=None):
        """Read-only: the intent by ``provider_ref`` (for captures, voids and refunds: the authorization's
        intent) or else by ``metadata.reference``; a refund by the key it carries in metadata. None when
        nothing under this operation moved or holds money (never created, or declined). Never repeats the
        request: for an authorization Stripe never received, a repeat would create the hold."""
        intent = await self._find_intent(reference, provider_ref)
        if intent is None:
            return None
        if kind in ("authorize", "charge"):
            return None if intent.status == "requires_payment_method" else _intent_result(intent, intent.amount)
        if kind == "capture":
            received = _captured_amount(intent)
            return PaymentResult(intent.id, "captured", received) if received else None
        if kind == "void":
            return PaymentResult(intent.id, "voided", 0) if intent.status == "canceled" else None
        if kind == "refund":
            return await self._find_refund(intent.id, idempotency_key)
        raise ValueError(f"unknown payment operation kind {kind!r}")

    async def _find_intent(self, reference: str, provider_ref: str | None):
        if provider_ref:
            return await _call(self._intents.retrieve_async(provider_ref))
        query = f"metadata['reference']:'{reference.replace(chr(39), '')}'"
        found = list((await _call(self._intents.search_async(params={"query": query, "limit": 10}))).data)
        if not found:
            found = await self._recent_with_reference(reference)
        live = [intent for intent in found if intent.status != "requires_payment_method"]
        return max(live or found, key=lambda intent: intent.created, default=None)

    async def _recent_with_reference(self, reference: str) -> list:
        """Search lags writes by up to a minute, so an empty search proves nothing about an intent created just
        now; the list is current: read the last day's intents (idempotency keys live 24 h) for the reference."""
        params = {"limit": 100, "created": {"gte": int(time.time()) - RECENT_SECONDS}}
        matches = []
        for _ in range(RECENT_PAGES):
            page = await _call(self._intents.list_async(params=params))
            matches += [intent for intent in page.data if _field(_field(intent, "metadata"), "reference") == reference]
            if not page.has_more or not page.data:
                return matches
            params["starting_after"] = page.data[-1].id
        raise ProviderUnavailable(f"stripe: too many recent payment intents to rule one out for {reference}")

    async def _find_refund(self, intent_id: str, idempotency_key: str) -> PaymentResult | None:
        refunds = await _call(self._client.v1.refunds.list_async(params={"payment_intent": intent_id, "limit": 100}))
        for refund in refunds.data:
            if _field(_field(refund, "metadata"), "idempotency_key") == idempotency_key:
                return _refund_result(refund)
        return None

    async def create_customer(self, *, email, payment_method=None, idempotency_key):
        customer = await _call(self._client.v1.customers.create_async(
            params={"email": email} if email else {}, options=_key(f"{idempotency_key}:customer")))
        if payment_method is None:  # the card is saved by the payment that confirms it (setup_future_usage)
            return PaymentCustomer(customer.id, None)
        attached = await _call(self._client.v1.payment_methods.attach_async(
            payment_method, params={"customer": customer.id}, options=_key(f"{idempotency_key}:attach")))
        return PaymentCustomer(customer.id, attached.id)

    async def charge_off_session(self, *, customer_ref, payment_method, amount, currency, idempotency_key,
                                 reference):
        params = {"amount": amount, "currency": currency.lower(), "customer": customer_ref,
                  "payment_method": payment_method, "payment_method_types": ["card"], "off_session": True,
                  "confirm": True, "metadata": {"reference": reference}}
        return await self._confirmed_intent(params, idempotency_key, amount)

    async def _confirmed_intent(self, params: dict, idempotency_key: str, amount: int) -> PaymentResult:
        try:
            intent = await _call(self._intents.create_async(params=params, options=_key(idempotency_key)))
        except PaymentDeclined as declined:
            # Stripe answers an off-session payment that needs 3-D Secure with a card error that
            # still carries the intent: the customer must come back and authenticate.
            intent = getattr(declined, "intent", None)
            wants_card_holder = declined.details.get("decline_code") == "authentication_required"
            if not (params.get("off_session") and wants_card_holder) or intent is None:
                raise
        return _intent_result(intent, amount)


def _saved_card(customer_ref: str | None, save_for_future: bool, off_session: bool) -> dict:
    """A card is used again only through the Stripe customer it was saved for: ``setup_future_usage`` saves it as
    the card holder confirms (Stripe attaches it to the customer then); ``off_session`` charges it so saved."""
    if customer_ref is None:
        return {}
    return {"customer": customer_ref, **({"setup_future_usage": "off_session"} if save_for_future else {}),
            **({"off_session": True} if off_session else {})}


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
                         next_action_url=_field(_field(_field(intent, "next_action"), "redirect_to_url"), "url"),
                         multicapture=_multicapture_available(intent))


def _multicapture_available(intent) -> bool:
    return _card_feature_available(intent, "multicapture")


def _incremental_available(intent) -> bool:
    return _card_feature_available(intent, "incremental_authorization")


def _card_feature_available(intent, feature: str) -> bool:
    """``latest_charge.payment_method_details.card.<feature>.status == "available"`` (expanded charge only)."""
    charge = _field(intent, "latest_charge")
    if charge is None or isinstance(charge, str):
        return False
    card = _field(_field(charge, "payment_method_details"), "card")
    return _field(_field(card, feature), "status") == "available"


def _captured_amount(intent) -> int:
    """Stripe's ``amount_received``; localstripe has none, so read its (always expanded) charge instead,
    where the released rest of a partial capture shows as refunded."""
    received = _field(intent, "amount_received")
    if received is not None:
        return received
    charge = _field(intent, "latest_charge")
    if charge is None or isinstance(charge, str) or not _field(charge, "captured"):
        return 0
    return _field(charge, "amount_captured") or charge.amount - (_field(charge, "amount_refunded") or 0)


def _refund_result(refund) -> PaymentResult:
    status = {"succeeded": "refunded", "pending": "pending"}.get(refund.status)
    if status is None:
        raise DomainError(f"refund {refund.id} is {refund.status}", code="refund_failed",
                          details={"refund": refund.id, "status": refund.status})
    return PaymentResult(refund.id, status, refund.amount)


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
        if error.http_status == 409:
            # Another request under this key is still in progress at Stripe (409): not a refusal. Ask again under
            # the same key, which then answers what that request did.
            raise ProviderUnavailable(f"stripe: a request under this idempotency key is in progress: "
                                      f"{error.user_message or error}") from error
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


def parse_webhook(payload: bytes, signature: str | None, secret: str, now: float | None = None) -> dict:
    """Verify Stripe's signature header and return the event; ``InvalidWebhook`` otherwise.

    Stripe's library refuses signing times older than 5 minutes; we also refuse ones too far ahead.
    """
    try:
        stripe.Webhook.construct_event(payload, signature or "", secret)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise InvalidWebhook(f"stripe webhook rejected: {error}") from error
    refuse_future_signing("stripe", _signed_at(signature or ""), time.time() if now is None else now)
    return json.loads(payload)


def _signed_at(header: str) -> int:
    """The ``t=`` of a Stripe-Signature header (present: construct_event refuses a header without it)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    return int(parts["t"])

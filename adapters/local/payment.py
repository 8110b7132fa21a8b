"""Simulated card processor, as strict as Stripe's PaymentIntents.

Outcomes follow Stripe's test payment-method tokens. It remembers its intents and the first answer
under each idempotency key (``card_store``), so it refuses what Stripe refuses: a second capture
of an intent that did not request multicapture (a partial single capture releases the rest), a
capture beyond what is capturable, a capture after a void, a void after a capture, a refund beyond
what was captured, a different request under a used key (``idempotency_key_reused``), and a second use of a
Stripe.js card that was not saved for a customer (``card_methods``); the same request under the same key
replays the first answer. Refusals use the codes the Stripe adapter
produces (``payment_invalid_request`` with Stripe's ``provider_code``).
"""

import asyncio
import hashlib
import json

from adapters.local import card_methods
from adapters.local.card_store import MemoryCardStore, PostgresCardStore
from adapters.ports import PaymentCustomer, PaymentResult
from models.errors import Conflict, DomainError, PaymentDeclined

# Stripe test tokens that decline; anything else starting with pm_ is approved.
DECLINING_METHODS = {
    "pm_card_chargeDeclined": "card_declined",
    "pm_card_visa_chargeDeclined": "card_declined",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
    "pm_card_chargeCustomerFail": "card_declined",
}

# Stripe test tokens whose issuer asks for 3-D Secure; the intent waits in requires_action until
# the card holder answers (``orderflow simulate 3ds``, adapters.local.card_network).
AUTHENTICATING_METHODS = {"pm_card_authenticationRequired", "pm_card_threeDSecure2Required"}

MAX_CAPTURES = 50  # Stripe's limit of captures on one multicapture intent
RESULT_STATUS = {"requires_capture": "authorized", "requires_action": "requires_action", "succeeded": "captured",
                 "canceled": "voided"}


def _ref(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class LocalPaymentGateway:
    name = "local"
    delay = 0.0  # seconds each authorization takes (LOCAL_PAYMENT_DELAY_MS): rehearse a slow provider

    def __init__(self, delay_ms: int = 0, *, engine=None, request_multicapture: bool = True,
                 multicapture_available: bool = True, incremental_available: bool = True) -> None:
        """``engine``: keep the simulator's state in PostgreSQL (durable; shared by worker processes);
        without one it lives in this process. ``multicapture_available``: what the simulated card
        network answers when an authorization requests multicapture (Stripe: IC+ accounts only)."""
        self.delay = delay_ms / 1000
        self.store = PostgresCardStore(engine) if engine is not None else MemoryCardStore()
        self.request_multicapture = request_multicapture
        self.multicapture_available = multicapture_available
        # Whether the simulated network lets its authorizations be raised later (Stripe: only intents created
        # with the support requested, on cards that grant it); False rehearses the new-authorization fallback.
        self.incremental_available = incremental_available

    # -- money movements ---------------------------------------------------------------------

    async def authorize(self, *, amount, currency, payment_method, idempotency_key, reference, customer_ref=None,
                        save_for_future=False, off_session=False):
        if self.delay:
            await asyncio.sleep(self.delay)
        _check_method(payment_method)
        body = {"op": "authorize", "amount": amount, "currency": currency, "payment_method": payment_method,
                "reference": reference, "multicapture": self.request_multicapture,
                **_customer_fields(customer_ref, save_for_future, off_session)}
        async with self.store.locked(idempotency_key) as book:
            if (replayed := await _replay(book, idempotency_key, body)) is not None:
                return _answer(replayed)
            if (refused := await _method_refusal(book, payment_method, customer_ref)) is not None:
                return await _refuse(book, idempotency_key, body, None, refused)
            ref = _ref("lpi", idempotency_key)
            intent = _new_intent(ref, "authorize", reference, amount, currency,
                                 "requires_action" if payment_method in AUTHENTICATING_METHODS else "requires_capture")
            intent["multicapture_requested"] = self.request_multicapture
            intent["multicapture_available"] = self.request_multicapture and self.multicapture_available
            await book.save_intent(intent)
            # Only methods that are not test tokens are tracked, and none of those asks for 3-D Secure here: the
            # method is used (kept for the customer, or spent) as the intent is confirmed.
            await card_methods.record_use(book, payment_method, customer_ref, attach=save_for_future)
            return await _answer_with(book, idempotency_key, body, ref, _intent_result(intent))

    async def capture(self, *, provider_ref, amount, currency, idempotency_key, final=True):
        body = {"op": "capture", "intent": provider_ref, "amount": amount, "currency": currency, "final": final}
        async with self.store.locked(provider_ref) as book:
            if (replayed := await _replay(book, idempotency_key, body)) is not None:
                return _answer(replayed)
            intent = await book.intent(provider_ref)
            refusal = _capture_refusal(intent, amount, currency, final)
            if refusal is not None:
                return await _refuse(book, idempotency_key, body, provider_ref, refusal)
            intent["amount_captured"] += amount
            intent["captures"] += 1
            if final or intent["amount_captured"] == intent["amount"]:
                intent["status"] = "succeeded"  # whatever is left uncaptured goes back to the card
            await book.save_intent(intent)
            return await _answer_with(book, idempotency_key, body, provider_ref,
                                      PaymentResult(provider_ref, "captured", amount))

    async def increment_authorization(self, *, provider_ref, amount, currency, idempotency_key):
        body = {"op": "increment", "intent": provider_ref, "amount": amount, "currency": currency}
        async with self.store.locked(provider_ref) as book:
            if (replayed := await _replay(book, idempotency_key, body)) is not None:
                return _answer(replayed)
            intent = await book.intent(provider_ref)
            refusal = _increment_refusal(intent, amount, currency, self.incremental_available)
            if refusal is not None:
                return await _refuse(book, idempotency_key, body, provider_ref, refusal)
            intent["amount"] = amount
            await book.save_intent(intent)
            return await _answer_with(book, idempotency_key, body, provider_ref, _intent_result(intent))

    async def void(self, *, provider_ref, idempotency_key):
        body = {"op": "void", "intent": provider_ref}
        async with self.store.locked(provider_ref) as book:
            if (replayed := await _replay(book, idempotency_key, body)) is not None:
                return _answer(replayed)
            intent = await book.intent(provider_ref)
            if intent is None:
                return await _refuse(book, idempotency_key, body, provider_ref, _missing(provider_ref))
            # Like the Stripe adapter: an intent already cancelled is the outcome a repeated void wants.
            if intent["status"] not in ("requires_capture", "requires_action", "canceled") or intent["amount_captured"]:
                return await _refuse(book, idempotency_key, body, provider_ref, _unexpected_state(intent, "cancel"))
            intent["status"] = "canceled"
            await book.save_intent(intent)
            return await _answer_with(book, idempotency_key, body, provider_ref,
                                      PaymentResult(provider_ref, "voided", 0))

    async def refund(self, *, provider_ref, amount, currency, idempotency_key):
        body = {"op": "refund", "intent": provider_ref, "amount": amount, "currency": currency}
        async with self.store.locked(provider_ref) as book:
            if (replayed := await _replay(book, idempotency_key, body)) is not None:
                return _answer(replayed)
            intent = await book.intent(provider_ref)
            refusal = _refund_refusal(intent, amount, currency)
            if refusal is not None:
                return await _refuse(book, idempotency_key, body, provider_ref, refusal)
            intent["amount_refunded"] += amount
            await book.save_intent(intent)
            return await _answer_with(book, idempotency_key, body, provider_ref,
                                      PaymentResult(_ref("lre", idempotency_key), "refunded", amount))

    async def charge_off_session(self, *, customer_ref, payment_method, amount, currency, idempotency_key, reference):
        _check_method(payment_method)
        body = {"op": "charge", "customer": customer_ref, "payment_method": payment_method, "amount": amount,
                "currency": currency, "reference": reference}
        async with self.store.locked(idempotency_key) as book:
            if (replayed := await _replay(book, idempotency_key, body)) is not None:
                return _answer(replayed)
            if (refused := await _method_refusal(book, payment_method, customer_ref)) is not None:
                return await _refuse(book, idempotency_key, body, None, refused)
            ref = _ref("lpi", idempotency_key)
            # As Stripe does: a card that insists on 3-D Secure cannot be charged with nobody present.
            needs_customer = payment_method in AUTHENTICATING_METHODS
            intent = _new_intent(ref, "charge", reference, amount, currency,
                                 "requires_action" if needs_customer else "succeeded")
            intent["amount_captured"] = 0 if needs_customer else amount
            await book.save_intent(intent)
            await card_methods.record_use(book, payment_method, customer_ref, attach=False)
            return await _answer_with(book, idempotency_key, body, ref, _intent_result(intent))

    # -- reading -----------------------------------------------------------------------------

    async def retrieve(self, *, provider_ref):
        async with self.store.locked(provider_ref) as book:
            intent = await book.intent(provider_ref)
            if intent is None:
                raise DomainError(**_missing(provider_ref))
            # As at Stripe, only the card holder's answer moves it on (adapters.local.card_network).
            return _intent_result(intent)

    async def lookup(self, *, kind, idempotency_key, reference, provider_ref=None):
        """The first answer under ``idempotency_key`` (for an authorization or charge: its intent as it is
        now, e.g. voided since); None when this key never reached the simulator or was refused."""
        async with self.store.locked(idempotency_key) as book:
            request = await book.request(idempotency_key)
            if request is None or "error" in request["answer"]:
                return None
            if request["kind"] in ("authorize", "charge") and request["intent_id"]:
                intent = await book.intent(request["intent_id"])
                if intent is not None:
                    return _intent_result(intent)
            return _answer(request["answer"])

    async def create_customer(self, *, email, payment_method=None, idempotency_key):
        """A customer made under ``{idempotency_key}:customer`` (the Stripe adapter's key), holding
        ``payment_method`` when one is given (attached at once); the same key answers the same customer."""
        if payment_method is not None:
            _check_method(payment_method)
        key = f"{idempotency_key}:customer"
        body = {"op": "customer", "email": email, "payment_method": payment_method}
        async with self.store.locked(key) as book:
            if (replayed := await _replay(book, key, body)) is not None:
                return _customer_answer(replayed)
            customer = PaymentCustomer(_ref("lcus", idempotency_key), payment_method)
            if payment_method is not None:
                if (refused := await card_methods.refusal(book, payment_method, customer.customer_ref)) is not None:
                    return await _refuse(book, key, body, None, refused)
                await card_methods.record_use(book, payment_method, customer.customer_ref, attach=True)
            answer = {"customer": {"customer_ref": customer.customer_ref, "payment_method": payment_method}}
            await book.remember(key, request_hash=_hash(body), kind="customer", intent_id=None, answer=answer)
            return customer


# -- rules ---------------------------------------------------------------------------------------

def _capture_refusal(intent: dict | None, amount: int, currency: str, final: bool) -> dict | None:
    if intent is None:
        return _missing("payment intent")
    if intent["status"] != "requires_capture":
        return _unexpected_state(intent, "capture")
    if currency.lower() != intent["currency"].lower() or amount <= 0:
        return _invalid("amount_to_capture must be a positive amount in the intent's currency",
                        "parameter_invalid_integer")
    if amount > intent["amount"] - intent["amount_captured"]:
        return _invalid(f"amount_to_capture {amount} exceeds the capturable "
                        f"{intent['amount'] - intent['amount_captured']}", "amount_too_large")
    if not final and not intent["multicapture_available"]:
        return _invalid("final_capture=false needs multicapture on the payment intent", "parameter_unknown")
    if intent["captures"] >= MAX_CAPTURES:
        return _invalid("no more than 50 captures per payment intent", "amount_too_large")
    return None


def _increment_refusal(intent: dict | None, amount: int, currency: str, available: bool) -> dict | None:
    """As Stripe: only an uncaptured authorization (not a charge) where the network grants it, only upwards, in
    its own currency."""
    if intent is None:
        return _missing("payment intent")
    if not available or intent["kind"] != "authorize":
        return _invalid("this PaymentIntent was not created with incremental authorization support",
                        "incremental_authorization_unavailable")
    if intent["status"] != "requires_capture" or intent["amount_captured"]:
        return _unexpected_state(intent, "increment_authorization")
    if currency.lower() != intent["currency"].lower() or amount <= intent["amount"]:
        return _invalid("the new amount must be higher than the authorized amount, in its currency",
                        "parameter_invalid_integer")
    return None


def _refund_refusal(intent: dict | None, amount: int, currency: str) -> dict | None:
    if intent is None:
        return _missing("payment intent")
    if currency.lower() != intent["currency"].lower() or amount <= 0:
        return _invalid("refund amount must be a positive amount in the charge's currency", "parameter_invalid_integer")
    if not intent["amount_captured"]:
        return _unexpected_state(intent, "refund")
    refundable = intent["amount_captured"] - intent["amount_refunded"]
    if amount > refundable:
        return _invalid(f"refund amount ({amount}) is greater than unrefunded amount on charge ({refundable})",
                        "amount_too_large")
    return None


def _new_intent(ref: str, kind: str, reference: str, amount: int, currency: str, status: str) -> dict:
    return {"id": ref, "kind": kind, "reference": reference, "amount": amount, "currency": currency,
            "status": status, "amount_captured": 0, "amount_refunded": 0, "captures": 0,
            "multicapture_requested": False, "multicapture_available": False}


def _intent_result(intent: dict) -> PaymentResult:
    ref = intent["id"]
    if intent["status"] == "requires_action":
        url = f"https://3ds.local/authenticate/{ref}" if intent["kind"] == "authorize" else None
        return PaymentResult(ref, "requires_action", intent["amount"], client_secret=f"{ref}_secret_local",
                             next_action_url=url)
    amount = intent["amount_captured"] if intent["status"] == "succeeded" else intent["amount"]
    return PaymentResult(ref, RESULT_STATUS[intent["status"]], amount,
                         multicapture=intent["multicapture_available"])


# -- refusals, as the Stripe adapter words them --------------------------------------------------

def _invalid(message: str, provider_code: str) -> dict:
    return {"error": "invalid", "message": message, "code": "payment_invalid_request",
            "details": {"provider_code": provider_code, "http_status": 400}}


def _missing(what: str) -> dict:
    return {"error": "invalid", "message": f"no such payment intent: {what}", "code": "payment_invalid_request",
            "details": {"provider_code": "resource_missing", "http_status": 404}}


def _unexpected_state(intent: dict, action: str) -> dict:
    return _invalid(f"cannot {action} a payment intent whose status is {intent['status']}",
                    "payment_intent_unexpected_state")


def _declined(payment_method: str) -> dict:
    return {"error": "declined", "message": "the card was declined",
            "details": {"decline_code": DECLINING_METHODS[payment_method]}}


def _raise(refusal: dict):
    if refusal["error"] == "declined":
        raise PaymentDeclined(refusal["message"], details=refusal["details"])
    if refusal["error"] == "reused":
        raise Conflict(refusal["message"], code="idempotency_key_reused")
    raise DomainError(refusal["message"], code=refusal["code"], details=refusal["details"])


# -- idempotency: the first answer under a key is the answer ------------------------------------

def _hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def _replay(book, idempotency_key: str, body: dict) -> dict | None:
    request = await book.request(idempotency_key)
    if request is None:
        return None
    if request["request_hash"] != _hash(body):
        _raise({"error": "reused", "message": f"Keys for idempotent requests can only be used with the same "
                                              f"parameters they were first used with ({idempotency_key})"})
    return request["answer"]


async def _refuse(book, idempotency_key: str, body: dict, intent_id: str | None, refusal: dict):
    await book.remember(idempotency_key, request_hash=_hash(body), kind=body["op"], intent_id=intent_id,
                        answer={"error": refusal})
    _raise(refusal)


async def _answer_with(book, idempotency_key: str, body: dict, intent_id: str, result: PaymentResult) -> PaymentResult:
    answer = {"result": {name: getattr(result, name) for name in PaymentResult.__slots__}}
    await book.remember(idempotency_key, request_hash=_hash(body), kind=body["op"], intent_id=intent_id,
                        answer=answer)
    return result


def _answer(answer: dict) -> PaymentResult:
    if "error" in answer:
        _raise(answer["error"])
    return PaymentResult(**answer["result"])


async def _method_refusal(book, payment_method: str, customer_ref: str | None) -> dict | None:
    """Stripe's test tokens decline as they say; any other method is refused once it cannot be used again."""
    if payment_method in DECLINING_METHODS:
        return _declined(payment_method)
    return await card_methods.refusal(book, payment_method, customer_ref)


def _customer_fields(customer_ref: str | None, save_for_future: bool, off_session: bool) -> dict:
    """Part of an authorization's request only when it names a customer (earlier requests hash as they did)."""
    if customer_ref is None:
        return {}
    return {"customer": customer_ref, "save_for_future": save_for_future, "off_session": off_session}


def _customer_answer(answer: dict) -> PaymentCustomer:
    if "error" in answer:
        _raise(answer["error"])
    return PaymentCustomer(answer["customer"]["customer_ref"], answer["customer"]["payment_method"])


def _check_method(payment_method: str) -> None:
    if not payment_method.startswith("pm_"):
        raise DomainError(f"unknown payment method {payment_method!r}", code="invalid_payment_method")

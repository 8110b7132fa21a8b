"""The payment service: every money movement goes through our ledger, and only through here.

Plain Python (no Temporal): the thin activity classes in ``activities/payments.py`` call it, and so do
the other activities that move money (refunds, re-authorization, subscription charges, reconciliation)
instead of calling one activity from another. Limits are checked and the operation recorded as pending
before the provider is called; a replayed key returns the recorded outcome. No method holds a database
transaction (let alone a row lock) while the provider is called.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ports import PaymentGateway, PaymentResult
from db import customers
from db import payments as ledger
from db import saved_cards
from models.commerce import PaymentAuthorization
from models.errors import DomainError, PaymentDeclined

log = structlog.get_logger("orderflow.activities")

ProviderCall = Callable[[], Awaitable[Any]]


async def _direct(call: ProviderCall) -> Any:
    return await call()


class PaymentService:
    def __init__(self, engine: AsyncEngine, gateway: PaymentGateway,
                 around_provider_call: Callable[[ProviderCall], Awaitable[Any]] = _direct):
        """``around_provider_call`` runs each provider call (the worker passes one that heartbeats)."""
        self.engine = engine
        self.gateway = gateway
        self.around_provider_call = around_provider_call

    async def _operate(self, kind: str, payment_ref: str, amount: int, currency: str, key: str,
                       call: ProviderCall, **fields):
        req_hash = ledger.request_hash(kind=kind, amount=amount, currency=currency, **fields)
        async with self.engine.begin() as conn:
            operation = await ledger.begin(conn, idempotency_key=key, req_hash=req_hash, payment_ref=payment_ref,
                                           kind=kind, provider=self.gateway.name, amount=amount, currency=currency)
        result = None
        if operation.status == "pending":
            try:
                result = await self.around_provider_call(call)
            except DomainError as refused:
                async with self.engine.begin() as conn:
                    operation = await ledger.complete(conn, key, status="failed", error_code=refused.code,
                                                      error_message=refused.message)
            else:
                operation = await self._record_answer(key, result)
        _raise_if_failed(operation)
        log.info("payment operation", kind=kind, payment_ref=payment_ref, amount=amount, status=operation.status)
        return operation, result

    async def _record_answer(self, key: str, result: PaymentResult):
        async with self.engine.begin() as conn:
            if result.status == "requires_action":
                return await ledger.note_provider_ref(conn, key, result.provider_ref)
            return await ledger.complete(conn, key, status="succeeded", provider_ref=result.provider_ref,
                                         multicapture=result.multicapture)

    async def authorize(self, payment_ref: str, amount: int, currency: str, payment_method: str,
                        idempotency_key: str, *, customer_ref: str | None = None) -> PaymentAuthorization:
        """A hold on the card. ``customer_ref``: the card was saved for that provider customer at checkout, and
        this later hold (re-authorization, an edit's new total, an exchange's difference) is the merchant's,
        with nobody at the keyboard (off session). Without it the card is used as it is, which Stripe refuses
        for a Stripe.js card already used once (orders placed before cards were saved)."""
        if customer_ref is not None:
            async with self.engine.connect() as conn:
                begun = await ledger.operation(conn, idempotency_key)
            if begun is not None and begun.request_hash == _plain_authorization_hash(amount, currency, payment_method):
                customer_ref = None  # begun by a build that did not save cards: ask the provider the same again
        return await self._authorize(payment_ref, amount, currency, payment_method, idempotency_key,
                                     customer_ref=customer_ref, save_for_future=False)

    async def authorize_order_card(self, order_id: str, payment_ref: str, amount: int, currency: str,
                                   payment_method: str, idempotency_key: str) -> PaymentAuthorization:
        """``authorize`` of an order's card through the customer it was saved for at checkout (none for an order
        placed before cards were saved), for a caller that has not read the order: its re-authorization."""
        async with self.engine.connect() as conn:
            customer_ref = await saved_cards.order_customer(conn, order_id)
        return await self.authorize(payment_ref, amount, currency, payment_method, idempotency_key,
                                    customer_ref=customer_ref)

    async def authorize_saving_card(self, payment_ref: str, amount: int, currency: str, payment_method: str,
                                    idempotency_key: str) -> PaymentAuthorization:
        """A checkout's hold, saving the card for the order's later charges: a provider customer (the signed-in
        shopper's own if they have one, else one made under ``{payment_ref}:customer``, which a retry or an
        unanswered attempt asks for again and gets back) and a hold that keeps the card for it as the card holder
        confirms (Stripe: ``setup_future_usage``). A customer the provider refuses to make: the hold is made without
        saving the card (the order is taken; its later charges behave as an order's from before cards were saved)."""
        async with self.engine.connect() as conn:
            payer = await saved_cards.checkout_payer(conn, payment_ref, idempotency_key, self.gateway.name)
        if payer.begun_hash == _plain_authorization_hash(amount, currency, payment_method):
            # Begun by a build that did not save cards: the provider must see the same request again.
            return await self._authorize(payment_ref, amount, currency, payment_method, idempotency_key)
        customer_ref = payer.provider_customer or await self._new_customer_unless_refused(payer.email, payment_ref)
        if customer_ref is None:  # the card cannot be saved: take the order all the same, as before cards were saved
            return await self._authorize(payment_ref, amount, currency, payment_method, idempotency_key)
        authorization = await self._authorize(payment_ref, amount, currency, payment_method, idempotency_key,
                                              customer_ref=customer_ref, save_for_future=True)
        if payer.customer_id is not None and payer.provider_customer is None:  # their next checkout reuses it
            async with self.engine.begin() as conn:
                await customers.save_payment_method(conn, payer.customer_id, provider=self.gateway.name,
                                                    provider_ref=customer_ref, payment_method=payment_method)
        return authorization

    async def _new_customer(self, email: str | None, payment_ref: str) -> str:
        customer = await self.around_provider_call(
            lambda: self.gateway.create_customer(email=email, idempotency_key=payment_ref))
        return customer.customer_ref

    async def _new_customer_unless_refused(self, email: str | None, payment_ref: str) -> str | None:
        """A provider customer for the checkout's card, or None when the provider refuses to make one: saving the
        card is for the order's later charges, and must not cost the shopper the order. The refusal is the same on
        every retry (the provider replays it under the same key), so every attempt takes the same road. A provider
        that does not answer is retried as before (ProviderUnavailable)."""
        try:
            return await self._new_customer(email, payment_ref)
        except DomainError as refused:
            log.warning("card not saved: the provider refused the customer", payment_ref=payment_ref,
                        code=refused.code)
            return None

    async def _authorize(self, payment_ref: str, amount: int, currency: str, payment_method: str,
                         idempotency_key: str, *, customer_ref: str | None = None,
                         save_for_future: bool = False) -> PaymentAuthorization:
        # The customer is part of the request only when there is one: a plain authorization hashes (and reaches
        # the provider) exactly as before cards were saved.
        saved = {} if customer_ref is None else {"customer_ref": customer_ref, "save_for_future": save_for_future}
        # Not saving it now means charging a card saved earlier: the merchant's charge, nobody at the keyboard.
        charge_saved = {**saved, "off_session": not save_for_future} if saved else {}
        operation, result = await self._operate(
            "authorize", payment_ref, amount, currency, idempotency_key,
            lambda: self.gateway.authorize(amount=amount, currency=currency, payment_method=payment_method,
                                           idempotency_key=idempotency_key, reference=payment_ref, **charge_saved),
            payment_method=payment_method, **saved,
        )
        authorization = PaymentAuthorization(provider=operation.provider, authorization_id=operation.provider_ref,
                                             amount=operation.amount, currency=operation.currency,
                                             multicapture=operation.multicapture, customer_ref=customer_ref)
        if operation.status == "pending" and result is not None and result.status == "requires_action":
            return authorization.model_copy(update={"status": "requires_action", "client_secret": result.client_secret,
                                                    "next_action_url": result.next_action_url})
        return authorization

    async def confirm(self, authorization: PaymentAuthorization, idempotency_key: str) -> PaymentAuthorization:
        """After 3-D Secure: ask the provider, and settle our pending authorize operation."""
        async with self.engine.connect() as conn:
            operation = await ledger.operation(conn, idempotency_key)
        if operation is not None and operation.status != "pending":
            _raise_if_failed(operation)
            return authorization.model_copy(update={"status": "authorized", "client_secret": None,
                                                    "multicapture": operation.multicapture})
        try:
            current = await self.gateway.retrieve(provider_ref=authorization.authorization_id)
        except DomainError as refused:
            async with self.engine.begin() as conn:
                operation = await ledger.complete(conn, idempotency_key, status="failed", error_code=refused.code,
                                                  error_message=refused.message)
            _raise_if_failed(operation)
        if current.status != "authorized":
            raise DomainError(f"payment is {current.status} after authentication", code="payment_not_authorized")
        async with self.engine.begin() as conn:
            await ledger.complete(conn, idempotency_key, status="succeeded", provider_ref=current.provider_ref,
                                  multicapture=current.multicapture)
        return authorization.model_copy(update={"status": "authorized", "client_secret": None,
                                                "multicapture": current.multicapture})

    async def void(self, payment_ref: str, authorization: PaymentAuthorization, idempotency_key: str) -> None:
        await self._operate(
            "void", payment_ref, authorization.amount, authorization.currency, idempotency_key,
            lambda: self.gateway.void(provider_ref=authorization.authorization_id, idempotency_key=idempotency_key),
            authorization_id=authorization.authorization_id,
        )

    async def capture(self, payment_ref: str, authorization: PaymentAuthorization, amount: int,
                      idempotency_key: str) -> str:
        async def capture():
            async with self.engine.connect() as conn:
                settled = await ledger.totals(conn, payment_ref, counted=("succeeded",))
            # Only a capture that completes the authorization is final (it releases the rest of the hold).
            # Captures still in flight do not count: two parcels capturing at once must not both finalize.
            final = not authorization.multicapture or settled.captured + amount >= authorization.amount
            return await self.gateway.capture(provider_ref=authorization.authorization_id, amount=amount,
                                              currency=authorization.currency, idempotency_key=idempotency_key,
                                              final=final)

        operation, _ = await self._operate("capture", payment_ref, amount, authorization.currency, idempotency_key,
                                           capture, authorization_id=authorization.authorization_id)
        return operation.provider_ref

    async def increment(self, payment_ref: str, authorization: PaymentAuthorization, new_amount: int,
                        idempotency_key: str) -> None:
        """Raise an uncaptured hold to ``new_amount`` (an order edit). The ledger records the increase as one
        more ``authorize`` of the same payment (its authorized total is the sum), under the edit's own key."""
        await self._operate(
            "authorize", payment_ref, new_amount - authorization.amount, authorization.currency, idempotency_key,
            lambda: self.gateway.increment_authorization(provider_ref=authorization.authorization_id,
                                                         amount=new_amount, currency=authorization.currency,
                                                         idempotency_key=idempotency_key),
            authorization_id=authorization.authorization_id, increment_to=new_amount,
        )

    async def refund(self, payment_ref: str, authorization: PaymentAuthorization, amount: int,
                     idempotency_key: str) -> str:
        operation, _ = await self._operate(
            "refund", payment_ref, amount, authorization.currency, idempotency_key,
            lambda: self.gateway.refund(provider_ref=authorization.authorization_id, amount=amount,
                                        currency=authorization.currency, idempotency_key=idempotency_key),
            authorization_id=authorization.authorization_id,
        )
        return operation.provider_ref

    async def charge_off_session(self, payment_ref: str, customer_ref: str, payment_method: str, amount: int,
                                 currency: str, idempotency_key: str) -> PaymentAuthorization:
        """Charge a saved method with nobody at the keyboard (kind ``charge``: captured at once)."""
        operation, _ = await self._operate(
            "charge", payment_ref, amount, currency, idempotency_key,
            lambda: self.gateway.charge_off_session(customer_ref=customer_ref, payment_method=payment_method,
                                                    amount=amount, currency=currency,
                                                    idempotency_key=idempotency_key, reference=payment_ref),
            customer_ref=customer_ref, payment_method=payment_method,
        )
        if operation.status == "pending":  # the issuer wants 3-D Secure: impossible with nobody at the keyboard
            async with self.engine.begin() as conn:
                await ledger.complete(conn, idempotency_key, status="failed", provider_ref=operation.provider_ref,
                                      error_code="authentication_required",
                                      error_message="the card holder must authenticate this payment")
            raise PaymentDeclined("the card holder must authenticate this payment", code="authentication_required")
        return PaymentAuthorization(provider=operation.provider, authorization_id=operation.provider_ref,
                                    amount=operation.amount, currency=operation.currency, status="captured")

    async def abandon_authorization(self, idempotency_key: str) -> None:
        async with self.engine.begin() as conn:
            if await ledger.operation(conn, idempotency_key) is not None:
                await ledger.complete(conn, idempotency_key, status="failed", error_code="provider_unavailable",
                                      error_message="the provider did not answer within the checkout's budget")

    async def settle_unanswered_authorization(self, payment_ref: str, idempotency_key: str, void_key: str) -> str:
        """Someone gave up on an authorization the provider never answered: ask the provider (same key and
        reference) what it did, release a hold it made (``void_key``) and settle our ledger accordingly.

        Returns ``nothing_held`` (it never acted, or refused), ``released`` (a hold was found and voided) or
        ``unsettled`` (it still cannot tell: the entry stays pending for reconciliation)."""
        async with self.engine.connect() as conn:
            operation = await ledger.operation(conn, idempotency_key)
        if operation is None or operation.status == "failed":
            return "nothing_held"  # never reached the provider, or it said no
        if operation.status == "pending":
            try:
                found = await self.gateway.lookup(kind="authorize", idempotency_key=idempotency_key,
                                                  reference=payment_ref, provider_ref=operation.provider_ref)
            except Exception as unknown:  # noqa: BLE001 - any trouble here means "cannot tell yet", never "no"
                log.warning("unanswered authorization still unknown", payment_ref=payment_ref, error=str(unknown))
                return "unsettled"
            operation = await self._settle_looked_up(idempotency_key, found)
            if operation.status == "failed":
                return "nothing_held"
        held = PaymentAuthorization(provider=operation.provider, authorization_id=operation.provider_ref,
                                    amount=operation.amount, currency=operation.currency)
        try:
            await self.void(payment_ref, held, void_key)
        except DomainError as refused:  # the ledger shows the hold; reconciliation and ops take it from here
            log.error("could not release an unanswered authorization's hold", payment_ref=payment_ref,
                      code=refused.code)
            return "unsettled"
        return "released"

    async def _settle_looked_up(self, idempotency_key: str, found: PaymentResult | None):
        async with self.engine.begin() as conn:
            if found is None:
                return await ledger.complete(conn, idempotency_key, status="failed", error_code="provider_unavailable",
                                             error_message="the provider did not answer and has no record of it")
            # Whatever it is now (authorized, awaiting 3-D Secure, already voided), the provider made a hold.
            return await ledger.complete(conn, idempotency_key, status="succeeded", provider_ref=found.provider_ref)


def _plain_authorization_hash(amount: int, currency: str, payment_method: str) -> str:
    """What an authorization without a saved card hashes to in the ledger."""
    return ledger.request_hash(kind="authorize", amount=amount, currency=currency, payment_method=payment_method)


def _raise_if_failed(operation) -> None:
    if operation.status == "failed":
        error = PaymentDeclined if operation.error_code == PaymentDeclined.code else DomainError
        raise error(operation.error_message or "the payment provider refused the operation",
                    code=operation.error_code)

"""The payment activities: thin Temporal entry points over ``PaymentService`` (the ledger and the gateway).

Activity names are those of the methods and must not change: saved histories replay by name."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import activity

from activities import quoting
from activities.errors import raises_business_errors
from activities.payments_service import PaymentService
from models.commerce import PaymentAuthorization
from models.payments import checkout_authorization_key, reauthorized_order


class PaymentActivities:
    def __init__(self, service: PaymentService):
        self.service = service

    @activity.defn
    @raises_business_errors
    async def authorize_payment(self, payment_ref: str, amount: int, currency: str, payment_method: str,
                                idempotency_key: str) -> PaymentAuthorization:
        # Heartbeats from the start, not only around the provider call: an attempt waiting for a database
        # connection (a drained pool) must not look dead to the server, which would start a second attempt that
        # meets this one's request at the provider under the same key.
        return await heartbeating(lambda: self._authorize(payment_ref, amount, currency, payment_method,
                                                          idempotency_key))

    async def _authorize(self, payment_ref: str, amount: int, currency: str, payment_method: str,
                         idempotency_key: str) -> PaymentAuthorization:
        renewed_order = reauthorized_order(payment_ref)
        if renewed_order is not None:  # an order's re-authorization: off session, through the card's customer
            return await self.service.authorize_order_card(renewed_order, payment_ref, amount, currency,
                                                           payment_method, idempotency_key)
        if idempotency_key == checkout_authorization_key(payment_ref):
            # Before anything is held: a checkout started with a quote or expected_total fails price_changed.
            await quoting.hold_to_agreed_total(self.service.engine, payment_ref, amount, currency)
            # The card is saved for the order's later charges here, inside this one activity: the checkout
            # workflow keeps its commands.
            return await self.service.authorize_saving_card(payment_ref, amount, currency, payment_method,
                                                            idempotency_key)
        return await self.service.authorize(payment_ref, amount, currency, payment_method, idempotency_key)

    @activity.defn
    @raises_business_errors
    async def confirm_authorization(self, authorization: PaymentAuthorization,
                                    idempotency_key: str) -> PaymentAuthorization:
        return await self.service.confirm(authorization, idempotency_key)

    @activity.defn
    @raises_business_errors
    async def void_authorization(self, payment_ref: str, authorization: PaymentAuthorization,
                                 idempotency_key: str) -> None:
        await self.service.void(payment_ref, authorization, idempotency_key)

    @activity.defn
    @raises_business_errors
    async def capture_payment(self, payment_ref: str, authorization: PaymentAuthorization, amount: int,
                              idempotency_key: str) -> str:
        return await self.service.capture(payment_ref, authorization, amount, idempotency_key)

    @activity.defn
    @raises_business_errors
    async def refund_payment(self, payment_ref: str, authorization: PaymentAuthorization, amount: int,
                             idempotency_key: str) -> str:
        return await self.service.refund(payment_ref, authorization, amount, idempotency_key)

    @activity.defn
    async def abandon_authorization(self, idempotency_key: str) -> None:
        """Checkouts before ``look-up-unanswered-authorization`` closed an unanswered authorization as failed
        without asking the provider; kept only so that their histories replay."""
        await self.service.abandon_authorization(idempotency_key)

    @activity.defn
    @raises_business_errors
    async def settle_unanswered_authorization(self, payment_ref: str, idempotency_key: str, void_key: str) -> str:
        return await self.service.settle_unanswered_authorization(payment_ref, idempotency_key, void_key)


async def heartbeating(call: Callable[[], Awaitable[Any]], every: float = 2.0) -> Any:
    """Heartbeat while a (possibly slow) provider call runs, so that a worker dying mid-call is noticed
    within the activity's heartbeat timeout instead of its whole start-to-close timeout."""
    if not activity.in_activity():
        return await call()

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    beater = asyncio.create_task(beat())
    try:
        return await call()
    finally:
        beater.cancel()

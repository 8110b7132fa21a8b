"""``orderflow simulate …``: make the carrier or the card network act, then tell the store by webhook.

Each action changes the local provider's own books first (a challenge answered, a dispute opened)
and then sends the event the real provider would send, signed, to the API, which verifies it,
deduplicates it in its inbox and signals the workflow: the same path as production. Event ids
are derived from the change, so sending one again is a duplicate the inbox drops.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.local.card_network import CardNetwork, event_id
from adapters.local.shipping import CARRIER, EASYPOST_STATUSES
from db.tables import orders, payment_operations, shipments
from models.errors import DomainError
from simulate.webhooks import Sent, WebhookSender

DISPUTE_ACTIONS = ("open", "won", "lost")


def tracking_event_id(tracking_code: str, status: str) -> str:
    """One event per parcel and status: the automatic carrier and the CLI never deliver it twice."""
    return event_id(f"{tracking_code}:{status}")


class Simulator:
    def __init__(self, engine: AsyncEngine, sender: WebhookSender) -> None:
        self.engine = engine
        self.sender = sender
        self.cards = CardNetwork(engine)

    # -- carrier -----------------------------------------------------------------------------

    async def tracking(self, shipment_id: str, status: str) -> list[Sent]:
        if status not in EASYPOST_STATUSES:
            raise DomainError(f"unknown tracking status {status!r}; one of {', '.join(EASYPOST_STATUSES)}",
                              code="unknown_tracking_status")
        code = await self._tracking_code(shipment_id)
        return [await self.sender.tracking(code, status, tracking_event_id(code, status), shipment_id)]

    async def deliver(self, shipment_id: str) -> list[Sent]:
        return await self.tracking(shipment_id, "delivered")

    async def _tracking_code(self, shipment_id: str) -> str:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(shipments.c.tracking_code, shipments.c.carrier)
                                      .where(shipments.c.id == shipment_id))).first()
        if row is None:
            raise DomainError(f"no shipment {shipment_id}", code="shipment_not_found")
        if row.tracking_code is None:
            raise DomainError(f"shipment {shipment_id} has no label yet: mark it packed first "
                              f"(POST /shipments/{shipment_id}/packed)", code="shipment_not_labelled")
        if row.carrier != CARRIER:
            raise DomainError(f"shipment {shipment_id} travels with {row.carrier}, not the local carrier",
                              code="not_a_local_parcel")
        return row.tracking_code

    # -- card holder and bank ----------------------------------------------------------------

    async def three_d_secure(self, checkout_id: str, *, succeed: bool) -> list[Sent]:
        """The card holder answers the challenge; Stripe then says so by webhook."""
        intent = await self.cards.answer_challenge(await self._checkout_intent(checkout_id), succeeded=succeed)
        obj = _payment_intent(intent)
        if succeed:
            return [await self.sender.stripe("payment_intent.amount_capturable_updated", obj, intent["event_id"],
                                             checkout_id)]
        obj.update(status="requires_payment_method", amount_capturable=0, last_payment_error={
            "code": "payment_intent_authentication_failure", "type": "card_error",
            "message": "The provided PaymentMethod has failed authentication."})
        return [await self.sender.stripe("payment_intent.payment_failed", obj, intent["event_id"], checkout_id)]

    async def dispute(self, order_id: str, action: str) -> list[Sent]:
        """Open a dispute on the order's charge, or close the open one won or lost (Stripe's events)."""
        if action not in DISPUTE_ACTIONS:
            raise DomainError(f"unknown dispute action {action!r}", code="unknown_dispute_action")
        intents = await self.cards.intents(await self._order_intents(order_id))
        if action == "open":
            charged = [i for i in intents if i["amount_captured"] > i["amount_refunded"]]
            if not charged:
                raise DomainError(f"order {order_id} has no captured charge to dispute yet: ship it first",
                                  code="nothing_to_dispute")
            dispute = await self.cards.open_dispute(charged[-1]["id"], f"dp_{uuid.uuid4().hex[:24]}")
            events = ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
        else:
            dispute = await self._close(order_id, intents, won=action == "won")
            events = ["charge.dispute.funds_reinstated", "charge.dispute.closed"] if action == "won" else \
                ["charge.dispute.closed"]
        obj = _dispute(dispute)
        return [await self.sender.stripe(kind, obj, event_id(f"{dispute['id']}:{kind}"), order_id) for kind in events]

    async def _close(self, order_id: str, intents: list[dict], *, won: bool) -> dict:
        for intent in reversed(intents):
            try:
                return await self.cards.close_dispute(intent["id"], won=won)
            except DomainError as error:
                if error.code != "no_open_dispute":
                    raise
        raise DomainError(f"no dispute is open on order {order_id}: open one first (--open)", code="no_open_dispute")

    async def refund_failed(self, order_id: str) -> list[Sent]:
        """The order's latest refund bounces; Stripe sends ``refund.failed``."""
        refund_id = await self._latest_refund(order_id)
        for intent_id in reversed(await self._order_intents(order_id)):
            try:
                refund = await self.cards.fail_refund(intent_id, refund_id)
            except DomainError as error:
                if error.code in ("no_such_refund", "payment_intent_missing"):
                    continue
                raise
            obj = {"id": refund["id"], "object": "refund", "amount": refund["amount"],
                   "currency": refund["currency"].lower(), "payment_intent": intent_id, "status": "failed",
                   "failure_reason": refund["failure_reason"]}
            return [await self.sender.stripe("refund.failed", obj, event_id(f"{refund_id}:failed"), order_id)]
        raise DomainError(f"refund {refund_id} is not known to the card simulator", code="no_such_refund")

    # -- the store's records that name the provider's objects --------------------------------

    async def _checkout_intent(self, checkout_id: str) -> str:
        async with self.engine.connect() as conn:
            ref = (await conn.execute(select(payment_operations.c.provider_ref).where(
                payment_operations.c.payment_ref == checkout_id, payment_operations.c.kind == "authorize")
                .order_by(payment_operations.c.created_at))).scalars().first()
        if ref is None:
            raise DomainError(f"checkout {checkout_id} has no card authorization waiting (yet)",
                              code="no_challenge_pending")
        return ref

    async def _order_intents(self, order_id: str) -> list[str]:
        """The order's intents at the card simulator, oldest first (a re-authorization adds one)."""
        refs = await self._order_operations(order_id, ("authorize", "charge"))
        return list(dict.fromkeys(ref for ref in refs if ref))

    async def _latest_refund(self, order_id: str) -> str:
        refunds = await self._order_operations(order_id, ("refund",))
        if not refunds:
            raise DomainError(f"order {order_id} has no refund to fail", code="no_such_refund")
        return refunds[-1]

    async def _order_operations(self, order_id: str, kinds: tuple[str, ...]) -> list[str]:
        """Provider refs of the order's succeeded payment operations of these kinds, oldest first."""
        async with self.engine.connect() as conn:
            order = (await conn.execute(select(orders.c.payment_ref, orders.c.checkout_id)
                                        .where(orders.c.id == order_id))).first()
            if order is None:
                raise DomainError(f"no order {order_id}", code="order_not_found")
            return list((await conn.execute(select(payment_operations.c.provider_ref).where(
                payment_operations.c.payment_ref.in_({order.payment_ref, order.checkout_id}),
                payment_operations.c.kind.in_(kinds), payment_operations.c.status == "succeeded")
                .order_by(payment_operations.c.created_at))).scalars().all())


def _payment_intent(intent: dict) -> dict:
    return {"id": intent["id"], "object": "payment_intent", "amount": intent["amount"],
            "amount_capturable": intent["amount"], "currency": intent["currency"].lower(), "capture_method": "manual",
            "status": intent["status"], "metadata": {"reference": intent["reference"]}}


def _dispute(dispute: dict) -> dict:
    return {"id": dispute["id"], "object": "dispute", "amount": dispute["amount"],
            "currency": dispute["currency"].lower(), "payment_intent": dispute["intent_id"],
            "charge": "ch_" + dispute["intent_id"].removeprefix("lpi_"), "reason": dispute["reason"],
            "status": dispute["status"]}

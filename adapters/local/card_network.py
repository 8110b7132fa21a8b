"""What the outside world does to the local card simulator's intents: the card holder answers a
3-D Secure challenge, the bank opens and closes a dispute, a refund bounces.

These are the simulator's own books changing, as Stripe's change when those things happen; the
store hears of them only through signed webhooks (``simulate.world``). Each change is recorded
once under a key in ``local_card_requests`` (the simulator's memory), so asking for the same
change again answers the first outcome, and a contradicting one is refused as Stripe would:
a challenge is answered once, a dispute needs a captured charge and closes once, a refund
fails only after it went out.
"""

import hashlib

from adapters.local.card_store import PostgresCardStore
from models.errors import Conflict, DomainError


def event_id(key: str) -> str:
    """A Stripe-looking event id, the same for the same change (the store's inbox drops repeats)."""
    return f"evt_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class CardNetwork:
    def __init__(self, engine) -> None:
        self.store = PostgresCardStore(engine)

    async def answer_challenge(self, intent_id: str, *, succeeded: bool) -> dict:
        """The card holder completes (or fails) 3-D Secure on an authorization waiting for it."""
        key = f"{intent_id}:3ds"
        outcome = "succeeded" if succeeded else "failed"
        async with self.store.locked(intent_id) as book:
            intent = await _intent(book, intent_id)
            if (first := await book.request(key)) is not None:
                if first["answer"]["outcome"] != outcome:
                    raise Conflict(f"the challenge of {intent_id} was already answered: "
                                   f"{first['answer']['outcome']}", code="challenge_already_answered")
                return {**intent, **first["answer"]}
            if intent["status"] != "requires_action" or intent["kind"] != "authorize":
                raise DomainError(f"payment intent {intent_id} is {intent['status']}, not waiting for 3-D Secure",
                                  code="no_challenge_pending")
            if succeeded:  # a failed challenge leaves it unconfirmed: the store voids it
                intent["status"] = "requires_capture"
                await book.save_intent(intent)
            answer = {"outcome": outcome, "event_id": event_id(key)}
            await book.remember(key, request_hash=outcome, kind="3ds", intent_id=intent_id, answer=answer)
            return {**intent, **answer}

    async def open_dispute(self, intent_id: str, dispute_id: str, reason: str = "fraudulent") -> dict:
        """The card holder's bank disputes the captured charge (all of what is not refunded)."""
        async with self.store.locked(intent_id) as book:
            intent = await _intent(book, intent_id)
            disputed = intent["amount_captured"] - intent["amount_refunded"]
            if disputed <= 0:
                raise DomainError(f"payment intent {intent_id} has no captured charge to dispute",
                                  code="nothing_to_dispute")
            if await self._open(book, intent_id):
                raise Conflict(f"a dispute is already open on {intent_id}", code="dispute_already_open")
            dispute = {"id": dispute_id, "intent_id": intent_id, "amount": disputed, "currency": intent["currency"],
                       "reason": reason, "status": "needs_response"}
            await book.remember(f"{dispute_id}:opened", request_hash=dispute_id, kind="dispute_opened",
                                intent_id=intent_id, answer=dispute)
            return dispute

    async def close_dispute(self, intent_id: str, *, won: bool) -> dict:
        """The bank decides the open dispute on this intent."""
        async with self.store.locked(intent_id) as book:
            await _intent(book, intent_id)
            open_disputes = await self._open(book, intent_id)
            if not open_disputes:
                raise DomainError(f"no dispute is open on {intent_id}", code="no_open_dispute")
            dispute = {**open_disputes[-1], "status": "won" if won else "lost"}
            await book.remember(f"{dispute['id']}:closed", request_hash=dispute["status"], kind="dispute_closed",
                                intent_id=intent_id, answer=dispute)
            return dispute

    async def fail_refund(self, intent_id: str, refund_id: str) -> dict:
        """A refund that went out bounces (closed card): the money comes back to the merchant."""
        key = f"{refund_id}:failed"
        async with self.store.locked(intent_id) as book:
            intent = await _intent(book, intent_id)
            if (first := await book.request(key)) is not None:
                return first["answer"]
            refunded = [row["answer"]["result"] for row in await book.requests_for(intent_id, "refund")
                        if "result" in row["answer"] and row["answer"]["result"]["provider_ref"] == refund_id]
            if not refunded:
                raise DomainError(f"no refund {refund_id} went out on {intent_id}", code="no_such_refund")
            intent["amount_refunded"] -= refunded[0]["amount"]
            await book.save_intent(intent)
            refund = {"id": refund_id, "intent_id": intent_id, "amount": refunded[0]["amount"],
                      "currency": intent["currency"], "status": "failed", "failure_reason": "expired_or_canceled_card"}
            await book.remember(key, request_hash=refund_id, kind="refund_failed", intent_id=intent_id, answer=refund)
            return refund

    async def intents(self, intent_ids: list[str]) -> list[dict]:
        """The simulator's view of these intents (unknown ids left out)."""
        found = []
        for intent_id in intent_ids:
            async with self.store.locked(intent_id) as book:
                if (intent := await book.intent(intent_id)) is not None:
                    found.append(intent)
        return found

    @staticmethod
    async def _open(book, intent_id: str) -> list[dict]:
        opened = await book.requests_for(intent_id, "dispute_opened")
        closed = {row["answer"]["id"] for row in await book.requests_for(intent_id, "dispute_closed")}
        return [row["answer"] for row in opened if row["answer"]["id"] not in closed]


async def _intent(book, intent_id: str) -> dict:
    intent = await book.intent(intent_id)
    if intent is None:
        raise DomainError(f"no such payment intent: {intent_id}", code="payment_intent_missing")
    return intent

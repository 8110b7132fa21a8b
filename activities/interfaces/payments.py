"""What the workflows may know of ``activities.payments``: names and types, no implementation."""

from temporalio import activity

from models.commerce import PaymentAuthorization
from models.payments import UNANSWERED_AUTHORIZATION_MESSAGES


class PaymentActivities:
    UNANSWERED_MESSAGES = UNANSWERED_AUTHORIZATION_MESSAGES

    @activity.defn
    async def authorize_payment(self, payment_ref: str, amount: int, currency: str, payment_method: str,
                                idempotency_key: str) -> PaymentAuthorization:
        ...

    @activity.defn
    async def confirm_authorization(self, authorization: PaymentAuthorization,
                                    idempotency_key: str) -> PaymentAuthorization:
        ...

    @activity.defn
    async def void_authorization(self, payment_ref: str, authorization: PaymentAuthorization,
                                 idempotency_key: str) -> None:
        ...

    @activity.defn
    async def capture_payment(self, payment_ref: str, authorization: PaymentAuthorization, amount: int,
                              idempotency_key: str) -> str:
        ...

    @activity.defn
    async def refund_payment(self, payment_ref: str, authorization: PaymentAuthorization, amount: int,
                             idempotency_key: str) -> str:
        ...

    @activity.defn
    async def abandon_authorization(self, idempotency_key: str) -> None:
        ...

    @activity.defn
    async def settle_unanswered_authorization(self, payment_ref: str, idempotency_key: str, void_key: str) -> str:
        ...

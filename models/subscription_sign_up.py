"""Sign-up of a subscription at the payment provider: the customer holding its saved payment method."""

from pydantic import BaseModel, ConfigDict


class SignUpRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    subscription_id: str
    email: str
    payment_method: str

    @property
    def idempotency_key(self) -> str:
        """Derived from the subscription: a retried sign-up finds the customer the first one created."""
        return f"{self.subscription_id}:customer"


class SignedUpCustomer(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: str
    customer_ref: str

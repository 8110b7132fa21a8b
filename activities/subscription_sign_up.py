"""The provider call of a subscription sign-up, as an activity (run by ``SubscriptionSignUpWorkflow``)."""

from temporalio import activity

from activities.errors import raises_business_errors
from adapters.ports import PaymentGateway
from models.subscription_sign_up import SignedUpCustomer, SignUpRequest


class SubscriptionSignUpActivities:
    def __init__(self, gateway: PaymentGateway):
        self.gateway = gateway

    @activity.defn
    @raises_business_errors
    async def create_payment_customer(self, request: SignUpRequest) -> SignedUpCustomer:
        """A provider customer holding the payment method (retried under the same idempotency key)."""
        customer = await self.gateway.create_customer(email=request.email, payment_method=request.payment_method,
                                                      idempotency_key=request.idempotency_key)
        return SignedUpCustomer(provider=self.gateway.name, customer_ref=customer.customer_ref)

"""What the workflows may know of ``activities.subscription_sign_up``: names and types, no implementation."""

from temporalio import activity

from models.subscription_sign_up import SignedUpCustomer, SignUpRequest


class SubscriptionSignUpActivities:
    @activity.defn
    async def create_payment_customer(self, request: SignUpRequest) -> SignedUpCustomer:
        ...

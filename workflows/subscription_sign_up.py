"""A subscription's sign-up at the payment provider, as a durable step before anything is recorded.

The API runs it and waits for its answer (id ``subscription-signup-<subscription id>``): the provider
call is retried under one idempotency key and shows in the Temporal UI, instead of running inside an
API request. A refusal (a bad card) fails the workflow with the provider's code; an unanswered provider
fails it with ``provider_unavailable`` once the budget is spent, and the client retries with its key.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.subscription_sign_up import SubscriptionSignUpActivities
    from models.subscription_sign_up import SignedUpCustomer, SignUpRequest
    from workflows.common import STEP_RETRY, failure_code

# The API waits on this: short enough for a client to get an answer, long enough to ride out a blip.
SIGN_UP_BUDGET = timedelta(seconds=30)


@workflow.defn
class SubscriptionSignUpWorkflow:
    @workflow.run
    async def run(self, request: SignUpRequest) -> SignedUpCustomer:
        try:
            return await workflow.execute_activity_method(
                SubscriptionSignUpActivities.create_payment_customer, request,
                start_to_close_timeout=timedelta(seconds=20), schedule_to_close_timeout=SIGN_UP_BUDGET,
                retry_policy=STEP_RETRY)
        except ActivityError as failure:
            code, message = failure_code(failure)
            raise ApplicationError(message, type=code, non_retryable=True) from None

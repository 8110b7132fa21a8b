"""Mail a customer a one-time sign-in link (id ``sign-in-link-<customer_id>-<minute>``: one per minute).

A workflow rather than a send from the API: the email provider is called only from activities, so a
provider blip is retried durably and the API answers at once.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sign_in_links import SignInLinkActivities
    from models.sign_in_links import LINK_TTL_MINUTES, SignInLinkRequest
    from workflows.common import STEP_RETRY


@workflow.defn
class SignInLinkWorkflow:
    @workflow.run
    async def run(self, request: SignInLinkRequest) -> bool:
        # Past the link's own lifetime a late email is useless: the shopper asks again.
        return await workflow.execute_activity_method(
            SignInLinkActivities.send_sign_in_link, request, start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(minutes=LINK_TTL_MINUTES // 2), retry_policy=STEP_RETRY)

"""Mail a draft order's invoice (id ``draft-invoice-<draft_id>-<quote_id>``: one per draft and quote).

A workflow rather than a send from the API: the email provider is called only from activities, so a provider
blip is retried durably and the API answers at once.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.draft_orders import DraftOrderActivities
    from models.draft_orders import InvoiceRequest
    from workflows.common import STEP_RETRY


@workflow.defn
class DraftInvoiceWorkflow:
    @workflow.run
    async def run(self, request: InvoiceRequest) -> str:
        # A day of retries: past that support sends it again (or calls the customer).
        return await workflow.execute_activity_method(
            DraftOrderActivities.send_draft_invoice, request, start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(days=1), retry_policy=STEP_RETRY)

"""The ops alert digest (id ``ops-alert-digest-<time>``, started by the ``ops-alert-digest`` Schedule).

A workflow rather than a cron in the API: the email provider is called only from activities, so a mail
server blip is retried durably, and the digest id (the workflow id) keeps a retry from mailing twice.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.ops_alerts import OpsAlertActivities
    from models.ops_alerts import OpsAlertInput
    from workflows.common import STEP_RETRY


@workflow.defn
class OpsAlertDigestWorkflow:
    @workflow.run
    async def run(self, request: OpsAlertInput) -> int:
        # Past an hour the next run's digest carries these items (db.ops_alerts.unnoticed).
        return await workflow.execute_activity_method(
            OpsAlertActivities.send_ops_alert_digest, args=[request, workflow.info().workflow_id],
            start_to_close_timeout=timedelta(seconds=60), schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=STEP_RETRY)

"""What the workflows may know of ``activities.ops_alerts``: names and types, no implementation."""

from temporalio import activity

from models.ops_alerts import OpsAlertInput


class OpsAlertActivities:
    @activity.defn
    async def send_ops_alert_digest(self, request: OpsAlertInput, digest_id: str) -> int:
        ...

"""Activity task-queue routing, decided by the worker deployment rather than by each workflow.

Provider-bound activities go to a task queue of their own so a worker pool there can carry the provider's
rate limit (``max_task_queue_activities_per_second`` is per task queue, cluster-wide). The worker installs
``ActivityRouting`` with the activity types to move; workflow code stays unchanged.

Deliberately not behind ``workflow.patched()``: replay compares an activity's id and type, not its task
queue (tests/integration/test_worker_lifecycle.py replays routed histories without routing and saved ones
with it), while a patch marker would make every checkout started with routing fail with a
non-determinism error on a worker without it, i.e. after PAYMENTS_TASK_QUEUE is unset or on a rollback.
"""

from collections.abc import Mapping

from temporalio import workflow
from temporalio.worker import (
    Interceptor, StartActivityInput, WorkflowInboundInterceptor, WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

class ActivityRouting(Interceptor):
    """``routes``: activity type name -> task queue. Activities that name a task queue themselves keep it."""

    def __init__(self, routes: Mapping[str, str]):
        self.routes = dict(routes)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        routes = self.routes

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle:
                queue = routes.get(input.activity)
                if queue and input.task_queue is None:
                    input.task_queue = queue
                return super().start_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound

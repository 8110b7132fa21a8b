"""With PAYMENTS_TASK_QUEUE, every activity that calls the payment provider runs on the payments task queue, under
its rate limit: not only the checkout's authorize/capture/void but refunds, renewal charges, re-authorizations,
an order edit's payment steps, an exchange's difference and reconciliation's look-ups and voids.

Which activities reach the provider is read from their code (a call on the PaymentService, the gateway, or
RefundService.issue, directly or through a helper of their class), so a new one cannot slip past unrouted."""

import asyncio
import inspect
import re
import uuid

from temporalio.api.enums.v1 import EventType

from api.app import create_app
from models import workflow_ids
from tests.conftest import api_client
from tests.integration.checkout_helpers import delivered_order, refund
from worker import build_activities, build_workers, serve_until
from workflows.routing import ActivityRouting

# A call that reaches the payment provider, however an activity class holds it.
PROVIDER_CALL = re.compile(r"self\.(payments|gateway|service)\.\w+\(|self\.refunds\.(issue|payments)\b|"
                           r"\bpayments\.(authorize|capture|void|refund|increment|charge_off_session)\(")
# What the scan must find at least (the money moved by support, returns, subscriptions, fulfillment, order edits,
# reconciliation): proof that it reads what it should.
KNOWN_PROVIDER_CALLERS = {"authorize_payment", "capture_payment", "void_authorization", "issue_refund",
                          "refund_return", "charge_exchange_difference", "refund_exchange_difference",
                          "charge_renewal", "save_payment_method", "create_payment_customer", "renew_authorization",
                          "raise_authorization", "refund_order_edit", "settle_operation", "void_orphan_hold"}


def reaches_provider(cls: type, name: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether method ``name`` of ``cls`` calls the payment provider, itself or through ``self._helpers``."""
    source = inspect.getsource(getattr(cls, name))
    if PROVIDER_CALL.search(source):
        return True
    helpers = {helper for helper in re.findall(r"self\.(_\w+)\(", source) if hasattr(cls, helper)} - seen
    return any(reaches_provider(cls, helper, seen | helpers) for helper in helpers)


def provider_callers(activities) -> set[str]:
    return {a.__temporal_activity_definition.name for a in activities
            if reaches_provider(type(a.__self__), a.__name__)}


def routed(workers) -> tuple[dict[str, str], set[str]]:
    """The main worker's routes, and the activity types the payments worker registers."""
    main, payments = (worker.config() for worker in workers)
    (routing,) = [i for i in main["interceptors"] if isinstance(i, ActivityRouting)]
    return routing.routes, {a.__temporal_activity_definition.name for a in payments["activities"]}


async def test_every_activity_calling_the_payment_provider_runs_on_the_payments_queue(settings, engine, temporal_env,
                                                                                      local_adapters):
    own = settings.model_copy(update={"task_queue": "main", "payments_task_queue": "payments"})
    activities = build_activities(engine, local_adapters)
    callers = provider_callers(activities)
    assert KNOWN_PROVIDER_CALLERS <= callers, KNOWN_PROVIDER_CALLERS - callers

    routes, registered = routed(build_workers(temporal_env.client, own, activities))

    assert {name for name in callers if routes.get(name) != "payments"} == set(), "called on the main queue"
    assert callers <= registered, "scheduled on the payments queue, where no worker runs them"
    assert set(routes) == registered, "every activity routed there is registered there, and only those"


async def test_a_support_refund_runs_on_the_payments_queue(settings, engine, temporal_env, role_keys, local_adapters):
    queue = f"routed-{uuid.uuid4().hex[:6]}"
    own = settings.model_copy(update={"task_queue": queue, "payments_task_queue": f"{queue}-payments"})
    stop = asyncio.Event()
    serving = asyncio.ensure_future(serve_until(build_workers(temporal_env.client, own,
                                                              build_activities(engine, local_adapters)), stop))
    api = api_client(create_app(own, engine=engine, temporal=temporal_env.client), role_keys["admin"])
    try:
        done, _ = await delivered_order(api, temporal_env, engine)
        answered = await refund(api, done["order_id"], {"amount": 500, "reason": "late"})
        assert answered.status_code in (200, 201), answered.text
        history = await temporal_env.client.get_workflow_handle(workflow_ids.support(done["order_id"])).fetch_history()
        queues = {event.activity_task_scheduled_event_attributes.activity_type.name:
                  event.activity_task_scheduled_event_attributes.task_queue.name
                  for event in history.events if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
        assert queues["issue_refund"] == f"{queue}-payments", queues
    finally:
        await api.aclose()
        stop.set()
        await asyncio.wait_for(serving, 60)

"""Tracing (tracing.py): one checkout is one trace, from the HTTP request to the workflow's activities."""

import uuid

import pytest_asyncio
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

import tracing
from api.app import create_app
from tests.conftest import api_client
from tests.factories import make_api_key, make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_body, start_checkout
from worker import build_worker

# The route, the workflow start, the workflow, a local step, a provider call and the order's creation.
EXPECTED_SPANS = {"POST /checkouts", "StartWorkflow:CheckoutWorkflow", "RunWorkflow:CheckoutWorkflow",
                  "RunActivity:prepare_checkout", "RunActivity:authorize_payment", "RunActivity:create_order"}


@pytest_asyncio.fixture(scope="module")
async def traced(temporal_env, engine, settings, local_adapters_module):
    """An API and a worker whose Temporal client carries the tracing interceptor, exporting in memory."""
    exporter = InMemorySpanExporter()
    provider = tracing.configure("orderflow-test", exporter=exporter)
    client = Client(**{**temporal_env.client.config(), "interceptors": tracing.temporal_interceptors(provider)})
    app = create_app(settings, engine=engine, temporal=client)
    tracing.instrument_api(app, provider)
    api = api_client(app, await make_api_key(engine, "admin"))
    async with build_worker(client, settings.task_queue, engine, local_adapters_module):
        yield api, client, exporter
    await api.aclose()


@pytest_asyncio.fixture(scope="module")
def local_adapters_module(tmp_path_factory):
    from adapters.factory import Adapters
    from adapters.local.email import OutboxEmailSender
    from adapters.local.payment import LocalPaymentGateway
    from adapters.local.shipping import LocalShippingCarrier
    from adapters.local.tax import LocalTaxCalculator

    return Adapters(payment=LocalPaymentGateway(), tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                    email=OutboxEmailSender(tmp_path_factory.mktemp("outbox")))


async def test_a_checkout_is_one_trace_from_request_to_order(traced, engine):
    api, client, exporter = traced
    sku = await make_sku(engine, price=1500, stock={await make_location(engine): 3})
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1})), key=str(uuid.uuid4()))
    assert started.status_code == 202, started.text
    workflow_id = f"checkout-{started.json()['checkout_id']}"
    assert (await client.get_workflow_handle(workflow_id).result())["status"] == "completed"

    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.name == "POST /checkouts" and s.parent is None)
    in_trace = [s for s in spans if s.context.trace_id == request.context.trace_id]
    names = {s.name for s in in_trace}
    assert EXPECTED_SPANS <= names, f"missing from the request's trace: {EXPECTED_SPANS - names}"
    of_checkout = [s for s in spans if s.attributes.get("temporalWorkflowID") == workflow_id]
    assert of_checkout and all(s.context.trace_id == request.context.trace_id for s in of_checkout), \
        "every span of the checkout's workflow belongs to the request's trace"

"""The production worker's lifecycle: SIGTERM drains running activities, the reservation sweep is a
Temporal Schedule, and payment activities can move to their own rate-limited task queue."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import ScheduleIntervalSpec, ScheduleSpec, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from api.app import create_app
from db import inventory
from tests.conftest import api_client
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_body, eventually, start_checkout
from tests.integration.test_replay import HISTORIES, replayer
from worker import WORKFLOWS, build_activities, build_workers, ensure_schedule, serve_until, sweep_schedule
from workflows.checkout import CheckoutWorkflow
from workflows.routing import ActivityRouting

ORDERFLOW = Path(sys.executable).parent / "orderflow"
# How long the local card simulator takes to authorize: long enough to send SIGTERM mid-activity.
SLOW_AUTHORIZATION_MS = 4000


def _worker_process(settings, temporal_env, tmp_path, **env) -> subprocess.Popen:
    environment = {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": settings.database_url,
                   "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
                   "TASK_QUEUE": settings.task_queue, "WORKER_METRICS_PORT": "0", "STATE_DIR": str(tmp_path),
                   "LOG_LEVEL": "INFO", **env}
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 (the process writes it; read on failure)
    return subprocess.Popen([str(ORDERFLOW), "worker"], env=environment, stdout=log, stderr=subprocess.STDOUT)


async def _pending_activity(handle, activity_type: str) -> bool:
    description = await handle.describe()
    return any(p.activity_type.name == activity_type for p in description.raw_description.pending_activities)


async def _exited(process: subprocess.Popen, seconds: float) -> int:
    """The process's exit code (an AssertionError after ``seconds``)."""
    await eventually(lambda: process.poll() is not None, seconds, interval=0.1, what="the worker to exit")
    return process.returncode


async def test_sigterm_lets_the_running_activity_finish(settings, engine, temporal_env, role_keys, tmp_path):
    """A deploy stops the old worker with SIGTERM while a card authorization is in flight: the worker
    stops polling but the authorization completes (no cancelled provider call left to reconcile)."""
    queue = f"drain-{uuid.uuid4().hex[:6]}"
    own = settings.model_copy(update={"task_queue": queue})
    process = _worker_process(own, temporal_env, tmp_path, LOCAL_PAYMENT_DELAY_MS=str(SLOW_AUTHORIZATION_MS),
                              WORKER_DRAIN_SECONDS="30")
    api = api_client(create_app(own, engine=engine, temporal=temporal_env.client), role_keys["admin"])
    try:
        sku = await make_sku(engine, price=1500, stock={await make_location(engine): 3})
        started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1})))
        handle = temporal_env.client.get_workflow_handle(f"checkout-{started.json()['checkout_id']}")
        assert await eventually(lambda: _pending_activity(handle, "authorize_payment"), 60), \
            (tmp_path / "worker.log").read_text()
        process.send_signal(signal.SIGTERM)
        assert await _exited(process, 60) == 0, (tmp_path / "worker.log").read_text()
        history = await handle.fetch_history()
        scheduled = {event.event_id for event in history.events
                     if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                     and event.activity_task_scheduled_event_attributes.activity_type.name == "authorize_payment"}
        completed = [event for event in history.events
                     if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                     and event.activity_task_completed_event_attributes.scheduled_event_id in scheduled]
        assert completed, "the authorization was cut off by the shutdown instead of finishing"
    finally:
        await api.aclose()
        if process.poll() is None:
            process.kill()
        process.wait()
        await _delete_schedules(temporal_env.client, queue)


async def replays_and_is_saved_as(history, name: str) -> None:
    """Replays on today's code (as tests/integration/test_replay.py does with saved histories); with
    RECORD_HISTORIES=1 a missing tests/histories/<name>.json is written."""
    result = await replayer().replay_workflow(history)
    assert result.replay_failure is None, name
    target = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
        target.write_text(history.to_json())


async def _delete_schedules(client, queue: str) -> None:
    """The worker created the reconciliation and sweep schedules for its queue: nobody polls it now."""
    async for listed in await client.list_schedules():
        handle = client.get_schedule_handle(listed.id)
        if (await handle.describe()).schedule.action.task_queue == queue:
            await handle.delete()


@pytest.mark.usefixtures("worker")
async def test_the_reservation_sweep_runs_as_a_schedule(settings, engine, temporal_env):
    location = await make_location(engine)
    sku = await make_sku(engine, stock={location: 4})
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await inventory.reserve(conn, f"sweep-{uuid.uuid4().hex[:6]}", {sku: 3}, now=now - timedelta(hours=1),
                                expires_at=now - timedelta(minutes=1))
    schedule_id = f"sweep-test-{uuid.uuid4().hex[:6]}"
    schedule = sweep_schedule(settings)
    schedule.spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))])
    await ensure_schedule(temporal_env.client, schedule_id, schedule)
    handle = temporal_env.client.get_schedule_handle(schedule_id)
    try:
        await handle.trigger()

        async def swept() -> bool:
            async with engine.connect() as conn:
                levels = await inventory.levels_for(conn, sku)
            return sum(level.reserved for level, _ in levels) == 0

        assert await eventually(swept, 60)
        (run,) = (await handle.describe()).info.recent_actions
        sweep = temporal_env.client.get_workflow_handle(run.action.workflow_id)
        assert await sweep.result() == 3
        await replays_and_is_saved_as(await sweep.fetch_history(), "reservation_sweep")
    finally:
        await handle.delete()


async def test_payment_activities_run_on_their_own_task_queue(settings, engine, temporal_env, role_keys,
                                                                local_adapters):
    queue = f"split-{uuid.uuid4().hex[:6]}"
    own = settings.model_copy(update={"task_queue": queue, "payments_task_queue": f"{queue}-payments",
                                      "payments_activities_per_second": 5.0})
    workers = build_workers(temporal_env.client, own, build_activities(engine, local_adapters))
    assert [w.task_queue for w in workers] == [queue, f"{queue}-payments"]
    main, payments = (worker.config() for worker in workers)
    # Both queues' activities share one process's slots (twice its pool: no connection is held across a
    # provider call): together never more than that.
    assert main["max_concurrent_activities"] + payments["max_concurrent_activities"] == own.activity_slots == \
        2 * (own.database_pool_size + own.database_max_overflow)
    assert payments["max_task_queue_activities_per_second"] == 5.0
    # Local activities draw on the same pool without taking a slot: bounded by the same number.
    assert main["max_concurrent_local_activities"] == own.activity_slots
    assert main["graceful_shutdown_timeout"] == timedelta(seconds=own.worker_drain_seconds)
    stop = asyncio.Event()
    serving = asyncio.ensure_future(serve_until(workers, stop))
    api = api_client(create_app(own, engine=engine, temporal=temporal_env.client), role_keys["admin"])
    try:
        sku = await make_sku(engine, price=900, stock={await make_location(engine): 3})
        started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1})))
        handle = temporal_env.client.get_workflow_handle_for(CheckoutWorkflow.run,
                                                             f"checkout-{started.json()['checkout_id']}")
        assert (await asyncio.wait_for(handle.result(), 60)).status == "completed"
        queues = {event.activity_task_scheduled_event_attributes.activity_type.name:
                  event.activity_task_scheduled_event_attributes.task_queue.name
                  for event in (await handle.fetch_history()).events
                  if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
        assert queues["authorize_payment"] == f"{queue}-payments"
        assert list(queues) == ["authorize_payment"]  # quotes and database steps run locally, in the worker
        await replays_and_is_saved_as(await handle.fetch_history(), "checkout_payments_task_queue")
    finally:
        await api.aclose()
        stop.set()
        await asyncio.wait_for(serving, 60)


async def test_saved_histories_replay_with_payment_routing_on():
    """Turning PAYMENTS_TASK_QUEUE on mid-flight: saved checkouts (scheduled on one queue) still replay.
    (The reverse, a routed history on a worker without routing, is checkout_payments_task_queue.json
    in tests/integration/test_replay.py.)"""
    routed = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter,
                      interceptors=[ActivityRouting({"authorize_payment": "elsewhere", "confirm_authorization": "x"})])
    for path in sorted(HISTORIES.glob("checkout_*.json")):
        result = await routed.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))
        assert result.replay_failure is None, path.stem


async def test_a_build_id_makes_a_versioned_worker_of_the_deployment(settings, engine, temporal_env, local_adapters):
    """WORKER_BUILD_ID: the workers join Worker Deployment WORKER_DEPLOYMENT_NAME as that build; once it is
    the current version, workflows run there and auto-upgrade (README runbook: deploy, promote, roll back)."""
    from temporalio.api.enums.v1 import VersioningBehavior as Behavior
    from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
    from temporalio.service import RPCError

    queue, deployment = f"versioned-{uuid.uuid4().hex[:6]}", f"orderflow-{uuid.uuid4().hex[:6]}"
    own = settings.model_copy(update={"task_queue": queue, "worker_build_id": "build-1",
                                      "worker_deployment_name": deployment})
    client = temporal_env.client
    stop = asyncio.Event()
    serving = asyncio.ensure_future(serve_until(build_workers(client, own, build_activities(engine, local_adapters)),
                                                stop))
    try:
        async def promoted() -> bool:  # possible once the build's pollers have reached the server
            try:
                await client.workflow_service.set_worker_deployment_current_version(
                    SetWorkerDeploymentCurrentVersionRequest(namespace=client.namespace, deployment_name=deployment,
                                                             build_id="build-1"))
                return True
            except RPCError:
                return False

        assert await eventually(promoted, 60)
        sweep = await client.start_workflow("ReservationSweepWorkflow", id=f"sweep-{uuid.uuid4().hex[:6]}",
                                            task_queue=queue)
        assert isinstance(await asyncio.wait_for(sweep.result(), 60), int)
        versioning = (await sweep.describe()).raw_description.workflow_execution_info.versioning_info
        assert versioning.behavior == Behavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
        assert (versioning.deployment_version.deployment_name, versioning.deployment_version.build_id) == \
            (deployment, "build-1")
    finally:
        stop.set()
        await asyncio.wait_for(serving, 60)

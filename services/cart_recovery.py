"""Abandoned-cart reminders from the store's side: start them when a cart gets an email, stop them at checkout.

Both are best effort: a cart or a checkout never fails because the reminder workflow could not be
reached (the reminder activity re-checks the cart before every email anyway).
"""

import structlog
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from config import Settings
from models import workflow_ids
from models.cart_recovery import AbandonedCartInput
from workflows import search_attributes as sa
from workflows.abandoned_cart import AbandonedCartWorkflow

log = structlog.get_logger("orderflow.services.cart_recovery")


async def start_reminders(temporal: Client, settings: Settings, cart_id: str, email: str) -> None:
    """Idempotent: a cart already (or once) followed keeps its one series of reminders."""
    if not settings.cart_reminder_delays_seconds:
        return
    try:
        await temporal.start_workflow(
            AbandonedCartWorkflow.run,
            AbandonedCartInput(cart_id=cart_id, reminder_delays_seconds=tuple(settings.cart_reminder_delays_seconds)),
            id=workflow_ids.cart_reminders(cart_id), task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([SearchAttributePair(sa.CART_ID, cart_id),
                                                     SearchAttributePair(sa.CUSTOMER_EMAIL, email)]),
            static_summary=f"Abandoned-cart reminders for cart {cart_id}",
        )
    except WorkflowAlreadyStartedError:
        pass
    except Exception as error:  # noqa: BLE001 (best effort, see the module docstring)
        log.warning("cart reminders not started", cart_id=cart_id, error=str(error))


async def stop_reminders(temporal: Client, cart_id: str) -> None:
    """Tell the cart's reminder workflow that a checkout started; no workflow is fine."""
    try:
        handle = temporal.get_workflow_handle(workflow_ids.cart_reminders(cart_id))
        await handle.signal(AbandonedCartWorkflow.cart_checked_out)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: never started, or already finished
            log.warning("cart reminders not stopped", cart_id=cart_id, error=str(error))
    except Exception as error:  # noqa: BLE001 (best effort, see the module docstring)
        log.warning("cart reminders not stopped", cart_id=cart_id, error=str(error))

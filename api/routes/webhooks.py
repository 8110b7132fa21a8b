"""Provider webhooks: verify, deduplicate in the inbox, turn into workflow signals.

A redelivered event is answered 200 without acting again. If Temporal cannot take the
signal, the inbox row is rolled back and we answer 503 so the provider retries.
"""

from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Request
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import AppSettings, Engine, Temporal
from api.errors import ApiError
from db import refund_bounces
from db import fulfillment as shipments
from db import webhooks as inbox
from models import workflow_ids
from models.commerce import DisputeNotice
from models.disputes import UPDATE_KINDS, DisputeUpdate
from models.fulfillment import TrackingEvent
from workflows import search_attributes as sa
from workflows.checkout import CheckoutWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.shipment import ShipmentWorkflow

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = structlog.get_logger("orderflow.webhooks")

EASYPOST_STATUSES = {
    "pre_transit": "pre_transit", "in_transit": "in_transit", "available_for_pickup": "in_transit",
    "out_for_delivery": "out_for_delivery", "delivered": "delivered", "return_to_sender": "returned",
    "failure": "failure", "error": "failure", "cancelled": "failure",
}


def _secret(value, provider: str) -> str:
    if value is None:
        raise ApiError(503, "webhook_not_configured", f"{provider} webhooks are not configured here")
    return value.get_secret_value()


@router.post("/stripe")
async def stripe_webhook(request: Request, engine: Engine, temporal: Temporal, settings: AppSettings) -> dict:
    from adapters.stripe_payment import parse_webhook

    event = parse_webhook(await request.body(), request.headers.get("stripe-signature"),
                          _secret(settings.stripe_webhook_secret, "Stripe"))
    return await _process(engine, temporal, settings, "stripe", event["id"], event["type"], event, _stripe_action)


@router.post("/easypost")
async def easypost_webhook(request: Request, engine: Engine, temporal: Temporal, settings: AppSettings) -> dict:
    from adapters.easypost_shipping import parse_webhook

    event = parse_webhook(await request.body(), request.headers.get("x-hmac-signature"),
                          _secret(settings.easypost_webhook_secret, "EasyPost"))
    return await _process(engine, temporal, settings, "easypost", event["id"], event.get("description", ""), event,
                          _easypost_action)


async def _process(engine, temporal, settings, provider, event_id, event_type, event, action) -> dict:
    bound = log.bind(provider=provider, event_id=event_id, event_type=event_type)
    async with engine.begin() as conn:
        if not await inbox.claim(conn, provider, event_id, event_type, event):
            bound.info("duplicate webhook ignored")
            return {"status": "duplicate"}
        outcome = await action(conn, temporal, settings, event)
        await inbox.settle(conn, provider, event_id, outcome)
    bound.info("webhook processed", outcome=outcome)
    return {"status": outcome}


async def _signal(temporal: Client, workflow_id: str, signal, *args) -> str:
    try:
        await temporal.get_workflow_handle(workflow_id).signal(signal, *args)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return "workflow_closed"
        raise
    return "signalled"


async def _stripe_action(conn, temporal: Client, settings, event: dict) -> str:
    kind, obj = event["type"], event["data"]["object"]
    if kind in ("payment_intent.amount_capturable_updated", "payment_intent.succeeded",
                "payment_intent.payment_failed"):
        payment_ref = await inbox.payment_ref_for(conn, obj["id"])
        if payment_ref is None:
            return "unknown_payment"
        signal = (CheckoutWorkflow.payment_authentication_failed if kind.endswith("payment_failed")
                  else CheckoutWorkflow.payment_authenticated)
        return await _signal(temporal, workflow_ids.checkout(payment_ref), signal)
    if kind in DISPUTE_EVENTS:
        return await _dispute(conn, temporal, settings, obj, DISPUTE_EVENTS[kind])
    if kind in REFUND_EVENTS and obj.get("status") == "failed":
        return await refund_bounces.record(conn, obj["id"], obj.get("failure_reason") or "unknown")
    return "ignored"


# A refund Stripe accepted and the card network later sent back (newer API versions send refund.failed).
REFUND_EVENTS = ("refund.failed", "charge.refund.updated", "refund.updated")

# What each Stripe dispute event tells the dispute workflow (None: it opened; "closed": its status says how).
DISPUTE_EVENTS = {"charge.dispute.created": None, "charge.dispute.closed": "closed",
                  "charge.dispute.funds_withdrawn": "funds_withdrawn",
                  "charge.dispute.funds_reinstated": "funds_reinstated"}


async def _dispute(conn, temporal: Client, settings, dispute: dict, update_kind: str | None) -> str:
    """Start the dispute's workflow (any event may be the first we get) and pass it the update, if any."""
    payment_ref = await inbox.payment_ref_for_dispute(conn, [dispute.get("payment_intent"), dispute.get("charge")])
    order_id = await inbox.order_for_payment(conn, payment_ref) if payment_ref else None
    if order_id is None:
        return "unknown_payment"
    notice = DisputeNotice(dispute_id=dispute["id"], order_id=order_id, amount=int(dispute.get("amount", 0)),
                           currency=str(dispute.get("currency", "")).upper(), reason=dispute.get("reason") or "unknown")
    update = None
    if update_kind is not None:
        kind = dispute.get("status") if update_kind == "closed" else update_kind
        if kind not in UPDATE_KINDS:
            return "ignored"
        update = DisputeUpdate(dispute_id=notice.dispute_id, kind=kind)
    try:
        await temporal.start_workflow(
            DisputeWorkflow.run, notice, id=workflow_ids.dispute(notice.dispute_id), task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal="dispute_updated" if update else None, start_signal_args=[update] if update else [],
            search_attributes=sa.of_order(order_id),
            static_summary=f"Dispute {notice.dispute_id} on order {order_id}: {notice.reason}",
            memo={"order_id": order_id, "amount": notice.amount, "currency": notice.currency, "reason": notice.reason},
        )
    except WorkflowAlreadyStartedError:  # it ended: the dispute is closed, a late event changes nothing
        return "dispute_closed"
    return "dispute_recorded" if update is None else f"dispute_{update.kind}"


async def _easypost_action(conn, temporal: Client, settings, event: dict) -> str:
    if event.get("description") not in ("tracker.updated", "tracker.created"):
        return "ignored"
    tracker = event.get("result") or {}
    status = EASYPOST_STATUSES.get(tracker.get("status", ""))
    shipment = await shipments.shipment_for_tracking_code(conn, tracker.get("tracking_code") or "")
    if shipment is None:
        return "unknown_tracking_code"
    if status is None:
        return "ignored"
    details = tracker.get("tracking_details") or []
    occurred = (details[-1].get("datetime") if details else None) or event.get("created_at")
    tracking = TrackingEvent(event_id=event["id"], status=status, detail=(details[-1].get("message") if details else None),
                             occurred_at=datetime.fromisoformat(occurred.replace("Z", "+00:00")) if occurred
                             else datetime.now(UTC))
    return await _signal(temporal, shipment.workflow_id, ShipmentWorkflow.tracking_update, tracking)

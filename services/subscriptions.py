"""Subscriptions: sign-up (idempotent; the provider call is a workflow of its own) and the customer's
actions, run as the subscription workflow's validated updates.

An action reads the subscription, calls the workflow's update with no connection held, then writes the
audit row (only if the workflow took it).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import structlog
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import (
    SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError

from db import audit, catalog, claims, customers
from db import subscription_plans as plans
from db import subscriptions as store
from models import workflow_ids
from models.auth import Caller
from models.commerce import Address
from models.errors import DomainError
from models.ids import public_id
from models.subscription_sign_up import SignedUpCustomer, SignUpRequest
from models.subscriptions import (
    ChangeRequest, Interval, Schedule, SubscriptionEvent, SubscriptionLine, SubscriptionPlan, SubscriptionPolicy,
    SubscriptionState, next_period, next_renewal, renewal_at,
)
from services import workflow_calls
from services.deps import Deps
from services.errors import Refused
from workflows import search_attributes as sa
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_sign_up import SubscriptionSignUpWorkflow

log = structlog.get_logger("orderflow.services.subscriptions")
ID_NAMESPACE = uuid.UUID("3d8f5a61-2c4e-4f7b-8a90-6b1c2d3e4f50")
UNPROCESSABLE = {"invalid_pause_until", "invalid_payment_method", "payment_declined"}
# The customer's actions: the workflow update each one runs.
ACTIONS = {
    "pause": SubscriptionWorkflow.pause, "resume": SubscriptionWorkflow.resume, "skip": SubscriptionWorkflow.skip_next,
    "cancel": SubscriptionWorkflow.cancel, "change": SubscriptionWorkflow.change,
    "payment_method": SubscriptionWorkflow.update_payment_method,
}


@dataclass(frozen=True)
class CreateSubscription:
    idempotency_key: str
    request_hash: str  # of the request body: the same key with another body is refused
    email: str
    payment_method: str
    shipping_address: Address
    lines: list[SubscriptionLine]
    interval: Interval
    n: int | None
    anchor_date: date
    plan_id: str | None
    currency: str
    caller: Caller
    signed_in_customer: str | None = None


@dataclass(frozen=True)
class ActOnSubscription:
    """pause, resume, skip, cancel, change or payment_method, with the update's request (if it takes one)."""

    subscription_id: str
    action: str
    caller: Caller
    request: object | None = None


def subscription_ids(idempotency_key: str) -> tuple[str, str]:
    subscription_id = public_id("subscription", uuid.uuid5(ID_NAMESPACE, f"subscription:{idempotency_key}"))
    return subscription_id, workflow_ids.subscription(subscription_id)


def policy_from(settings) -> SubscriptionPolicy:
    return SubscriptionPolicy(dunning_retry_days=settings.subscription_dunning_retry_days,
                              past_due_grace_days=settings.subscription_past_due_grace_days,
                              out_of_stock=settings.subscription_out_of_stock,
                              out_of_stock_retry_days=settings.subscription_out_of_stock_retry_days,
                              renewal_notice_days=settings.subscription_renewal_notice_days)


async def _assert_sellable(conn, lines: list[SubscriptionLine], currency: str) -> None:
    skus = [line.sku for line in lines]
    missing = sorted(set(skus) - set(await catalog.current_prices(conn, skus, currency)))
    if missing:
        raise DomainError(f"not for sale: {', '.join(missing)}", code="sku_not_sellable", details={"skus": missing})


def _assert_plan_allows(plan: SubscriptionPlan | None, interval: Interval) -> None:
    refusal = plan.refusal(interval) if plan else None
    if refusal:
        code, message = refusal
        raise DomainError(message, code=code, details={"plan_id": plan.id})


async def create_subscription(deps: Deps, command: CreateSubscription) -> tuple[str, bool]:
    """Save the payment method with the provider and start renewing: the subscription's id and whether this
    call created it.

    Nothing is recorded until the provider said yes, and no transaction waits on Temporal: the request is
    checked (key, plan, prices) in a rehearsal that is rolled back, the sign-up runs as its own workflow,
    the subscription is claimed and recorded for good (committed), then its workflow is started; a start
    that fails releases the record (services/workflow_calls.start_claimed) and the client retries with the
    same key. The audit row is written once the workflow runs."""
    subscription_id, workflow_id = subscription_ids(command.idempotency_key)
    schedule = Schedule(interval=command.interval, every_n_days=command.n, anchor=command.anchor_date)
    period = next_period(schedule, datetime.now(UTC).date())
    _, new, _ = await _claim(deps, subscription_id, workflow_id, command, schedule, period, rehearse=True)
    signed_up = await _sign_up(deps, subscription_id, command) if new else None
    row, created, version = await _claim(deps, subscription_id, workflow_id, command, schedule, period,
                                         signed_up=signed_up)
    if row.status != "cancelled":  # a replay starts it too: its first attempt may have died before starting it
        await workflow_calls.start_claimed(deps, "subscription", subscription_id, version, workflow_id, _start(
            deps.temporal, deps.settings.task_queue, workflow_id, _state(deps, command, row, schedule, period)))
    if created:
        async with deps.engine.begin() as conn:
            await audit.record(conn, command.caller, "subscription.create", target=subscription_id, details={
                "email": command.email, "lines": [line.model_dump() for line in command.lines]})
    log.info("subscription created" if created else "subscription replayed", subscription_id=subscription_id)
    return subscription_id, created


async def _claim(deps: Deps, subscription_id: str, workflow_id: str, command: CreateSubscription, schedule, period,
                 *, rehearse: bool = False, signed_up: SignedUpCustomer | None = None):
    """Claim the key (``idempotency_key_reused`` for another body) and check a new subscription's plan and
    prices; a rehearsal rolls it all back. Otherwise record the sign-up of a new subscription and stamp the
    claim for ``start_claimed``. ``(row, created, version)``."""
    async with deps.engine.connect() as conn, conn.begin() as transaction:
        plan = await plans.get(conn, command.plan_id) if command.plan_id else None
        row, created = await store.claim(
            conn, subscription_id=subscription_id, idempotency_key=command.idempotency_key,
            request_hash=command.request_hash, workflow_id=workflow_id,
            email=command.email, currency=command.currency, payment_method=command.payment_method,
            shipping_address=command.shipping_address.model_dump(mode="json"),
            lines=[line.model_dump() for line in command.lines], interval=command.interval, every_n_days=command.n,
            anchor_date=command.anchor_date, plan_id=command.plan_id, discount_bp=plan.discount_bp if plan else 0,
            next_renewal_at=renewal_at(schedule, period),
        )
        if created:  # a replay stands even if its plan has since been withdrawn
            _assert_plan_allows(plan, command.interval)
            await _assert_sellable(conn, command.lines, row.currency)
        if rehearse:
            await transaction.rollback()
            return row, created, None
        if created:
            if signed_up is None:  # the rehearsal found it, then it was gone: let the client retry
                raise Refused(409, "subscription_conflict", "the subscription changed meanwhile; retry")
            await _record_sign_up(conn, subscription_id, command, signed_up)
        version = await claims.stamp(conn, "subscription", subscription_id)
        return await store.get(conn, subscription_id), created, version


def _state(deps: Deps, command: CreateSubscription, row, schedule: Schedule, period) -> SubscriptionState:
    return SubscriptionState(
        subscription_id=row.id, email=command.email, currency=row.currency, customer_ref=row.customer_ref,
        payment_method=command.payment_method, shipping_address=command.shipping_address, lines=command.lines,
        discount_bp=row.discount_bp, schedule=schedule, period=period, policy=policy_from(deps.settings),
    )


async def _sign_up(deps: Deps, subscription_id: str, command: CreateSubscription) -> SignedUpCustomer:
    """The provider customer holding the payment method, made by its own workflow (a durable step)."""
    try:
        return await deps.temporal.execute_workflow(
            SubscriptionSignUpWorkflow.run,
            SignUpRequest(subscription_id=subscription_id, email=command.email, payment_method=command.payment_method),
            id=workflow_ids.subscription_sign_up(subscription_id), task_queue=deps.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Payment method of subscription {subscription_id} saved with the provider",
        )
    except WorkflowFailureError as error:
        raise _sign_up_refusal(error) from error


def _sign_up_refusal(error: WorkflowFailureError) -> Refused:
    cause = error.cause
    if not (isinstance(cause, ApplicationError) and cause.type):
        raise error
    if cause.type == "provider_unavailable":
        return Refused(503, "payment_provider_unavailable", "the payment provider did not answer; "
                       "retry with the same Idempotency-Key")
    return Refused(402 if cause.type == "payment_declined" else 422, cause.type, cause.message)


async def _record_sign_up(conn, subscription_id: str, command: CreateSubscription,
                          signed_up: SignedUpCustomer) -> None:
    """The provider customer, the subscription's owner and saved method, and its first event."""
    await store.set_customer(conn, subscription_id, provider=signed_up.provider, customer_ref=signed_up.customer_ref)
    # The subscription belongs to the signed-in customer (a storefront must send one, api/access.py) or, when
    # support creates it, to the email's; the saved method joins the customer's payment methods.
    owner = command.signed_in_customer or await customers.for_checkout(conn, command.email)
    await customers.link_subscription(conn, subscription_id, owner)
    await customers.save_payment_method(conn, owner, provider=signed_up.provider,
                                        provider_ref=signed_up.customer_ref, payment_method=command.payment_method)
    await store.append_event(conn, subscription_id, SubscriptionEvent(
        event_id="created", type="created", data={"interval": command.interval, "n": command.n,
                                                  "anchor_date": command.anchor_date.isoformat()}))


async def _start(client: Client, task_queue: str, workflow_id: str, state: SubscriptionState) -> None:
    """Started once under its id: a retry finds it running (USE_EXISTING) or, once it ended (cancelled),
    refused (WorkflowAlreadyStartedError, which ``start_claimed`` takes as started)."""
    upcoming = next_renewal(state)
    await client.start_workflow(
        SubscriptionWorkflow.run, state, id=workflow_id, task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.SUBSCRIPTION_STATUS, state.status),
            SearchAttributePair(sa.CUSTOMER_EMAIL, state.email),
            *([SearchAttributePair(sa.NEXT_RENEWAL_AT, upcoming)] if upcoming else []),
        ]),
        static_summary=f"Subscription {state.subscription_id} for {state.email}",
    )


async def act_on_subscription(deps: Deps, command: ActOnSubscription) -> None:
    """Run one of the workflow's validated updates; a refusal keeps its code (409, or 422 for bad input)."""
    subscription_id, action = command.subscription_id, command.action
    async with deps.engine.connect() as conn:
        row = await store.get(conn, subscription_id)
        if action == "change":
            await _assert_change_allowed(conn, row, command.request)
    cancelled = Refused(409, "subscription_cancelled", f"subscription {subscription_id} is cancelled")
    if row.status == "cancelled":
        raise cancelled
    args = () if command.request is None else (command.request,)
    await workflow_calls.execute(  # an ended workflow means the subscription was cancelled
        deps.temporal.get_workflow_handle(row.workflow_id), ACTIONS[action], *args, unprocessable=UNPROCESSABLE,
        closed=lambda: cancelled,
    )
    async with deps.engine.begin() as conn:
        await audit.record(conn, command.caller, f"subscription.{action}", target=subscription_id,
                           details=command.request.model_dump(mode="json") if args else {})
    log.info("subscription changed", subscription_id=subscription_id, action=action)


async def _assert_change_allowed(conn, row, change: ChangeRequest) -> None:
    """New lines must be for sale; a plan's subscription keeps to the plan's intervals (its discount was
    offered for those)."""
    if change.lines is not None:
        await _assert_sellable(conn, change.lines, row.currency)
    if change.interval is not None and row.plan_id:
        plan = await plans.get(conn, row.plan_id)
        if change.interval not in plan.intervals:
            raise DomainError(f"plan {plan.id} offers {', '.join(plan.intervals)}, not {change.interval}",
                              code="interval_not_in_plan", details={"plan_id": plan.id})

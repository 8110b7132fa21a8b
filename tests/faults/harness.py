"""Fault injection at two edges: Temporal activities (an interceptor) and the payment provider (a recorder).

``FaultInjector`` applies one fault to one activity type, on every invocation of it:
- ``transient``: the first attempt fails with a retryable error, the retry runs for real;
- ``business``: every attempt fails with ``ApplicationError(non_retryable=True, type="injected_failure")``;
- ``unknown_once``: the REAL activity runs (its effect happens), then its first attempt raises a
  retryable timeout-like error: the retry must be idempotent;
- ``unknown_always``: the real activity runs on every attempt and every attempt raises, until the
  workflow's retry budget is spent: money may have moved but the workflow never hears it. Each failure
  asks for a retry a fifth of the budget later, so budgets of hours end in a handful of real attempts.
  On a server that runs in real time (no time skipping) a budget of minutes cannot be waited out:
  ``spent_after`` attempts then spend it (retried at once), and the last reports it spent, as a failure
  with no business type, which workflows read as the provider's budget spent (``failure_code``).
It also records which activities ran, so a matrix can check it still covers the code.

``RecordingGateway`` wraps a payment gateway at the provider edge and records every effect the
provider had (what it answered successfully), for the invariants' provider side.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from adapters.ports import ProviderUnavailable
from models.money_invariants import ProviderEffect

MODES = ("transient", "business", "unknown_once", "unknown_always")


@dataclass
class FaultInjector(Interceptor):
    activity_type: str | None = None  # None: a clean run, nothing injected
    mode: str = "transient"
    workflow_types: tuple[str, ...] = ()  # only these workflows' calls of the activity (empty: any)
    spent_after: int | None = None  # unknown_always on a real-time server: the attempt that spends the budget
    ran: list[tuple[str, str]] = field(default_factory=list)  # (workflow type, activity type), in order
    injected: int = 0

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)

    def activities(self, *workflow_types: str) -> list[str]:
        """The activity types these workflows ran, in first-run order (a retried attempt counts once)."""
        return list(dict.fromkeys(name for flow, name in self.ran if flow in workflow_types))

    def targets(self, info: activity.Info) -> bool:
        return info.activity_type == self.activity_type and (not self.workflow_types
                                                            or info.workflow_type in self.workflow_types)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, injector: FaultInjector):
        super().__init__(next)
        self.injector = injector

    async def execute_activity(self, input: ExecuteActivityInput):
        info = activity.info()
        self.injector.ran.append((info.workflow_type or "", info.activity_type))
        if not self.injector.targets(info):
            return await super().execute_activity(input)
        mode, first = self.injector.mode, info.attempt == 1
        if mode == "business":
            raise self._fault(ApplicationError("injected business failure", type="injected_failure",
                                               non_retryable=True))
        if mode == "transient" and first:
            raise self._fault(ApplicationError("injected transient failure", type="injected_transient"))
        result = await super().execute_activity(input)
        if mode == "unknown_always" or (mode == "unknown_once" and first):
            raise self._fault(self._lost_answer(info, mode))
        return result

    def _lost_answer(self, info: activity.Info, mode: str) -> ApplicationError:
        if mode == "unknown_once":
            return ApplicationError("injected timeout after the effect", type="injected_timeout")
        spent_after = self.injector.spent_after
        if spent_after and info.attempt >= spent_after:
            return ApplicationError("injected timeout after the effect: the retry budget is spent",
                                    non_retryable=True)  # no type: not a refusal, the provider never answered
        budget = info.schedule_to_close_timeout or timedelta(minutes=5)
        delay = timedelta(milliseconds=100) if spent_after else budget / 5
        return ApplicationError("injected timeout after the effect", type="injected_timeout", next_retry_delay=delay)

    def _fault(self, error: ApplicationError) -> ApplicationError:
        self.injector.injected += 1
        return error


class RecordingGateway:
    """A payment gateway that records what the provider did; everything else passes through."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.effects: list[ProviderEffect] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def authorize(self, **call):
        result = await self.inner.authorize(**call)
        if result.status == "authorized":
            self._record("authorize", result.provider_ref, call, reference=call.get("reference"),
                         multicapture=_asks_multicapture(call, result))
        return result

    async def increment_authorization(self, **call):
        """Recorded as an authorization of the difference (the ledger's increment entry), under its own key."""
        result = await self.inner.increment_authorization(**call)
        if result.status == "authorized":
            held = sum(e.amount for e in self.effects if e.kind == "authorize" and e.payment == call["provider_ref"])
            self._record("authorize", call["provider_ref"], {**call, "amount": int(call["amount"]) - held})
        return result

    async def capture(self, **call):
        result = await self.inner.capture(**call)
        self._record("capture", call["provider_ref"], call)
        return result

    async def void(self, **call):
        result = await self.inner.void(**call)
        self._record("void", call["provider_ref"], {**call, "amount": 0})
        return result

    async def refund(self, **call):
        result = await self.inner.refund(**call)
        self._record("refund", call["provider_ref"], call)
        return result

    async def charge_off_session(self, **call):
        result = await self.inner.charge_off_session(**call)
        if result.status == "captured":
            self._record("charge", result.provider_ref, call, reference=call.get("reference"))
        return result

    def _record(self, kind: str, payment: str, call: dict, reference: str | None = None,
                multicapture: bool = False) -> None:
        self.effects.append(ProviderEffect(kind, payment, int(call["amount"]), call["idempotency_key"], reference,
                                           multicapture))

    def count(self, kind: str) -> int:
        """Distinct provider effects of ``kind`` (a replayed key counts once, as at Stripe)."""
        return len({e.idempotency_key for e in self.effects if e.kind == kind})


def _asks_multicapture(call: dict, result) -> bool:
    """Whether an authorization may be captured in parts, however the gateway port spells it (an argument
    or a field of its answer naming multicapture): the capture policy is being added as this is written."""
    named = [value for name, value in call.items() if "multicapture" in name.lower()]
    named += [getattr(result, name) for name in dir(result) if "multicapture" in name.lower()]
    return any(value is True or value in ("available", "if_available") for value in named)


class FlakyProvider:
    """A provider adapter switched to fail at its edge, per method, for its first ``times`` calls:
    ``down`` raises ProviderUnavailable before the call; ``lost_answer`` lets the provider act, then
    loses its answer (raises ProviderUnavailable): the caller must repeat it under the same key."""

    def __init__(self, inner, **faults: tuple[str, int]):
        self.inner = inner
        self.left = {name: times for name, (_, times) in faults.items()}
        self.modes = {name: mode for name, (mode, _) in faults.items()}

    def __getattr__(self, name):
        attribute = getattr(self.inner, name)
        if name not in self.modes:
            return attribute

        async def call(**arguments):
            if self.left[name] <= 0:
                return await attribute(**arguments)
            self.left[name] -= 1
            if self.modes[name] == "lost_answer":
                await attribute(**arguments)
            raise ProviderUnavailable(f"{name}: provider switched to fail ({self.modes[name]})")
        return call

    def failures_left(self) -> dict[str, int]:
        return dict(self.left)

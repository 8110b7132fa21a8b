"""Reconciliation: what the provider says about a ledger operation whose answer was lost, and a run's summary.

Pure rules: the workflow feeds them the provider's status; no I/O, no clock.
"""

from datetime import datetime
from typing import Literal

from pydantic import Field

from models.base import Frozen

# Provider statuses (PaymentResult.status) that mean the operation happened, per ledger kind.
# "refunded" after a capture or charge still means the money was taken first.
HAPPENED: dict[str, frozenset[str]] = {
    "authorize": frozenset({"authorized", "captured", "refunded"}),
    "capture": frozenset({"captured", "refunded"}),
    "charge": frozenset({"captured", "refunded"}),
    "void": frozenset({"voided"}),
    "refund": frozenset({"refunded"}),
}
# The provider has not decided yet: nothing to settle, ask again next run.
IN_FLIGHT = frozenset({"pending", "processing", "requires_action", "requires_capture_pending"})

Verdict = Literal["succeeded", "failed", "in_flight"]


def verdict(kind: str, provider_status: str | None) -> Verdict:
    """``provider_status`` None: the provider has no record of the operation, so it never acted."""
    if provider_status is None:
        return "failed"
    if provider_status in HAPPENED.get(kind, frozenset()):
        return "succeeded"
    if provider_status in IN_FLIGHT:
        return "in_flight"
    return "failed"


class ReconciliationInput(Frozen):
    """What the schedule passes each run (from settings, fixed when the schedule is written)."""

    pending_after_seconds: int = Field(gt=0)
    batch_size: int = Field(200, gt=0)


class LedgerOperation(Frozen):
    idempotency_key: str
    payment_ref: str
    kind: str
    provider: str
    provider_ref: str | None
    amount: int
    currency: str


class ReconciledItem(Frozen):
    """What one run did about one operation or hold."""

    idempotency_key: str
    payment_ref: str
    kind: str
    action: Literal["settled", "voided", "unsettled"]
    status: str  # ledger status afterwards (succeeded / failed / pending), or the hold's
    reason: str | None = None  # why it is unsettled, or what the provider said


class ReconciliationRun(Frozen):
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    checked: int = 0
    settled: int = 0
    voided: int = 0
    unsettled: int = 0
    items: list[ReconciledItem] = []

    def counts(self) -> dict[str, int]:
        return {"checked": self.checked, "settled": self.settled, "voided": self.voided, "unsettled": self.unsettled}


class ReconciliationReport(Frozen):
    last_run: ReconciliationRun | None = Field(description="None until the schedule has run once")


def summarise(run_id: str, started_at: datetime, finished_at: datetime,
              items: list[ReconciledItem]) -> ReconciliationRun:
    """One run: what it did to each operation or hold, and the counts."""
    return ReconciliationRun(
        run_id=run_id, started_at=started_at, finished_at=finished_at, checked=len(items),
        settled=sum(1 for i in items if i.action == "settled"), voided=sum(1 for i in items if i.action == "voided"),
        unsettled=sum(1 for i in items if i.action == "unsettled"), items=items,
    )


def alert(run: ReconciliationRun) -> str | None:
    """The ops alert of a run (the ``ReconciliationAlert`` search attribute), or None when all settled."""
    return f"unsettled:{run.unsettled}" if run.unsettled else None

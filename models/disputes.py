"""Card disputes after they open: how a provider's later events change the order.

A dispute opens (``DisputeNotice``), may move funds (withdrawn from us, reinstated), and
closes won or lost. While one is open or was lost, no refund may go out on top of it.
"""

from typing import Literal

from models.base import Frozen
from models.errors import Conflict
from models.order_state import OrderStatus, can_transition

# Stripe's dispute statuses at close: ``warning_closed`` is an inquiry that never became a chargeback.
LOST = "lost"
CLOSING = frozenset({"won", "lost", "warning_closed"})
FUNDS = frozenset({"funds_withdrawn", "funds_reinstated"})
UPDATE_KINDS = CLOSING | FUNDS


class DisputeUpdate(Frozen):
    """A later event of one dispute: funds moved, or it closed (won / lost / warning_closed)."""

    dispute_id: str
    kind: Literal["funds_withdrawn", "funds_reinstated", "won", "lost", "warning_closed"]

    @property
    def closes(self) -> bool:
        return self.kind in CLOSING


def status_after_close(outcome: str, *, current: OrderStatus, before_dispute: OrderStatus | None) -> OrderStatus | None:
    """The order's status once a dispute closes, or None to leave it as it is.

    Lost → ``chargeback`` (also for an order that shipping took out of ``disputed``). Won → back
    to where it was, for an order still ``disputed``; one that moved on keeps its new status.
    """
    if outcome == LOST:
        return OrderStatus.CHARGEBACK if can_transition(current, OrderStatus.CHARGEBACK) else None
    return before_dispute if current == OrderStatus.DISPUTED else None


def refuse_refund_if_disputed(blocking_dispute: str | None) -> None:
    """A refund on top of an open or lost dispute would pay the customer twice."""
    if blocking_dispute is not None:
        raise Conflict(f"dispute {blocking_dispute} is open or was lost: the bank holds or took this money",
                       code="order_disputed", details={"dispute_id": blocking_dispute})

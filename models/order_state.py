"""Order lifecycle: the states and the only transitions allowed between them."""

from collections.abc import Mapping
from enum import StrEnum

from models.errors import IllegalTransition


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    FULFILLED = "fulfilled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    DISPUTED = "disputed"
    CHARGEBACK = "chargeback"  # a dispute the merchant lost: the bank took the money back


S = OrderStatus

# Self-loops are listed where a repeated step is meaningful (a second partial refund,
# a second shipment of a split order); everything not listed is refused.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_PAYMENT: frozenset({S.AUTHORIZED, S.CAPTURED, S.CANCELLED}),
    S.AUTHORIZED: frozenset({S.CAPTURED, S.PARTIALLY_FULFILLED, S.FULFILLED, S.CANCELLED, S.DISPUTED}),
    S.CAPTURED: frozenset({S.PARTIALLY_FULFILLED, S.FULFILLED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED,
                           S.CHARGEBACK}),
    S.PARTIALLY_FULFILLED: frozenset(
        {S.PARTIALLY_FULFILLED, S.FULFILLED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED, S.CHARGEBACK}
    ),
    S.FULFILLED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.RETURNED, S.DISPUTED, S.CHARGEBACK}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.RETURNED, S.DISPUTED, S.CHARGEBACK}),
    S.RETURNED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    # Won (or an inquiry closed): back to the state before the dispute. Lost: chargeback. Never
    # refunded: the bank holds or took the money. Parcels still ship while a dispute is open.
    S.DISPUTED: frozenset({S.AUTHORIZED, S.CAPTURED, S.PARTIALLY_FULFILLED, S.FULFILLED, S.PARTIALLY_REFUNDED,
                           S.CHARGEBACK}),
    # A lost dispute (also reached from where shipping took a disputed order). Parcels already on
    # their way still ship; refunds stay refused (models.disputes), whatever the status says.
    S.CHARGEBACK: frozenset({S.PARTIALLY_FULFILLED, S.FULFILLED}),
    S.REFUNDED: frozenset(),
    S.CANCELLED: frozenset(),
}

TERMINAL: frozenset[OrderStatus] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


# A refund the provider accepted and later failed (Stripe's ``refund.failed``): the customer never got the
# money, so the order goes back to what the ledger now says — partially refunded, or the state it had before
# its first refund. Only a bounce may leave ``refunded``; every other path still treats it as final.
REFUND_BOUNCE_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.CAPTURED, S.PARTIALLY_FULFILLED, S.FULFILLED, S.RETURNED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.CAPTURED, S.PARTIALLY_FULFILLED, S.FULFILLED,
                                     S.RETURNED}),
}


def status_after_refund_bounce(current: OrderStatus | str, *, refunded_total: int,
                               before_refunds: OrderStatus | str) -> OrderStatus:
    """Where a bounced refund leaves the order (``IllegalTransition`` from any other state, e.g. disputed:
    a dispute's own outcome decides there)."""
    target = S.PARTIALLY_REFUNDED if refunded_total > 0 else OrderStatus(before_refunds)
    return transition(current, target, REFUND_BOUNCE_TRANSITIONS)


def can_transition(current: OrderStatus, target: OrderStatus,
                   table: Mapping[OrderStatus, frozenset[OrderStatus]] = TRANSITIONS) -> bool:
    return target in table.get(current, frozenset())


def transition(current: OrderStatus | str, target: OrderStatus | str,
               table: Mapping[OrderStatus, frozenset[OrderStatus]] = TRANSITIONS) -> OrderStatus:
    """Return the new status, or raise ``IllegalTransition`` naming what is allowed (by ``table``: the state
    machine, or REFUND_BOUNCE_TRANSITIONS for a bounced refund)."""
    current, target = OrderStatus(current), OrderStatus(target)
    if not can_transition(current, target, table):
        allowed = ", ".join(sorted(table.get(current, frozenset()))) or "none (terminal state)"
        raise IllegalTransition(
            f"order cannot go from {current} to {target}; allowed from {current}: {allowed}",
            details={"from": current.value, "to": target.value},
        )
    return target

import pytest

from models.errors import IllegalTransition
from models.order_state import TERMINAL, TRANSITIONS, OrderStatus, can_transition, transition

S = OrderStatus


def test_every_state_has_a_transition_entry():
    assert set(TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize(
    "current,target",
    [
        (S.PENDING_PAYMENT, S.AUTHORIZED),
        (S.AUTHORIZED, S.CAPTURED),
        (S.AUTHORIZED, S.CANCELLED),
        (S.CAPTURED, S.PARTIALLY_FULFILLED),
        (S.PARTIALLY_FULFILLED, S.PARTIALLY_FULFILLED),
        (S.PARTIALLY_FULFILLED, S.FULFILLED),
        (S.FULFILLED, S.PARTIALLY_REFUNDED),
        (S.PARTIALLY_REFUNDED, S.REFUNDED),
        (S.FULFILLED, S.RETURNED),
        (S.CAPTURED, S.DISPUTED),
        (S.DISPUTED, S.FULFILLED),  # won: back where it was
        (S.DISPUTED, S.CHARGEBACK),  # lost
        (S.CHARGEBACK, S.FULFILLED),  # a parcel already on its way still ships
    ],
)
def test_allowed_transitions(current, target):
    assert transition(current, target) == target


@pytest.mark.parametrize(
    "current,target",
    [
        (S.PENDING_PAYMENT, S.FULFILLED),
        (S.CANCELLED, S.AUTHORIZED),
        (S.REFUNDED, S.CAPTURED),
        (S.FULFILLED, S.CANCELLED),
        (S.AUTHORIZED, S.REFUNDED),  # nothing was captured, so nothing can be refunded
        (S.RETURNED, S.FULFILLED),
        (S.DISPUTED, S.REFUNDED),  # the bank holds the money: a refund would pay twice
        (S.CHARGEBACK, S.PARTIALLY_REFUNDED),
        (S.CHARGEBACK, S.CAPTURED),
    ],
)
def test_illegal_transitions_are_refused_with_a_clear_error(current, target):
    with pytest.raises(IllegalTransition) as refused:
        transition(current, target)
    assert refused.value.code == "illegal_transition"
    assert current.value in refused.value.message and target.value in refused.value.message
    assert refused.value.details == {"from": current.value, "to": target.value}


def test_terminal_states_allow_nothing():
    assert TERMINAL == {S.REFUNDED, S.CANCELLED}
    for state in TERMINAL:
        for target in OrderStatus:
            assert not can_transition(state, target)


def test_unknown_status_strings_are_rejected():
    with pytest.raises(ValueError):
        transition("shipped_to_mars", "authorized")


def test_a_bounced_refund_returns_the_order_to_what_the_ledger_says():
    from models.order_state import status_after_refund_bounce

    assert status_after_refund_bounce("refunded", refunded_total=0, before_refunds="fulfilled") == OrderStatus.FULFILLED
    assert status_after_refund_bounce("refunded", refunded_total=500,
                                      before_refunds="fulfilled") == OrderStatus.PARTIALLY_REFUNDED
    with pytest.raises(IllegalTransition):
        status_after_refund_bounce("disputed", refunded_total=0, before_refunds="fulfilled")
    with pytest.raises(IllegalTransition):  # a bounce never un-cancels
        status_after_refund_bounce("refunded", refunded_total=0, before_refunds="cancelled")

import pytest

from models.disputes import DisputeUpdate, refuse_refund_if_disputed, status_after_close
from models.errors import Conflict
from models.order_state import OrderStatus as S


@pytest.mark.parametrize("outcome,expected", [("won", S.FULFILLED), ("warning_closed", S.FULFILLED),
                                              ("lost", S.CHARGEBACK)])
def test_a_closed_dispute_puts_a_disputed_order_back_or_charges_it_back(outcome, expected):
    assert status_after_close(outcome, current=S.DISPUTED, before_dispute=S.FULFILLED) == expected


def test_an_order_that_shipped_during_the_dispute_keeps_its_status_if_won_and_is_charged_back_if_lost():
    assert status_after_close("won", current=S.FULFILLED, before_dispute=S.CAPTURED) is None
    assert status_after_close("lost", current=S.FULFILLED, before_dispute=S.CAPTURED) == S.CHARGEBACK


def test_a_second_lost_dispute_leaves_a_chargeback_as_it_is():
    assert status_after_close("lost", current=S.CHARGEBACK, before_dispute=S.CAPTURED) is None


def test_only_closing_updates_close():
    assert DisputeUpdate(dispute_id="dp_1", kind="lost").closes
    assert not DisputeUpdate(dispute_id="dp_1", kind="funds_withdrawn").closes


def test_refunds_are_refused_under_an_open_or_lost_dispute():
    refuse_refund_if_disputed(None)
    with pytest.raises(Conflict) as refused:
        refuse_refund_if_disputed("dp_1")
    assert (refused.value.code, refused.value.http_status, refused.value.details) == (
        "order_disputed", 409, {"dispute_id": "dp_1"})

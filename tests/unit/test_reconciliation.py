from datetime import UTC, datetime

import pytest

from models.reconciliation import ReconciledItem, alert, summarise, verdict


@pytest.mark.parametrize("kind,provider_status,expected", [
    ("authorize", "authorized", "succeeded"),
    ("authorize", "voided", "failed"),  # the hold is gone: nothing is authorized
    ("authorize", "requires_action", "in_flight"),
    ("capture", "captured", "succeeded"),
    ("capture", "refunded", "succeeded"),  # taken, then given back: the capture happened
    ("capture", "authorized", "failed"),  # still only held: the capture never happened
    ("charge", "captured", "succeeded"),
    ("void", "voided", "succeeded"),
    ("refund", "refunded", "succeeded"),
    ("refund", "pending", "in_flight"),
    ("refund", None, "failed"),  # the provider has no record: it never acted
])
def test_the_provider_status_settles_an_operation(kind, provider_status, expected):
    assert verdict(kind, provider_status) == expected


def _item(action: str) -> ReconciledItem:
    return ReconciledItem(idempotency_key=f"k-{action}", payment_ref="ref", kind="capture", action=action,
                          status="pending")


def test_a_run_alerts_only_when_something_is_unsettled():
    when = datetime(2026, 11, 30, tzinfo=UTC)
    clean = summarise("r1", when, when, [_item("settled"), _item("voided")])
    assert clean.counts() == {"checked": 2, "settled": 1, "voided": 1, "unsettled": 0} and alert(clean) is None
    stuck = summarise("r2", when, when, [_item("settled"), _item("unsettled"), _item("unsettled")])
    assert alert(stuck) == "unsettled:2"

"""The money invariants: each rule accepts a healthy story and names what is wrong in a broken one."""

from models.money_invariants import (
    LedgerEntry, MoneyFacts, OrderView, ProviderEffect, ShipmentView, StockLevel, WorkflowView, violations,
)

AUTH = LedgerEntry("chk_1", "authorize", 1000, "succeeded", "chk_1:authorize")
CAPTURE = LedgerEntry("chk_1", "capture", 1000, "succeeded", "shp_1:capture")
P_AUTH = ProviderEffect("authorize", "pi_1", 1000, "chk_1:authorize", reference="chk_1")
P_CAPTURE = ProviderEffect("capture", "pi_1", 1000, "shp_1:capture")
SHIPPED = OrderView("ord_1", "fulfilled", 1000, (ShipmentView("shp_1", "delivered", 1000),))


def rules(facts: MoneyFacts) -> set[str]:
    return {v.rule for v in violations(facts)}


def test_a_delivered_order_keeps_every_invariant():
    facts = MoneyFacts("ord_1", ledger=(AUTH, CAPTURE), provider=(P_AUTH, P_CAPTURE), order=SHIPPED,
                       workflows=(WorkflowView("order-ord_1", "completed"),))
    assert violations(facts) == []


def test_a_hold_left_after_a_failed_checkout_is_a_leak():
    facts = MoneyFacts("chk_1", ledger=(AUTH,), provider=(P_AUTH,), settled=True)
    found = violations(facts)
    assert [v.rule for v in found] == ["authorization_balance"]
    assert "1000 still held" in str(found[0])


def test_a_voided_hold_is_released():
    void = LedgerEntry("chk_1", "void", 1000, "succeeded", "chk_1:void")
    facts = MoneyFacts("chk_1", ledger=(AUTH, void), settled=True,
                       provider=(P_AUTH, ProviderEffect("void", "pi_1", 1000, "chk_1:void")))
    assert violations(facts) == []


def test_capturing_more_than_authorized_is_refused_even_on_a_running_order():
    second = ProviderEffect("capture", "pi_1", 500, "shp_2:capture")
    facts = MoneyFacts("ord_1", provider=(P_AUTH, P_CAPTURE, second))
    assert "authorization_balance" in rules(facts)


def test_a_replayed_idempotency_key_moves_money_once():
    facts = MoneyFacts("ord_1", ledger=(AUTH, CAPTURE), provider=(P_AUTH, P_CAPTURE, P_CAPTURE), order=SHIPPED)
    assert violations(facts) == []


def test_refunds_never_exceed_captures():
    refund = LedgerEntry("chk_1", "refund", 1200, "succeeded", "ref_1:refund")
    facts = MoneyFacts("ord_1", ledger=(AUTH, CAPTURE, refund), order=SHIPPED)
    assert rules(facts) == {"refunded_le_captured"}


def test_money_taken_without_an_order():
    facts = MoneyFacts("chk_1", ledger=(AUTH, CAPTURE), provider=(P_AUTH, P_CAPTURE))
    assert "captured_without_order" in rules(facts)
    refund = LedgerEntry("chk_1", "refund", 1000, "succeeded", "chk_1:refund")
    given_back = MoneyFacts("chk_1", ledger=(AUTH, CAPTURE, refund),
                            provider=(P_AUTH, P_CAPTURE, ProviderEffect("refund", "pi_1", 1000, "chk_1:refund")))
    assert violations(given_back) == []


def test_the_order_view_must_agree_with_the_ledger():
    failed = LedgerEntry("chk_1", "capture", 1000, "failed", "shp_1:capture")
    facts = MoneyFacts("ord_1", ledger=(AUTH, failed), order=SHIPPED)
    assert rules(facts) == {"order_shows_ledger"}


def test_a_parcel_marked_capture_failed_while_its_money_was_taken():
    order = OrderView("ord_1", "authorized", 1000,
                      (ShipmentView("shp_1", "packed", 1000, alert="capture_failed:provider_unavailable"),))
    found = violations(MoneyFacts("ord_1", ledger=(AUTH, CAPTURE), order=order))
    assert [v.subject for v in found] == ["shp_1"]


def test_a_pending_entry_at_rest_is_an_unresolved_unknown_outcome():
    pending = LedgerEntry("chk_1", "authorize", 1000, "pending", "chk_1:authorize")
    assert rules(MoneyFacts("chk_1", ledger=(pending,))) == {"ledger_settled"}


def test_provider_effects_the_ledger_does_not_know_and_vice_versa():
    abandoned = LedgerEntry("chk_1", "authorize", 1000, "failed", "chk_1:authorize")
    assert "ledger_matches_provider" in rules(MoneyFacts("chk_1", ledger=(abandoned,), provider=(P_AUTH,)))
    assert "ledger_matches_provider" in rules(MoneyFacts("chk_1", ledger=(AUTH,), provider=()))


def test_a_renewal_charged_under_two_keys_is_charged_twice():
    first = ProviderEffect("charge", "pi_a", 900, "sub_1:1:charge", reference="sub_1:1")
    retry = ProviderEffect("charge", "pi_b", 900, "sub_1:1:charge-retry-1", reference="sub_1:1")
    found = [v for v in violations(MoneyFacts("sub_1", provider=(first, retry))) if v.rule == "charged_twice"]
    assert [v.subject for v in found] == ["sub_1:1"]


def test_stock_of_a_failed_order_returns_to_its_baseline():
    before = (StockLevel("TEE", "loc_1", 5, 0),)
    leaked = MoneyFacts("chk_1", stock_before=before, stock_after=(StockLevel("TEE", "loc_1", 5, 2),),
                        stock_must_return=True)
    back = MoneyFacts("chk_1", stock_before=before, stock_after=before, stock_must_return=True)
    assert rules(leaked) == {"stock_baseline"}
    assert violations(back) == []


def test_workflows_end_or_wait_with_a_visible_reason():
    flows = (WorkflowView("shipment-1", "failed"), WorkflowView("shipment-2", "terminated"),
             WorkflowView("order-1", "running"), WorkflowView("shipment-3", "running", "pack_overdue"),
             WorkflowView("checkout-1", "completed"))
    found = violations(MoneyFacts("ord_1", workflows=flows))
    assert sorted(v.subject for v in found) == ["order-1", "shipment-1", "shipment-2"]


def test_a_failed_checkout_leaves_no_order_behind():
    order = OrderView("ord_1", "authorized", 1000)
    assert rules(MoneyFacts("chk_1", order=order, checkout_failed=True)) == {"failed_checkout_has_no_order"}
    assert violations(MoneyFacts("chk_1", order=order)) == []


def test_an_order_paid_up_front_shows_its_charge():
    charge = LedgerEntry("sub_1:cycle-1", "charge", 900, "succeeded", "sub_1:cycle-1:charge")
    paid = OrderView("ord_2", "captured", 900)
    assert violations(MoneyFacts("ord_2", ledger=(charge,), order=paid)) == []
    assert rules(MoneyFacts("ord_2", order=paid)) == {"order_shows_ledger"}


def test_a_single_capture_intent_is_captured_once():
    part = ProviderEffect("capture", "pi_1", 400, "shp_1:capture")
    rest = ProviderEffect("capture", "pi_1", 600, "shp_2:capture")
    assert "single_capture" in rules(MoneyFacts("ord_1", provider=(P_AUTH, part, rest)))
    multi = ProviderEffect("authorize", "pi_1", 1000, "chk_1:authorize", reference="chk_1", multicapture=True)
    assert "single_capture" not in rules(MoneyFacts("ord_1", provider=(multi, part, rest)))

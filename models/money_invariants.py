"""The money invariants of issue 11, written once: pure rules over plain facts, no I/O.

A gatherer (db.money_invariants) reads the facts of one order, checkout or payment from
PostgreSQL; tests add what the provider really did (a recording proxy at the provider edge)
and what the workflows are doing. Every rule returns readable violations; none is a pass.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

MONEY_IN = ("capture", "charge")  # operations that take the customer's money
FAILED_WORKFLOW = ("failed", "terminated", "timed_out", "canceled", "cancelled", "missing")


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.subject}: {self.detail}"


@dataclass(frozen=True)
class LedgerEntry:
    """One row of our payment ledger (payment_operations)."""

    payment_ref: str
    kind: str  # authorize | capture | void | refund | charge
    amount: int
    status: str  # pending | succeeded | failed
    idempotency_key: str


@dataclass(frozen=True)
class ProviderEffect:
    """Something the payment provider did (answered successfully), on ``payment`` (its intent id)."""

    kind: str
    payment: str
    amount: int
    idempotency_key: str
    reference: str | None = None  # our business reference, for charges and authorizations
    multicapture: bool = False  # an authorization that may be captured in parts (Stripe request_multicapture)


@dataclass(frozen=True)
class ShipmentView:
    shipment_id: str
    status: str
    capture_amount: int | None
    alert: str | None = None


@dataclass(frozen=True)
class OrderView:
    """What GET /orders/{id} shows of an order's money."""

    order_id: str
    status: str
    total: int
    shipments: tuple[ShipmentView, ...] = ()


@dataclass(frozen=True)
class StockLevel:
    sku: str
    location_id: str
    on_hand: int
    reserved: int


@dataclass(frozen=True)
class WorkflowView:
    """A workflow's execution status and the reason ops can see while it runs (None: none visible)."""

    workflow_id: str
    # running | completed | continued_as_new | failed | terminated | timed_out | canceled | missing (never started)
    status: str
    visible_reason: str | None = None


@dataclass(frozen=True)
class MoneyFacts:
    """Everything known about one piece of business (a checkout and the order it became)."""

    subject: str
    ledger: tuple[LedgerEntry, ...] = ()
    provider: tuple[ProviderEffect, ...] | None = None  # None: nobody recorded the provider
    order: OrderView | None = None
    # The money's story is over (checkout failed, order cancelled): nothing may stay held.
    settled: bool = False
    stock_before: tuple[StockLevel, ...] | None = None  # None: no baseline taken
    stock_after: tuple[StockLevel, ...] = ()
    stock_must_return: bool = False
    checkout_failed: bool = False  # the customer was told the checkout failed
    workflows: tuple[WorkflowView, ...] = field(default=())


def violations(facts: MoneyFacts) -> list[Violation]:
    """Every invariant of issue 11 over ``facts``."""
    return [
        *ledger_settled(facts), *authorization_balance(facts), *refunds_within_captured(facts),
        *nothing_captured_without_order(facts), *failed_checkout_has_no_order(facts), *order_shows_ledger(facts), *ledger_matches_provider(facts),
        *no_double_charge(facts), *captures_follow_provider_rules(facts), *stock_returns_to_baseline(facts), *workflows_end_or_wait_visibly(facts),
    ]


def ledger_settled(facts: MoneyFacts) -> list[Violation]:
    """A pending ledger entry at rest is an unknown outcome nobody resolved."""
    return [Violation("ledger_settled", facts.subject, f"{e.kind} {e.idempotency_key} is still pending")
            for e in facts.ledger if e.status == "pending"]


@dataclass
class _Balance:
    authorized: int = 0
    captured: int = 0
    refunded: int = 0
    voided: bool = False

    @property
    def released(self) -> int:
        return self.authorized - self.captured if self.voided else 0

    @property
    def held(self) -> int:
        return self.authorized - self.captured - self.released


def _balances(pairs: Iterable[tuple[str, str, int]]) -> dict[str, _Balance]:
    """(payment, kind, amount) -> per-payment balance; a charge authorizes and captures at once."""
    balances: dict[str, _Balance] = defaultdict(_Balance)
    for payment, kind, amount in pairs:
        balance = balances[payment]
        if kind in ("authorize", "charge"):
            balance.authorized += amount
        if kind in MONEY_IN:
            balance.captured += amount
        if kind == "refund":
            balance.refunded += amount
        if kind == "void":
            balance.voided = True
    return balances


def _provider_pairs(facts: MoneyFacts) -> list[tuple[str, str, int]]:
    # The provider replays a repeated idempotency key: only the first call under a key has an effect.
    seen, pairs = set(), []
    for effect in facts.provider or ():
        if effect.idempotency_key not in seen:
            seen.add(effect.idempotency_key)
            pairs.append((effect.payment, effect.kind, effect.amount))
    return pairs


def _ledger_pairs(facts: MoneyFacts) -> list[tuple[str, str, int]]:
    return [(e.payment_ref, e.kind, e.amount) for e in facts.ledger if e.status == "succeeded"]


def authorization_balance(facts: MoneyFacts) -> list[Violation]:
    """authorized = captured + released + still held, with nothing negative; once the story is over,
    nothing is still held. Checked on the provider's side when recorded (that is where money is), else
    on the ledger's."""
    side, pairs = ("provider", _provider_pairs(facts)) if facts.provider is not None else ("ledger", _ledger_pairs(facts))
    found = []
    for payment, balance in _balances(pairs).items():
        if balance.captured > balance.authorized:
            found.append(Violation("authorization_balance", payment,
                                   f"{side}: captured {balance.captured} > authorized {balance.authorized}"))
        elif facts.settled and balance.held:
            found.append(Violation("authorization_balance", payment,
                                   f"{side}: {balance.held} still held after the flow ended "
                                   f"(authorized {balance.authorized}, captured {balance.captured})"))
    return found


def refunds_within_captured(facts: MoneyFacts) -> list[Violation]:
    found = []
    for side, pairs in (("ledger", _ledger_pairs(facts)), ("provider", _provider_pairs(facts))):
        for payment, balance in _balances(pairs).items():
            if balance.refunded > balance.captured:
                found.append(Violation("refunded_le_captured", payment,
                                       f"{side}: refunded {balance.refunded} > captured {balance.captured}"))
    return found


def nothing_captured_without_order(facts: MoneyFacts) -> list[Violation]:
    """Without an order, whatever was captured or charged has been given back in full."""
    if facts.order is not None:
        return []
    found = []
    for side, pairs in (("ledger", _ledger_pairs(facts)), ("provider", _provider_pairs(facts))):
        for payment, balance in _balances(pairs).items():
            if balance.captured > balance.refunded:
                found.append(Violation("captured_without_order", payment,
                                       f"{side}: {balance.captured - balance.refunded} captured and not refunded, "
                                       f"but no order exists"))
    return found


def failed_checkout_has_no_order(facts: MoneyFacts) -> list[Violation]:
    """A customer told "your checkout failed" must not have an order holding their stock and card."""
    if facts.checkout_failed and facts.order is not None:
        return [Violation("failed_checkout_has_no_order", facts.subject,
                          f"the checkout failed yet order {facts.order.order_id} exists ({facts.order.status})")]
    return []


def order_shows_ledger(facts: MoneyFacts) -> list[Violation]:
    """What GET /orders/{id} shows as captured equals what the ledger says succeeded, and no parcel
    says its capture failed while the ledger holds its money."""
    order = facts.order
    if order is None:
        return []
    shown = sum(s.capture_amount or 0 for s in order.shipments)
    if not shown and order.status == "captured":  # paid up front (a renewal's charge) before any parcel
        shown = order.total
    taken = sum(e.amount for e in facts.ledger if e.kind in MONEY_IN and e.status == "succeeded")
    found = []
    if shown != taken:
        found.append(Violation("order_shows_ledger", order.order_id,
                               f"the order shows {shown} captured, the ledger says {taken} succeeded"))
    captured_keys = {e.idempotency_key for e in facts.ledger if e.kind == "capture" and e.status == "succeeded"}
    for shipment in order.shipments:
        if (shipment.alert or "").startswith("capture_failed") and f"{shipment.shipment_id}:capture" in captured_keys:
            found.append(Violation("order_shows_ledger", shipment.shipment_id,
                                   f"marked {shipment.alert} although its capture succeeded"))
    return found


def ledger_matches_provider(facts: MoneyFacts) -> list[Violation]:
    """Every effect the provider had is a succeeded ledger entry under the same key (money never moves
    unrecorded), and every succeeded entry happened at the provider."""
    if facts.provider is None:
        return []
    ledger = {e.idempotency_key: e for e in facts.ledger}
    provider = {e.idempotency_key: e for e in facts.provider}
    found = []
    for key, effect in provider.items():
        entry = ledger.get(key)
        if entry is None or entry.status != "succeeded":
            found.append(Violation("ledger_matches_provider", effect.payment,
                                   f"the provider did {effect.kind} {effect.amount} under {key}; the ledger says "
                                   f"{entry.status if entry else 'nothing'}"))
    for key, entry in ledger.items():
        if entry.status == "succeeded" and key not in provider:
            found.append(Violation("ledger_matches_provider", entry.payment_ref,
                                   f"the ledger says {entry.kind} {key} succeeded; the provider never did it"))
    return found


def captures_follow_provider_rules(facts: MoneyFacts) -> list[Violation]:
    """Stripe captures a PaymentIntent once: a partial capture releases the rest to the card, unless the
    intent was created for multicapture. A second capture of a single-capture intent takes no money
    (and the first already gave the rest back), whatever a lenient stand-in answers."""
    single = {e.payment for e in facts.provider or () if e.kind == "authorize" and not e.multicapture}
    keys: dict[str, set[str]] = defaultdict(set)
    for effect in facts.provider or ():
        if effect.kind == "capture" and effect.payment in single:
            keys[effect.payment].add(effect.idempotency_key)
    return [Violation("single_capture", payment, f"captured {len(used)} times without multicapture: {sorted(used)}")
            for payment, used in keys.items() if len(used) > 1]


def no_double_charge(facts: MoneyFacts) -> list[Violation]:
    """One business reference is charged (or authorized) under one idempotency key, never a second."""
    keys: dict[tuple[str, str], set[str]] = defaultdict(set)
    for effect in facts.provider or ():
        if effect.kind in ("charge", "authorize") and effect.reference:
            keys[(effect.kind, effect.reference)].add(effect.idempotency_key)
    return [Violation("charged_twice", reference, f"{kind} under {len(used)} keys: {sorted(used)}")
            for (kind, reference), used in keys.items() if len(used) > 1]


def stock_returns_to_baseline(facts: MoneyFacts) -> list[Violation]:
    if not facts.stock_must_return or facts.stock_before is None:
        return []
    before = {(s.sku, s.location_id): s for s in facts.stock_before}
    found = []
    for level in facts.stock_after:
        base = before.get((level.sku, level.location_id))
        if base is not None and (base.on_hand, base.reserved) != (level.on_hand, level.reserved):
            found.append(Violation("stock_baseline", f"{level.sku}@{level.location_id}",
                                   f"on_hand/reserved {base.on_hand}/{base.reserved} before, "
                                   f"{level.on_hand}/{level.reserved} after"))
    return found


def workflows_end_or_wait_visibly(facts: MoneyFacts) -> list[Violation]:
    found = []
    for flow in facts.workflows:
        if flow.status in FAILED_WORKFLOW:
            found.append(Violation("workflow_visible", flow.workflow_id, f"is {flow.status}"))
        elif flow.status == "running" and not flow.visible_reason:
            found.append(Violation("workflow_visible", flow.workflow_id, "running with no visible reason"))
    return found

"""Payment health, fulfilment, returns and inventory reports: pure aggregation over query rows.

The same conventions as models.reports: money in integer minor units per currency, rates as fractions
rounded to 4 places (None for 0/0), durations in whole seconds. Each report also flattens itself into
CSV rows (``csv_rows``) so the route can answer either.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pydantic import BaseModel, Field

from models.reports import rate

AUTHORIZING_KINDS = ("authorize", "charge")  # a card hold, or an off-session charge (subscriptions)


class CurrencyMoney(BaseModel):
    currency: str
    captured: int = Field(0, description="Captured or charged, minor units")
    refunded: int = Field(0, description="Refunded, minor units")
    refund_rate: float | None = Field(None, description="refunded / captured")


class PaymentHealth(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    authorizations_attempted: int = Field(description="Authorizations and charges the provider answered")
    authorizations_succeeded: int
    authorization_rate: float | None
    pending: int = Field(description="Operations still waiting for the provider's answer")
    decline_codes: dict[str, int] = Field(description="Refused authorizations and charges, by the provider's code")
    currencies: list[CurrencyMoney]

    def csv_rows(self) -> tuple[list[str], list[list]]:
        rows = [["authorization_rate", "", self.authorization_rate],
                ["authorizations_attempted", "", self.authorizations_attempted],
                ["authorizations_succeeded", "", self.authorizations_succeeded], ["pending", "", self.pending]]
        rows += [["decline_code", code, count] for code, count in self.decline_codes.items()]
        for money in self.currencies:
            rows += [["captured", money.currency, money.captured], ["refunded", money.currency, money.refunded],
                     ["refund_rate", money.currency, money.refund_rate]]
        return ["metric", "key", "value"], rows


def payment_health(start: date, end: date, operations: Iterable[tuple[str, str, str | None, str, int, int]]
                   ) -> PaymentHealth:
    """operations: (kind, status, error_code, currency, count, amount) of the ledger in the period."""
    attempted = succeeded = pending = 0
    declines: dict[str, int] = {}
    money: dict[str, CurrencyMoney] = {}
    for kind, status, error_code, currency, count, amount in operations:
        if status == "pending":
            pending += count
            continue
        if kind in AUTHORIZING_KINDS:
            attempted += count
            if status == "succeeded":
                succeeded += count
            else:
                declines[error_code or "unknown"] = declines.get(error_code or "unknown", 0) + count
        if status == "succeeded" and kind in ("capture", "charge", "refund"):
            row = money.setdefault(currency, CurrencyMoney(currency=currency))
            if kind == "refund":
                row.refunded += amount
            else:
                row.captured += amount
    for row in money.values():
        row.refund_rate = rate(row.refunded, row.captured)
    return PaymentHealth(start=start, end=end, authorizations_attempted=attempted,
                         authorizations_succeeded=succeeded, authorization_rate=rate(succeeded, attempted),
                         pending=pending, decline_codes=dict(sorted(declines.items(), key=lambda item: -item[1])),
                         currencies=sorted(money.values(), key=lambda row: row.currency))


class Durations(BaseModel):
    count: int = 0
    average_seconds: int | None = None
    median_seconds: int | None = None


class LabelCost(BaseModel):
    currency: str
    orders: int = Field(description="Orders with at least one label bought")
    label_cost: int = Field(description="Sum of their label costs, minor units")
    per_order: int | None = Field(description="Average label cost per such order, minor units")


class FulfilmentReport(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    parcels: int = Field(description="Parcels created in the period, cancelled ones excluded")
    time_to_pack: Durations = Field(description="From the parcel's creation to its first packing")
    time_to_ship: Durations = Field(description="From the parcel's creation to its hand-over to the carrier")
    label_cost: list[LabelCost]

    def csv_rows(self) -> tuple[list[str], list[list]]:
        rows = [["parcels", "", self.parcels]]
        for name, durations in (("time_to_pack", self.time_to_pack), ("time_to_ship", self.time_to_ship)):
            rows += [[name, "count", durations.count], [name, "average_seconds", durations.average_seconds],
                     [name, "median_seconds", durations.median_seconds]]
        for cost in self.label_cost:
            rows += [["label_cost_per_order", cost.currency, cost.per_order]]
        return ["metric", "key", "value"], rows


def durations(count: int, average: float | None, median: float | None) -> Durations:
    return Durations(count=count, average_seconds=None if average is None else round(average),
                     median_seconds=None if median is None else round(median))


def label_costs(rows: Iterable[tuple[str, int, int]]) -> list[LabelCost]:
    """rows: (currency, orders with a label, their label cost)."""
    return [LabelCost(currency=currency, orders=orders, label_cost=cost,
                      per_order=(2 * cost + orders) // (2 * orders) if orders else None)
            for currency, orders, cost in sorted(rows)]


class ReturnsReport(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    orders: int = Field(description="Orders placed in the period (no-charge exchanges excluded)")
    orders_returned: int = Field(description="... with a return requested since")
    return_rate: float | None = Field(description="orders_returned / orders")
    returns_requested: int = Field(description="Returns requested in the period")
    units_by_reason: dict[str, int] = Field(description="Units asked back in the period's returns, by reason")
    returns_by_status: dict[str, int]

    def csv_rows(self) -> tuple[list[str], list[list]]:
        rows = [["orders", "", self.orders], ["orders_returned", "", self.orders_returned],
                ["return_rate", "", self.return_rate], ["returns_requested", "", self.returns_requested]]
        rows += [["units_by_reason", reason, units] for reason, units in self.units_by_reason.items()]
        rows += [["returns_by_status", status, count] for status, count in self.returns_by_status.items()]
        return ["metric", "key", "value"], rows


def returns_report(start: date, end: date, *, orders: int, orders_returned: int,
                   returns: Iterable[tuple[str, list[dict]]]) -> ReturnsReport:
    """returns: (status, lines [{sku, quantity, reason}]) of the returns requested in the period."""
    reasons: dict[str, int] = {}
    statuses: dict[str, int] = {}
    count = 0
    for status, lines in returns:
        count += 1
        statuses[status] = statuses.get(status, 0) + 1
        for line in lines:
            reason = line.get("reason") or "unspecified"
            reasons[reason] = reasons.get(reason, 0) + int(line["quantity"])
    return ReturnsReport(start=start, end=end, orders=orders, orders_returned=orders_returned,
                         return_rate=rate(orders_returned, orders), returns_requested=count,
                         units_by_reason=dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))),
                         returns_by_status=dict(sorted(statuses.items())))

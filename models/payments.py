"""Payment limits: never capture more than authorized, never refund more than captured."""

from dataclasses import dataclass

from models.errors import Conflict, DomainError


@dataclass(frozen=True)
class PaymentTotals:
    """Sums over one payment's operations; in-flight (pending) operations count as done.

    ``closed``: the provider released what was not captured without a void, because the authorization
    had no multicapture and was captured (its only capture). So authorized = captured + released + held.
    """

    authorized: int = 0
    captured: int = 0
    refunded: int = 0
    voided: bool = False
    closed: bool = False

    @property
    def capturable(self) -> int:
        return self.held

    @property
    def held(self) -> int:
        """Still on hold on the card, capturable."""
        return 0 if self.voided or self.closed else max(0, self.authorized - self.captured)

    @property
    def released(self) -> int:
        """Given back to the card uncaptured (by a void, or by the rest of a single capture)."""
        return max(0, self.authorized - self.captured) if self.voided or self.closed else 0

    @property
    def refundable(self) -> int:
        return max(0, self.captured - self.refunded)


def checkout_authorization_key(checkout_id: str) -> str:
    """The idempotency key of a checkout's own authorization (an order's re-authorizations use others)."""
    return f"{checkout_id}:authorize"


def reauthorization_ref(order_id: str, attempt: int) -> str:
    """The payment of an order's ``attempt``-th renewed authorization."""
    return f"{order_id}:reauth-{attempt}"


def reauthorized_order(payment_ref: str) -> str | None:
    """The order whose renewed authorization ``payment_ref`` is (None: not a renewal)."""
    order_id, renewal, _ = payment_ref.rpartition(":reauth-")
    return order_id if renewal else None


def parcel_capture(share: int, uncaptured: int, *, multicapture: bool) -> int:
    """What one parcel's capture takes from an authorization.

    With multicapture the parcel pays its ``share`` (never more than is left uncaptured). Without it the
    authorization can be captured only once and a partial capture releases the rest to the card, so the
    first parcel captures everything still uncaptured (the whole order) and later parcels nothing.
    """
    return min(share, uncaptured) if multicapture else uncaptured


def check_capture(totals: PaymentTotals, amount: int) -> None:
    if amount <= 0:
        raise DomainError("capture amount must be positive", code="invalid_amount")
    if totals.voided:
        raise Conflict("the authorization was voided", code="authorization_voided")
    if totals.closed:
        raise DomainError("the authorization was already captured once and released the rest (no multicapture)",
                          code="capture_exceeds_authorized", details={"requested": amount, "capturable": 0})
    if amount > totals.capturable:
        raise DomainError(
            f"cannot capture {amount}: only {totals.capturable} of the authorization remains",
            code="capture_exceeds_authorized", details={"requested": amount, "capturable": totals.capturable},
        )


def check_refund(totals: PaymentTotals, amount: int) -> None:
    if amount <= 0:
        raise DomainError("refund amount must be positive", code="invalid_amount")
    if amount > totals.refundable:
        raise DomainError(
            f"cannot refund {amount}: only {totals.refundable} captured and not yet refunded",
            code="refund_exceeds_captured", details={"requested": amount, "refundable": totals.refundable},
        )


def check_void(totals: PaymentTotals) -> None:
    if totals.captured:
        raise Conflict("part of the authorization was captured; refund instead of voiding", code="already_captured")


# What a checkout whose authorization went unanswered tells the shopper, by the outcome of settling it
# (``nothing_held``, ``released`` or ``unsettled``).
UNANSWERED_AUTHORIZATION_MESSAGES = {
    "nothing_held": "the payment service did not respond; nothing was charged",
    "released": "the payment service did not respond in time; the hold it placed on the card was released "
                "and nothing was charged",
    "unsettled": "the payment service did not respond; nothing was charged, and any hold it may have placed "
                 "on the card will be released once it can be checked",
}

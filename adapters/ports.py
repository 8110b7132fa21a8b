"""Ports: what the application needs from the outside world, as typing.Protocols.

Adapters raise ``models.errors.DomainError`` subclasses for business outcomes
(declined card, undeliverable address) and any other exception for transient
trouble, which Temporal retries (real adapters raise ``ProviderUnavailable``).
"""

from typing import Protocol

from models.errors import DomainError

from models.commerce import Address, Label, PricedCart, ShipmentRequest, ShippingRate, TaxQuote, TaxRefund
from models.notifications import EmailMessage


class ProviderUnavailable(Exception):
    """Transient provider trouble (5xx, timeout, connection, rate limit): retry later."""


class InvalidWebhook(DomainError):
    """A webhook whose signature does not verify (or that is not JSON): never acted upon."""

    code = "invalid_signature"
    http_status = 400


# Signatures prove who sent a webhook, not when: the providers' checks only refuse OLD signing times
# (replays), so a clock far ahead (or a secret leaked to someone minting events for later) would pass.
WEBHOOK_FUTURE_TOLERANCE_SECONDS = 300  # clock skew we accept between the provider and us


def refuse_future_signing(provider: str, signed_at: float, now: float,
                          tolerance: float = WEBHOOK_FUTURE_TOLERANCE_SECONDS) -> None:
    """``InvalidWebhook`` when a webhook says it was signed more than ``tolerance`` seconds from now."""
    if signed_at - now > tolerance:
        raise InvalidWebhook(f"{provider} webhook rejected: signed {signed_at - now:.0f}s in the future "
                             f"(tolerance {tolerance:.0f}s)")


class PaymentResult:
    """Provider answer to one payment operation.

    ``status``: authorized, requires_action, captured, pending, voided or refunded.
    ``requires_action`` (3-D Secure) comes with the ``client_secret`` the storefront hands
    to Stripe.js and, for redirect flows, a ``next_action_url``. ``multicapture`` says whether an
    authorization may be captured in several parts (Stripe: the card's multicapture status is
    ``available``); without it the first capture is the only one and releases the rest.
    """

    __slots__ = ("provider_ref", "status", "amount", "client_secret", "next_action_url", "multicapture")

    def __init__(self, provider_ref: str, status: str, amount: int, client_secret: str | None = None,
                 next_action_url: str | None = None, multicapture: bool = False):
        self.provider_ref = provider_ref
        self.status = status
        self.amount = amount
        self.client_secret = client_secret
        self.next_action_url = next_action_url
        self.multicapture = multicapture

    def __repr__(self) -> str:
        return f"PaymentResult({self.provider_ref!r}, {self.status!r}, {self.amount})"


class PaymentCustomer:
    """A provider-side customer, with the payment method attached to it when one was given, for later charges."""

    __slots__ = ("customer_ref", "payment_method")

    def __init__(self, customer_ref: str, payment_method: str | None):
        self.customer_ref = customer_ref
        self.payment_method = payment_method


class PaymentGateway(Protocol):
    name: str
    # SPLIT_CAPTURE_POLICY=multicapture: authorizations ask for multicapture where the card allows it.
    request_multicapture: bool

    async def authorize(
        self, *, amount: int, currency: str, payment_method: str, idempotency_key: str, reference: str,
        customer_ref: str | None = None, save_for_future: bool = False, off_session: bool = False,
    ) -> PaymentResult:
        """A hold of ``amount``. A card is charged again later only through a provider customer (Stripe refuses a
        method used once without one): ``customer_ref`` + ``save_for_future`` keep the card for that customer as the
        card holder confirms (checkout); ``customer_ref`` + ``off_session`` charge the card so kept with nobody at
        the keyboard (re-authorizations, order edits, exchange differences)."""
        ...

    async def capture(self, *, provider_ref: str, amount: int, currency: str, idempotency_key: str,
                      final: bool = True) -> PaymentResult:
        """Capture ``amount``. ``final=False`` (multicapture authorizations only) keeps the rest capturable;
        a final capture releases whatever it leaves uncaptured."""
        ...

    async def void(self, *, provider_ref: str, idempotency_key: str) -> PaymentResult: ...

    async def increment_authorization(self, *, provider_ref: str, amount: int, currency: str,
                                      idempotency_key: str) -> PaymentResult:
        """Raise an uncaptured authorization to ``amount`` (its new total). Only where the provider allows it
        (Stripe: an intent created with incremental authorization support requested, before any capture);
        otherwise a DomainError, and the caller authorizes anew."""
        ...

    async def refund(self, *, provider_ref: str, amount: int, currency: str, idempotency_key: str) -> PaymentResult: ...

    async def retrieve(self, *, provider_ref: str) -> PaymentResult:
        """Current state of a payment, e.g. after the customer completed 3-D Secure."""
        ...

    async def lookup(self, *, kind: str, idempotency_key: str, reference: str,
                     provider_ref: str | None = None) -> PaymentResult | None:
        """What the provider did for one of OUR ledger operations whose answer was lost (kind: authorize,
        capture, void, refund, charge): its current PaymentResult (status authorized / captured / voided /
        refunded / pending / requires_action ...), or None when the provider has no record of it (it never
        acted; also when it refused or declined it, which moved and holds no money). Raises ProviderUnavailable
        when it cannot tell right now. Never creates a NEW money movement under a different key.
        For capture, void and refund, ``provider_ref`` is the payment (authorization) they were made on."""
        ...

    async def create_customer(self, *, email: str, payment_method: str | None = None,
                              idempotency_key: str) -> PaymentCustomer:
        """A provider customer under ``{idempotency_key}:customer`` (the same key answers the same customer),
        holding ``payment_method`` when one is given."""
        ...

    async def charge_off_session(
        self, *, customer_ref: str, payment_method: str, amount: int, currency: str, idempotency_key: str,
        reference: str,
    ) -> PaymentResult: ...


class TaxCalculator(Protocol):
    name: str

    async def quote(self, *, cart: PricedCart, address: Address, shipping_amount: int, document_code: str) -> TaxQuote: ...

    async def commit(
        self, *, cart: PricedCart, address: Address, shipping_amount: int, document_code: str,
        customer_code: str | None = None,
    ) -> TaxQuote:
        """Record the sale as a committed invoice under ``document_code`` (safe to repeat)."""
        ...

    async def void(self, *, document_code: str) -> None: ...

    async def refund(
        self, *, document_code: str, refund_code: str, lines: list[str] | None = None, percent_bp: int | None = None,
    ) -> TaxRefund:
        """Return document for a committed invoice: ``lines`` (skus, "shipping") or a percentage
        in basis points; neither means a full refund."""
        ...


class ShippingCarrier(Protocol):
    name: str

    async def rates(self, *, cart: PricedCart, address: Address) -> list[ShippingRate]: ...

    async def verify_address(self, *, address: Address) -> Address:
        """The carrier's corrected form of a deliverable address; DomainError address_invalid otherwise."""
        ...

    async def buy_label(self, *, shipment: ShipmentRequest, rate_id: str, idempotency_key: str) -> Label: ...

    async def refund_label(self, *, label_id: str) -> str:
        """Ask for the postage back; returns the carrier's refund status (submitted, refunded...)."""
        ...


class EmailSender(Protocol):
    name: str

    async def send(self, message: EmailMessage) -> str:
        """Deliver (or, locally, store) the message; returns its Message-ID, the same on a resend."""
        ...

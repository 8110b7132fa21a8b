"""Ports: what the application needs from the outside world, as typing.Protocols.

Adapters raise ``models.errors.DomainError`` subclasses for business outcomes
(declined card, undeliverable address) and any other exception for transient
trouble, which Temporal retries.
"""

from typing import Protocol

from models.commerce import Address, PricedCart, ShippingRate, TaxQuote


class PaymentResult:
    """Provider answer to one payment operation."""

    __slots__ = ("provider_ref", "status", "amount")

    def __init__(self, provider_ref: str, status: str, amount: int):
        self.provider_ref = provider_ref
        self.status = status
        self.amount = amount


class PaymentGateway(Protocol):
    name: str

    async def authorize(
        self, *, amount: int, currency: str, payment_method: str, idempotency_key: str, reference: str
    ) -> PaymentResult: ...

    async def capture(self, *, provider_ref: str, amount: int, currency: str, idempotency_key: str) -> PaymentResult: ...

    async def void(self, *, provider_ref: str, idempotency_key: str) -> PaymentResult: ...

    async def refund(self, *, provider_ref: str, amount: int, currency: str, idempotency_key: str) -> PaymentResult: ...


class TaxCalculator(Protocol):
    name: str

    async def quote(self, *, cart: PricedCart, address: Address, shipping_amount: int, document_code: str) -> TaxQuote: ...

    async def void(self, *, document_code: str) -> None: ...


class ShippingCarrier(Protocol):
    name: str

    async def rates(self, *, cart: PricedCart, address: Address) -> list[ShippingRate]: ...

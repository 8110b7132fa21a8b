"""The one place adapters are chosen and wired (cosmicpython's bootstrap)."""

from dataclasses import dataclass

import structlog

from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from adapters.ports import PaymentGateway, ShippingCarrier, TaxCalculator
from config import Settings

log = structlog.get_logger("orderflow.adapters")


@dataclass
class Adapters:
    payment: PaymentGateway
    tax: TaxCalculator
    shipping: ShippingCarrier


def build_adapters(settings: Settings) -> Adapters:
    if "local" in (settings.payment_backend, settings.tax_backend, settings.shipping_backend):
        log.warning(
            "using local provider stand-ins (development only)",
            payment=settings.payment_backend, tax=settings.tax_backend, shipping=settings.shipping_backend,
        )
    unsupported = [
        f"{port}={backend}"
        for port, backend in (("payment", settings.payment_backend), ("tax", settings.tax_backend),
                              ("shipping", settings.shipping_backend))
        if backend != "local"
    ]
    if unsupported:
        raise SystemExit(f"provider backends not available in this build: {', '.join(unsupported)}")
    return Adapters(payment=LocalPaymentGateway(), tax=LocalTaxCalculator(), shipping=LocalShippingCarrier())

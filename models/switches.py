"""Payment and shipping methods ops can switch off, and the rule for what remains offered."""

from typing import Literal

PaymentMethodType = Literal["card", "apple_pay", "google_pay", "paypal"]
ShippingMethod = Literal["standard", "express"]
PAYMENT_METHOD_TYPES: tuple[str, ...] = PaymentMethodType.__args__
SHIPPING_METHODS: tuple[str, ...] = ShippingMethod.__args__
KINDS = {"payment_method": PAYMENT_METHOD_TYPES, "shipping_method": SHIPPING_METHODS}


def offered(kind: str, disabled: set[str]) -> list[str]:
    """The methods of ``kind`` still offered, in the canonical order."""
    return [name for name in KINDS[kind] if name not in disabled]

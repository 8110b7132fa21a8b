"""Workflow ids, defined once: they say what a workflow is about in the Temporal UI, and a business id
always reaches the same workflow (a retried request, a webhook, a support action)."""


def checkout(checkout_id: str) -> str:
    return f"checkout-{checkout_id}"


def order(order_id: str) -> str:
    """The order's fulfillment workflow (cancel, routing, re-authorization)."""
    return f"order-{order_id}"


def quote(cart_id: str, fingerprint: str) -> str:
    """One carrier + tax quote of a cart as priced for one address (the same question asked twice meets
    the one workflow)."""
    return f"quote-{cart_id}-{fingerprint[:16]}"


def shipment(shipment_id: str) -> str:
    return f"shipment-{shipment_id}"


def support(order_id: str) -> str:
    """The order's support workflow (refunds)."""
    return f"support-{order_id}"


def return_(rma_id: str) -> str:
    return f"return-{rma_id}"


def dispute(dispute_id: str) -> str:
    return f"dispute-{dispute_id}"


def subscription(subscription_id: str) -> str:
    return f"subscription-{subscription_id}"


def subscription_sign_up(subscription_id: str) -> str:
    """The provider sign-up that precedes the subscription (its payment method saved with the provider)."""
    return f"subscription-signup-{subscription_id}"


def cart_reminders(cart_id: str) -> str:
    """The abandoned-cart reminder series of one cart."""
    return f"cart-{cart_id}"


def sign_in_link(customer_id: str, minute: int) -> str:
    """One sign-in link mail per customer per minute (``minute``: Unix time // 60); also the link's id."""
    return f"sign-in-link-{customer_id}-{minute}"

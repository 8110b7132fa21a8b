"""Payment methods in the local card simulator, reused the way Stripe allows it and no further.

Stripe.js hands the storefront a new PaymentMethod for each card entry. A PaymentIntent that uses it without a
Customer attachment spends it: Stripe refuses every later use with an ``invalid_request_error`` (HTTP 400) saying
"The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a
connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a
PaymentMethod multiple times, you must attach it to a Customer first." (quoted in drupal.org/node/3464286 and
liberapay/liberapay.com#2686; Stripe's references we found give no error ``code`` for it, so the refusal carries
none). The way to keep a card is a PaymentIntent confirmed with ``customer`` and ``setup_future_usage``, which
attaches it on confirmation (Stripe's "Attach a PaymentMethod to a Customer" reference recommends it over the
attach endpoint); an attached method is then used with its own customer ("Payment methods attached to other
Customers cannot be used with this PaymentIntent"), and the simulator also wants that customer named.

Stripe's test tokens (``pm_card_visa`` …) are the exception: each use makes a new PaymentMethod, so they can be
used again and again; the simulator leaves them alone. A method id that is not a token stands for a Stripe.js one.
"""

TEST_TOKEN_PREFIX = "pm_card_"

SPENT = ("The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared "
         "with a connected account without Customer attachment, or was detached from a Customer. It may not be used "
         "again. To use a PaymentMethod multiple times, you must attach it to a Customer first.")


def is_test_token(payment_method: str) -> bool:
    return payment_method.startswith(TEST_TOKEN_PREFIX)


async def refusal(book, payment_method: str, customer_ref: str | None) -> dict | None:
    """Why Stripe would refuse to use ``payment_method`` (for ``customer_ref``) now, or None."""
    if is_test_token(payment_method):
        return None
    method = await book.method(payment_method)
    if method is None:
        return None
    if method["spent"]:
        return _refused(SPENT)
    if method["customer_ref"] is not None and customer_ref != method["customer_ref"]:
        return _refused("The provided PaymentMethod is attached to another Customer (or to one that was not given): "
                        "it can only be used with the Customer it is attached to.")
    return None


async def record_use(book, payment_method: str, customer_ref: str | None, *, attach: bool) -> None:
    """After a payment used the method: ``attach`` (a customer and ``setup_future_usage``) keeps it for that
    customer; without it, a method that is not attached yet is spent."""
    if is_test_token(payment_method):
        return
    method = await book.method(payment_method) or {"id": payment_method, "customer_ref": None, "spent": False}
    if method["customer_ref"] is not None:
        return
    if attach and customer_ref is not None:
        method["customer_ref"] = customer_ref
    else:
        method["spent"] = True
    await book.save_method(method)


def _refused(message: str) -> dict:
    # As the Stripe adapter words an invalid_request_error (stripe.InvalidRequestError → payment_invalid_request).
    return {"error": "invalid", "message": message, "code": "payment_invalid_request",
            "details": {"provider_code": None, "http_status": 400}}

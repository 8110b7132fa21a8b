"""Business errors carry a stable machine-readable code.

The same codes travel as Temporal ``ApplicationError.type`` and as the API's
``{"error": {"code": ...}}`` so a storefront sees one vocabulary everywhere.
"""


class DomainError(Exception):
    """A rule was broken by the request; retrying the same thing will not help."""

    code: str = "domain_error"
    http_status: int = 422

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class IllegalTransition(Conflict):
    code = "illegal_transition"


class OutOfStock(Conflict):
    code = "out_of_stock"


class PaymentDeclined(DomainError):
    code = "payment_declined"
    http_status = 402

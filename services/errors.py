"""A refusal with its own HTTP status, raised by handlers and answered by every entry point.

A ``DomainError`` subclass, so the API renders it as ``{"error": {"code", …}}`` with ``status`` and
any ``headers`` (e.g. ``Retry-After``), and the console shows its message.
"""

from models.errors import DomainError


class Refused(DomainError):
    def __init__(self, status: int, code: str, message: str, details=None, headers: dict[str, str] | None = None):
        super().__init__(message, code=code, details=details)
        self.status = self.http_status = status
        self.headers = headers  # e.g. Retry-After on a 429, WWW-Authenticate on a 401


def required_key(idempotency_key: str | None) -> str:
    """The Idempotency-Key of a call that needs one (checkouts, refunds, subscriptions)."""
    if not idempotency_key or not idempotency_key.strip():
        raise Refused(400, "idempotency_key_required", "send an Idempotency-Key header (e.g. a UUID)")
    return idempotency_key

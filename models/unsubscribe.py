"""Signed unsubscribe links for marketing email (pure: no I/O, no clock).

A link names the address and carries ``token = HMAC-SHA256(secret, normalised email)``, so only we can
mint one and nobody can unsubscribe an address they were not sent. The same URL serves as the
RFC 2369 ``List-Unsubscribe`` header, with RFC 8058 one-click (``List-Unsubscribe-Post``).
"""

import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import urlencode

PATH = "/unsubscribe"
ONE_CLICK = "List-Unsubscribe=One-Click"  # the RFC 8058 body, and the List-Unsubscribe-Post value


def normalise_email(email: str) -> str:
    """The suppression list's spelling of an address: trimmed and lowercased."""
    return email.strip().lower()


@dataclass(frozen=True)
class UnsubscribeLinks:
    """Mints and checks unsubscribe tokens; ``base_url`` is the API as recipients reach it."""

    secret: str = field(repr=False)
    base_url: str

    def token(self, email: str) -> str:
        return hmac.new(self.secret.encode(), normalise_email(email).encode(), hashlib.sha256).hexdigest()

    def verify(self, email: str, token: str) -> bool:
        # Bytes, so that a non-ASCII token is simply wrong rather than a TypeError.
        return hmac.compare_digest(self.token(email).encode(), token.encode("utf-8", "replace"))

    def url(self, email: str) -> str:
        query = urlencode({"email": normalise_email(email), "token": self.token(email)})
        return f"{self.base_url.rstrip('/')}{PATH}?{query}"

    def headers(self, email: str) -> dict[str, str]:
        """``List-Unsubscribe`` (the signed URL) and ``List-Unsubscribe-Post`` (one-click)."""
        return {"List-Unsubscribe": f"<{self.url(email)}>", "List-Unsubscribe-Post": ONE_CLICK}

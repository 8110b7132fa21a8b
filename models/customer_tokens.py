"""Tokens a storefront presents to act for a shopper (pure: no I/O; the clock comes in as an argument).

All are HMAC-SHA256 under CUSTOMER_TOKEN_SECRET, so only we can mint them:
- a customer token (``X-Customer-Token``) names a signed-in customer and expires;
- a guest order token (``X-Order-Token``) reads one order, for shoppers without an account (it goes
  out with the completed checkout and in the order's emails, so it does not expire);
- a cart token (``X-Cart-Token``) proves the shopper who created a guest cart.
"""

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime

CUSTOMER_PREFIX = "ct1"


@dataclass(frozen=True)
class CustomerTokens:
    secret: str = field(repr=False)
    ttl_seconds: int = 7 * 24 * 3600

    def _mac(self, message: str) -> str:
        return hmac.new(self.secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _same(expected: str, given: str) -> bool:
        # Bytes, so that a non-ASCII token is simply wrong rather than a TypeError.
        return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))

    def customer_token(self, customer_id: str, now: datetime) -> str:
        expires = int(now.timestamp()) + self.ttl_seconds
        return f"{CUSTOMER_PREFIX}.{customer_id}.{expires}.{self._mac(f'customer:{customer_id}:{expires}')}"

    def customer_of(self, token: str, now: datetime) -> str | None:
        """The customer a token names, if we minted it and it has not expired."""
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != CUSTOMER_PREFIX or not parts[2].isdigit():
            return None
        _, customer_id, expires, mac = parts
        if not self._same(self._mac(f"customer:{customer_id}:{expires}"), mac):
            return None
        return customer_id if int(expires) > now.timestamp() else None

    def order_token(self, order_id: str) -> str:
        return self._mac(f"order:{order_id}")

    def proves_order(self, order_id: str, token: str) -> bool:
        return self._same(self.order_token(order_id), token)

    def cart_token(self, cart_id: str) -> str:
        return self._mac(f"cart:{cart_id}")

    def proves_cart(self, cart_id: str, token: str) -> bool:
        return self._same(self.cart_token(cart_id), token)


@dataclass(frozen=True)
class StorefrontLinks:
    """Signed links in customer email back to the storefront (STOREFRONT_URL): the storefront sends the token
    from the query string as ``X-Order-Token`` / ``X-Cart-Token``, so a guest needs no account to use them."""

    tokens: CustomerTokens
    base_url: str

    def order_url(self, order_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/orders/{order_id}?order_token={self.tokens.order_token(order_id)}"

    def cart_url(self, cart_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/carts/{cart_id}?cart_token={self.tokens.cart_token(cart_id)}"

"""Quotes: what a checkout of a cart to an address will charge (POST /carts/{id}/quote).

Computed by the same code as the checkout's activities (activities/quoting.py). The tax and shipping providers
are built once per API process from the settings, as the worker builds them.
"""

from datetime import UTC, datetime

from activities.quoting import QuoteProviders, quote_cart
from adapters.factory import build_quote_providers
from adapters.ports import ProviderUnavailable
from config import Settings
from models.quotes import Quote, QuoteRequest
from services.deps import Deps
from services.errors import Refused

QUOTE_RETRY_AFTER_SECONDS = 5


def providers_for(settings: Settings) -> QuoteProviders:
    """The tax and shipping providers the worker's checkout uses (build once per process and keep)."""
    tax, carrier = build_quote_providers(settings)
    return QuoteProviders(carrier=carrier, tax=tax)


async def quote(deps: Deps, providers: QuoteProviders, cart_id: str, request: QuoteRequest) -> Quote:
    """``503 quote_unavailable`` (+ ``Retry-After``) while the carrier or the tax service does not answer."""
    try:
        return await quote_cart(deps.engine, providers, cart_id, request, datetime.now(UTC),
                                deps.settings.quote_ttl_seconds)
    except ProviderUnavailable as down:
        raise Refused(503, "quote_unavailable", "the shipping or tax service did not answer; retry shortly",
                      headers={"Retry-After": str(QUOTE_RETRY_AFTER_SECONDS)}) from down

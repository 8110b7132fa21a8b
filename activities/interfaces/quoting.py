"""What the workflows may know of ``activities.quoting``: names and types, no implementation."""

from temporalio import activity

from models.quotes import Quote, QuoteAsk


class QuoteActivities:
    @activity.defn
    async def quote_with_providers(self, ask: QuoteAsk) -> Quote:
        ...

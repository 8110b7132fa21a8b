"""What the workflows may know of ``activities.returns``: names and types, no implementation."""

from temporalio import activity

from models.commerce import Label, TaxQuote
from models.refunds import RefundResult
from models.returns import ExchangeCharge, ExchangeTerms, Inspection, ReturnInput


class ReturnActivities:
    @activity.defn
    async def set_return_status(self, rma_id: str, status: str, note: str | None, actor: str | None) -> None:
        ...

    @activity.defn
    async def buy_return_label(self, rma: ReturnInput) -> Label:
        ...

    @activity.defn
    async def refund_return_label(self, rma_id: str) -> None:
        ...

    @activity.defn
    async def mark_received(self, rma: ReturnInput) -> bool:
        ...

    @activity.defn
    async def apply_inspection(self, rma: ReturnInput, inspection: Inspection) -> None:
        ...

    @activity.defn
    async def refund_return(self, rma: ReturnInput, accepted: dict[str, int]) -> RefundResult:
        ...

    @activity.defn
    async def create_exchange_order(self, rma: ReturnInput, accepted: dict[str, int], order_id: str,
                                    terms: ExchangeTerms | None = None, charged: ExchangeCharge | None = None) -> str:
        ...

    @activity.defn
    async def hold_exchange_stock(self, rma: ReturnInput) -> None:
        ...

    @activity.defn
    async def release_exchange_stock(self, rma_id: str) -> int:
        ...

    @activity.defn
    async def prepare_exchange(self, rma: ReturnInput, accepted: dict[str, int]) -> ExchangeTerms:
        ...

    @activity.defn
    async def charge_exchange_difference(self, rma: ReturnInput, terms: ExchangeTerms) -> ExchangeCharge:
        ...

    @activity.defn
    async def commit_exchange_tax(self, rma: ReturnInput, terms: ExchangeTerms) -> TaxQuote:
        ...

    @activity.defn
    async def record_exchange_tax(self, rma_id: str, committed: TaxQuote) -> None:
        ...

    @activity.defn
    async def void_exchange_tax(self, rma_id: str, document_code: str) -> bool:
        ...

    @activity.defn
    async def refund_exchange_difference(self, rma: ReturnInput, terms: ExchangeTerms) -> RefundResult:
        ...

"""What the workflows may know of ``activities.support``: names and types, no implementation."""

from temporalio import activity

from models.refunds import RefundCommand, RefundResult


class SupportActivities:
    @activity.defn
    async def issue_refund(self, command: RefundCommand) -> RefundResult:
        ...

    @activity.defn
    async def refund_made(self, command: RefundCommand) -> RefundResult | None:
        ...

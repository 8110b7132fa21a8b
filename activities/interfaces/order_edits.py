"""What the workflows may know of ``activities.order_edits``: names and types, no implementation."""

from temporalio import activity

from models.order_edits import EditAuthorization, EditOutcome, EditPlan, OrderEditCommand


class OrderEditActivities:
    @activity.defn
    async def plan_order_edit(self, command: OrderEditCommand) -> EditPlan:
        ...

    @activity.defn
    async def reserve_order_edit(self, plan: EditPlan) -> int:
        ...

    @activity.defn
    async def release_order_edit(self, plan: EditPlan) -> int:
        ...

    @activity.defn
    async def raise_authorization(self, plan: EditPlan) -> EditAuthorization:
        ...

    @activity.defn
    async def apply_order_edit(self, plan: EditPlan, authorization: EditAuthorization | None) -> EditOutcome:
        ...

    @activity.defn
    async def refund_order_edit(self, plan: EditPlan) -> str:
        ...

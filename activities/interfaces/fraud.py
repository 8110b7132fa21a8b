"""What the workflows may know of ``activities.fraud``: names and types, no implementation."""

from temporalio import activity

from models.fraud import FraudAssessment, ScreeningRequest


class FraudActivities:
    @activity.defn
    async def screen_checkout(self, request: ScreeningRequest) -> FraudAssessment:
        ...

    @activity.defn
    async def record_fraud_review(self, checkout_id: str, review: str, reviewer: str | None, note: str) -> None:
        ...

"""No payment provider call while we hold an order's row lock (issue 12).

A provider call can take seconds (or its whole timeout): holding the order row meanwhile would stall
every capture and cancel of that order, and pin a pool connection. The gateway here checks, while it
is being called, whether the order row can be locked from another connection.
"""

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from temporalio.testing import ActivityEnvironment

from activities.fulfillment import FulfillmentActivities
from activities.payments_service import PaymentService
from db.tables import orders
from tests.workflows.test_fulfillment_faults import NO_EXPIRY, FaultyGateway, stack, tax  # noqa: F401 (fixtures)
from tests.workflows.test_fulfillment_timeouts import POLICY, place_order


class LockProbingGateway(FaultyGateway):
    """Records, for each authorization, whether the order it is for was row-locked at that moment."""

    def __init__(self):
        super().__init__()
        self.engine = None
        self.order_locked_during_authorize: list[bool] = []

    async def authorize(self, *, reference, **kwargs):
        if self.engine is not None:
            self.order_locked_during_authorize.append(await self._locked(reference.split(":")[0]))
        return await super().authorize(reference=reference, **kwargs)

    async def _locked(self, order_id: str) -> bool:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(select(orders.c.id).where(orders.c.id == order_id).with_for_update(nowait=True))
        except OperationalError:  # lock_not_available
            return True
        return False


@pytest.fixture
def gateway():
    return LockProbingGateway()


async def test_the_legacy_renewal_authorizes_without_holding_the_order_row(stack, time_env, engine, gateway):
    worker, api = await stack(NO_EXPIRY)
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)
    renewals = FulfillmentActivities(engine, PaymentService(engine, gateway), POLICY, {})
    gateway.engine = engine

    assert await ActivityEnvironment().run(renewals.renew_authorization, order_id, 1) == "renewed"

    assert gateway.order_locked_during_authorize == [False]
    original, fresh = gateway.authorized
    assert gateway.voided == [original]

"""activities.payments.authorize_payment: the attempt heartbeats from its start, so waiting for a database connection
(before the provider is called) never looks like a dead worker, whose attempt the server would run again alongside
(the service is the edge here)."""

import asyncio

from temporalio.testing import ActivityEnvironment

from activities.payments import PaymentActivities
from models.commerce import PaymentAuthorization


class ServiceWaitingForAConnection:
    """A PaymentService whose authorize waits (as for a pooled connection) until released; it heartbeats nothing."""

    def __init__(self):
        self.released = asyncio.Event()

    async def authorize(self, payment_ref, amount, currency, payment_method, idempotency_key):
        await self.released.wait()
        return PaymentAuthorization(provider="local", authorization_id="pi_1", status="authorized", amount=amount,
                                    currency=currency)


async def test_authorization_heartbeats_while_it_waits_before_the_provider_call():
    service = ServiceWaitingForAConnection()
    environment = ActivityEnvironment()
    beat = asyncio.Event()
    environment.on_heartbeat = lambda *details: beat.set()
    running = asyncio.ensure_future(environment.run(PaymentActivities(service).authorize_payment, "ord_1", 1000,
                                                    "USD", "pm_card_visa", "ord_1:reauth-1:authorize"))
    waited = asyncio.ensure_future(beat.wait())
    await asyncio.wait([waited, running], timeout=5, return_when=asyncio.FIRST_COMPLETED)  # 5 s: a hang guard
    assert beat.is_set(), "no heartbeat while the authorization waited"
    service.released.set()
    assert (await running).authorization_id == "pi_1"

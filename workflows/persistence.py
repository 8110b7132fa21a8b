"""Retry settings for steps that must not give up: those after money was taken (a parcel
whose payment was captured must ship) and the order's own loading and routing.

Such a step retries with a capped backoff for PERSISTENT_BUDGET; past it the workflow raises
an alert (FulfillmentAlert) and tries again after a pause or an ops retry signal, forever.
"""

from datetime import timedelta

from temporalio.common import RetryPolicy

PERSISTENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                               maximum_interval=timedelta(minutes=5))
PERSISTENT_BUDGET = timedelta(hours=1)

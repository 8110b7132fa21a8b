"""The outside world for `make dev`: the local carrier's tracking and the card network's events,
sent to the API as signed Stripe and EasyPost webhooks, so they take the production code path.

Development only: ``orderflow simulate`` and the dev stack's carrier refuse any other environment.
"""

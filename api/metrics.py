"""Prometheus metrics of the API process, served at ``GET /metrics`` (ops-only, see api/access.py).

The worker exports its own (Temporal SDK metrics and ``orderflow_checkouts_total`` for completed and
failed checkouts) on WORKER_METRICS_PORT; see worker.metrics_runtime.
"""

from prometheus_client import Counter, Histogram

# Route templates (``/carts/{cart_id}``), never raw paths, so the label set stays bounded.
REQUEST_SECONDS = Histogram(
    "orderflow_http_request_duration_seconds", "API request latency by route template, method and status",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED_ROUTE = "<unmatched>"

CHECKOUTS = Counter("orderflow_checkouts", "Checkout requests at the API by outcome: started, replayed, "
                    "rejected (backpressure)", ["outcome"])


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(route or UNMATCHED_ROUTE, method, str(status)).observe(seconds)

"""Prometheus exposition of the API's metrics."""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Request latency histogram and checkout counters, for a Prometheus scraper holding an ops key."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

"""OpenTelemetry tracing across the API, the Temporal client and the workers: off by default.

Set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. ``http://127.0.0.1:4318``, OTLP over HTTP) and each process
exports its spans there, under OTEL_SERVICE_NAME or its own name (``orderflow-api``,
``orderflow-worker``). The other OTEL_* variables (headers, timeouts, sampling) apply as the
OpenTelemetry SDK documents them. One checkout is then one trace: the HTTP request, the workflow
start, the workflow and each of its activities (Temporal carries the trace context in its headers).

Nothing here is imported on the hot path when tracing is off: the SDK and exporters are optional
(``pip install -e ".[tracing]"``).
"""

import os

import structlog

log = structlog.get_logger("orderflow.tracing")

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
_provider = None  # this process's tracer provider, once configured


def configure(service_name: str, exporter=None):
    """Install this process's tracer provider and return it, or None when tracing is off.

    ``exporter`` (tests: an in-memory one) replaces the OTLP exporter and turns tracing on; it is
    exported to synchronously, so a finished span is visible at once."""
    global _provider
    if exporter is None and (_provider is not None or not os.environ.get(ENDPOINT_VARIABLE)):
        return _provider
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                                                      service_name)}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        log.info("tracing on", service=service_name, endpoint=os.environ[ENDPOINT_VARIABLE])
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if _provider is None:
        trace.set_tracer_provider(provider)  # once per process: libraries that trace on their own use it
    _provider = provider
    return provider


def temporal_interceptors(provider=None) -> list:
    """For ``Client.connect(interceptors=…)``: workers built on that client trace too."""
    provider = provider or _provider
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("orderflow"))]


def instrument_api(app, provider=None) -> None:
    """A server span per HTTP request, the parent of the Temporal calls the route makes."""
    provider = provider or _provider
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics")

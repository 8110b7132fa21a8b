"""bench/traces.py: decodes what the OpenTelemetry OTLP/HTTP exporter posts and finds one checkout's trace."""

import gzip
import importlib.util
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

spec = importlib.util.spec_from_file_location("bench_traces", Path(__file__).parents[2] / "bench" / "traces.py")
traces = importlib.util.module_from_spec(spec)
spec.loader.exec_module(traces)

MS = 1_000_000


def _span(trace: bytes, span_id: bytes, parent: bytes, name: str, start_ms: int, end_ms: int) -> Span:
    return Span(trace_id=trace, span_id=span_id, parent_span_id=parent, name=name,
                start_time_unix_nano=start_ms * MS, end_time_unix_nano=end_ms * MS)


def _export(service: str, spans: list[Span]) -> bytes:
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    resource.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    return ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString()


def test_a_checkout_trace_across_two_services_is_one_tree():
    checkout, other = b"\x01" * 16, b"\x02" * 16
    api = traces.spans_of(gzip.compress(_export("orderflow-api", [
        _span(checkout, b"\x0a" * 8, b"", "POST /checkouts", 0, 40),
        _span(checkout, b"\x0b" * 8, b"\x0a" * 8, "StartWorkflow:CheckoutWorkflow", 10, 30),
        _span(other, b"\x0c" * 8, b"", "GET /carts/{cart_id}", 0, 5),
    ])), "gzip")
    worker = traces.spans_of(_export("orderflow-worker", [
        _span(checkout, b"\x0d" * 8, b"\x0b" * 8, "RunWorkflow:CheckoutWorkflow", 35, 300),
    ]), None)

    (found,) = traces.checkout_traces(api + worker)

    assert traces.trace_length(found) == 300 * MS
    lines = traces.tree_lines(found)
    assert [line[25:] for line in lines] == [  # after the start offset and duration columns
        "orderflow-api      POST /checkouts",
        "orderflow-api        StartWorkflow:CheckoutWorkflow",
        "orderflow-worker       RunWorkflow:CheckoutWorkflow"]
    assert lines[2].split()[:4] == ["35.0", "ms", "265.0", "ms"]

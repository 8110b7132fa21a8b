"""A minimal OTLP/HTTP trace receiver, to profile checkouts with the stack's own tracing (tracing.py).

    .venv/bin/python bench/traces.py serve --port 4318 --out /tmp/spans.jsonl     # terminal 1
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 make dev                     # terminal 2
    make bench BENCH_ARGS="-n 20 --concurrency 1"                                  # terminal 3
    .venv/bin/python bench/traces.py report /tmp/spans.jsonl                       # one checkout's trace

``serve`` accepts what the OpenTelemetry SDK's OTLP/HTTP exporter posts to ``/v1/traces`` (protobuf,
gzip or not) and appends one JSON line per span. ``report`` prints the median checkout's trace (traces
rooted in ``POST /checkouts``) as a tree: each span's start after the trace's start and its duration,
and, per span name, the median duration over every such trace. No collector or Jaeger is needed.
"""

import argparse
import gzip
import json
import statistics
import sys
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT_PREFIX = "POST /checkouts"


def spans_of(body: bytes, encoding: str | None) -> list[dict]:
    """The spans of one OTLP/HTTP export request, as plain dicts (times in nanoseconds)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    if encoding == "gzip":
        body = gzip.decompress(body)
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource in request.resource_spans:
        service = next((a.value.string_value for a in resource.resource.attributes if a.key == "service.name"), "")
        for scope in resource.scope_spans:
            for span in scope.spans:
                spans.append({"trace": span.trace_id.hex(), "id": span.span_id.hex(),
                              "parent": span.parent_span_id.hex(), "name": span.name, "service": service,
                              "start": span.start_time_unix_nano, "end": span.end_time_unix_nano})
    return spans


def serve(port: int, out: Path) -> None:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            spans = spans_of(body, self.headers.get("Content-Encoding")) if self.path == "/v1/traces" else []
            with out.open("a") as file:
                file.writelines(json.dumps(span) + "\n" for span in spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    print(f"OTLP/HTTP receiver on http://127.0.0.1:{port}, spans to {out}", file=sys.stderr)
    ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()


def checkout_traces(spans: list[dict]) -> list[list[dict]]:
    """Every trace rooted in a ``POST /checkouts`` request, its spans in start order."""
    by_trace: dict[str, list[dict]] = defaultdict(list)
    for span in spans:
        by_trace[span["trace"]].append(span)
    traces = []
    for members in by_trace.values():
        roots = [s for s in members if not s["parent"] and s["name"].startswith(ROOT_PREFIX)]
        if roots:
            traces.append(sorted(members, key=lambda s: s["start"]))
    return traces


def trace_length(trace: list[dict]) -> int:
    return max(s["end"] for s in trace) - min(s["start"] for s in trace)


def tree_lines(trace: list[dict]) -> list[str]:
    """The trace as an indented tree: start offset and duration in milliseconds, service, span name."""
    origin = min(s["start"] for s in trace)
    children: dict[str, list[dict]] = defaultdict(list)
    known = {s["id"] for s in trace}
    for span in trace:
        children[span["parent"] if span["parent"] in known else ""].append(span)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for span in children[parent]:
            lines.append(f"{(span['start'] - origin) / 1e6:8.1f} ms {(span['end'] - span['start']) / 1e6:8.1f} ms  "
                         f"{span['service']:<18} {'  ' * depth}{span['name']}")
            walk(span["id"], depth + 1)

    walk("", 0)
    return lines


def report(path: Path) -> None:
    spans = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    traces = sorted(checkout_traces(spans), key=trace_length)
    if not traces:
        raise SystemExit(f"no trace rooted in {ROOT_PREFIX!r} in {path}")
    median = traces[len(traces) // 2]
    print(f"{len(traces)} checkout traces; the median one ({trace_length(median) / 1e6:.0f} ms end to end):")
    print("\n".join(tree_lines(median)))
    durations: dict[str, list[float]] = defaultdict(list)
    for trace in traces:
        for span in trace:
            durations[span["name"]].append((span["end"] - span["start"]) / 1e6)
    print("\nmedian duration per span name over every checkout trace:")
    for name, values in sorted(durations.items(), key=lambda item: -statistics.median(item[1])):
        print(f"  {statistics.median(values):8.1f} ms  ×{len(values) / len(traces):.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="receive spans over OTLP/HTTP")
    serving.add_argument("--port", type=int, default=4318)
    serving.add_argument("--out", type=Path, required=True)
    reporting = commands.add_parser("report", help="print the median checkout's trace")
    reporting.add_argument("spans", type=Path)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.port, args.out)
    else:
        report(args.spans)


if __name__ == "__main__":
    main()

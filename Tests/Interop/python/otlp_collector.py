"""A stand-in OpenTelemetry collector for the tracing tests: it accepts OTLP/HTTP protobuf exports and records them.

    python otlp_collector.py PORT RECORD_FILE

Every POST is decoded with the OpenTelemetry project's own protobuf classes (`opentelemetry-proto` from PyPI) and
appended to RECORD_FILE as one JSON line: {"path", "content_type", "spans": [...]}, each span with its ids in hex
(as trace viewers show them), its parent, kind, status code, event names, attributes and its resource's attributes.
A body that does not decode is recorded with "error". It answers 200 with an empty ExportTraceServiceResponse, as a
collector does, and checks nothing else: the test sees exactly what Keel sent.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

lock = threading.Lock()


def _value(any_value) -> str:
    kind = any_value.WhichOneof("value")
    return "" if kind is None else str(getattr(any_value, kind))


def _attributes(attributes) -> dict:
    return {attribute.key: _value(attribute.value) for attribute in attributes}


def _spans(request) -> list:
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    {
                        "name": span.name,
                        "traceId": span.trace_id.hex(),
                        "spanId": span.span_id.hex(),
                        "parentSpanId": span.parent_span_id.hex(),
                        "kind": span.kind,
                        "statusCode": span.status.code,
                        "events": [event.name for event in span.events],
                        "links": [link.span_id.hex() for link in span.links],
                        "attributes": _attributes(span.attributes),
                        "resource": resource,
                    }
                )
    return spans


class Collector(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        record = {"path": self.path, "content_type": self.headers.get("content-type", "")}
        try:
            record["spans"] = _spans(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
        except Exception as error:  # a body that is not OTLP protobuf: recorded, for the test to see
            record["error"] = repr(error)
        with lock, open(sys.argv[2], "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:  # readiness probe
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Collector).serve_forever()

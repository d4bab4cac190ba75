"""Sends known log lines to TimberDB's /v1/logs with the OpenTelemetry
Python SDK: stdlib logging through the SDK's LoggingHandler, exported by
opentelemetry-exporter-otlp-proto-http (protobuf), once without and once
with gzip. Half the lines are logged inside a span, so they carry its trace
context. Prints one JSON object: the run id and the trace ids used, for
otlp.sh to read back.

Usage: otlp_client.py BASE_URL RUN_ID LINES_PER_MODE
"""

import json
import logging
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


class FailOnExportError(logging.Handler):
    """The exporter reports a refused export only as a log line; make it fatal."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.errors = []

    def emit(self, record):
        self.errors.append(record.getMessage())


def send(base_url, run_id, mode, compression, count, tracer):
    resource = Resource.create(
        {"service.name": "otlp-client-test", "deployment.environment.name": "ci"}
    )
    provider = LoggerProvider(resource=resource)
    exporter = OTLPLogExporter(endpoint=f"{base_url}/v1/logs", compression=compression)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger(f"timberdb.client.{mode}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    trace_ids = []
    for index in range(count):
        extra = {"request_id": f"{run_id}-{mode}-{index}", "attempt": index}
        message = f"otlpclient {run_id} {mode} line {index}"
        if index % 2 == 0:
            with tracer.start_as_current_span(f"work-{index}") as span:
                trace_ids.append(format(span.get_span_context().trace_id, "032x"))
                logger.warning(message, extra=extra)
        else:
            logger.info(message, extra=extra)
    provider.force_flush()
    provider.shutdown()
    logger.removeHandler(handler)
    return trace_ids


def main():
    base_url, run_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    watcher = FailOnExportError()
    logging.getLogger("opentelemetry").addHandler(watcher)
    tracer = TracerProvider().get_tracer("timberdb.client")
    trace_ids = {}
    for mode, compression in [("plain", Compression.NoCompression), ("gzip", Compression.Gzip)]:
        trace_ids[mode] = send(base_url, run_id, mode, compression, count, tracer)
    if watcher.errors:
        print("the exporter reported errors:", *watcher.errors, sep="\n", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"run_id": run_id, "trace_ids": trace_ids}))


if __name__ == "__main__":
    main()

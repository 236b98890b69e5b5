"""A small X-Ray sampling endpoint for tests: the stdlib HTTP server on 127.0.0.1 (a free port)
in a thread, answering the sampling paths from a `SamplingService` as X-Ray does (JSON bodies,
errors with `x-amzn-ErrorType` and `{"__type", "message"}`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from xrfast.sampling import OPERATIONS_BY_PATH, SamplingRequestError, SamplingService


def _handler(
    service: SamplingService, calls: list[tuple[str, Any]]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            operation = OPERATIONS_BY_PATH.get(self.path)
            try:
                request = json.loads(body or b"{}")
                calls.append((operation or self.path, request))
                if operation is None:
                    raise SamplingRequestError(
                        "UnknownOperationException", self.path, http_status=404
                    )
                status, answer, headers = 200, service.handle(operation, request), {}
            except SamplingRequestError as error:
                status, answer = error.http_status, error.to_dict()
                headers = {"x-amzn-ErrorType": error.code}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    return Handler


@contextmanager
def sampling_endpoint(service: SamplingService) -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    """Serves `service`; yields ("127.0.0.1:port", the calls received) and stops on exit."""
    calls: list[tuple[str, Any]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service, calls))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

"""A recording HTTP server on a free loopback port, posing as a Databricks workspace in the contract tests.

A test gives it a `Recorder` (its requests, a lock, and how it answers each request); every request is
recorded, then answered with JSON, or with raw bytes for artifact downloads. `serve` and `QuietHandler`,
a threaded server on a free port and a handler that logs nothing, serve tests/webhooks.py's receiver too.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None
    authorization: str | None


class Recorder(Protocol):
    lock: threading.Lock
    requests: list[Request]

    def answer(self, request: Request) -> tuple[int, Any]: ...


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps http.server's per-request log lines out of the test output."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free 127.0.0.1 port, in a thread, until the block ends; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            parts = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                body=json.loads(raw) if raw else None,
                authorization=self.headers.get("Authorization"),
            )
            with recorder.lock:
                recorder.requests.append(request)
                status, payload = recorder.answer(request)
            binary = isinstance(payload, bytes)
            out = payload if binary else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if binary else "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _serve  # noqa: N815 (http.server's names)

    return Handler


def serving(recorder: Recorder) -> contextlib.AbstractContextManager[str]:
    """Serve `recorder` until the block ends; yields the server's URL."""
    return serve(_handler(recorder))

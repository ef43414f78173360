"""A loopback HTTP proxy that forwards to an MLflow server and records every request.

Used by the e2e tests ("a no-op `up` sends no write request") and the benchmarks
(HTTP requests per model): point a stack's tracking URI at the proxy and read
`requests` afterwards. It forwards method, path, headers and body unchanged, so
the server sees exactly what the client sent.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

# Read-only endpoints that MLflow's REST API sends as POST.
_READ_POSTS = ("/search", "/get")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class Recorded:
    """One forwarded request."""

    method: str
    path: str
    status: int
    started: float = 0.0  # time.perf_counter() when the proxy got the request
    elapsed_s: float = 0.0  # until the server's whole response was read: the server's share of it

    @property
    def is_write(self) -> bool:
        """True for requests that can change the registry."""
        if self.method in ("GET", "HEAD", "OPTIONS"):
            return False
        route = self.path.split("?", 1)[0].rstrip("/")
        return not route.endswith(_READ_POSTS)


@dataclass
class CountingProxy:
    """Forwards http://127.0.0.1:<port> to `upstream` and keeps a log of requests."""

    upstream: str
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def writes(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.is_write]

    def by_route(self) -> Counter[str]:
        """Request counts per `METHOD path` (query strings dropped)."""
        with self._lock:
            return Counter(f"{r.method} {r.path.split('?', 1)[0]}" for r in self.requests)

    def server_time(self) -> tuple[float, float]:
        """(sum of request latencies, time with at least one request in flight), in seconds.

        Both are measured at the proxy, from a request's arrival to the server's whole response: the
        second is the wall time a client spent waiting on the server, however many requests it had out.
        """
        with self._lock:
            spans = sorted((r.started, r.started + r.elapsed_s) for r in self.requests)
        total = sum(end - start for start, end in spans)
        busy, edge = 0.0, float("-inf")
        for start, end in spans:
            if end > edge:
                busy += end - max(start, edge)
                edge = end
        return total, busy

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def start(self) -> CountingProxy:
        target = urlsplit(self.upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                started = time.perf_counter()
                conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError as exc:
                    with proxy._lock:  # a dead server still saw an attempt: count it
                        proxy.requests.append(
                            Recorded(self.command, self.path, 502, started, time.perf_counter() - started)
                        )
                    self.send_error(502, f"upstream unreachable: {exc}")
                    return
                finally:
                    conn.close()
                elapsed = time.perf_counter() - started
                with proxy._lock:
                    proxy.requests.append(Recorded(self.command, self.path, resp.status, started, elapsed))
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in _HOP_HEADERS and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

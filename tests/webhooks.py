"""What the webhook tests share: the MLflow server settings that let it deliver to loopback, a
recording receiver, and MLflow's signature check, written from MLflow's own delivery code.

MLflow 3.17 delivers from the tracking server (mlflow/webhooks/delivery.py, `_send_webhook_request`):
a POST of `json.dumps({"entity", "action", "timestamp", "data"})` with the headers
`X-MLflow-Delivery-Id` (a UUID), `X-MLflow-Timestamp` (Unix seconds) and, when the webhook has a
secret, `X-MLflow-Signature: v1,<base64 of HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>`
(`_generate_hmac_signature`; the header names are mlflow/webhooks/constants.py's).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.loopback import QuietHandler, serve

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"

# A fixed Fernet key (32 bytes, url-safe base64), so the server's encrypted secrets survive a restart.
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"mrgov-webhook-tests-fernet-key!!").decode()
SERVER_ENV = {
    # MLflow refuses http and private hosts by default (mlflow/utils/validation.py
    # `_validate_webhook_url`, mlflow/webhooks/ssrf.py); the receivers are http on 127.0.0.1.
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    # The server caches each event's webhook list for MLFLOW_WEBHOOK_CACHE_TTL seconds (default 60,
    # `_get_cached_webhooks_by_event`): a new URL is used once the cached list expires.
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": ENCRYPTION_KEY,
}


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver got: its headers (names in lower case) and its raw body."""

    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def payload(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded

    @property
    def event(self) -> str:
        return f"{self.payload['entity']}.{self.payload['action']}"


def signature_of(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """MLflow's signature header value for a delivery (`_generate_hmac_signature`)."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(delivery: Delivery, secret: str) -> bool:
    """True when the delivery carries MLflow's v1 signature of its body with `secret`."""
    got = delivery.header(SIGNATURE_HEADER)
    expected = signature_of(
        secret, delivery.header(DELIVERY_ID_HEADER), delivery.header(TIMESTAMP_HEADER), delivery.body
    )
    return hmac.compare_digest(got, expected)


@dataclass
class Receiver:
    """An HTTP endpoint on 127.0.0.1 that answers 200 and keeps every delivery."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)

    def clear(self) -> None:
        with self.lock:
            self.deliveries.clear()

    def wait_for(self, match: Callable[[Delivery], bool], timeout: float = 60.0) -> Delivery:
        """The first delivery that matches, waiting for it (MLflow delivers from a thread pool)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.received() if match(d)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                seen = [d.payload for d in self.received()]
                raise AssertionError(f"no matching delivery at {self.url} in {timeout:.0f} s; got {seen}")
            time.sleep(0.2)


@contextmanager
def receiving(path: str = "/hooks/mlflow") -> Iterator[Receiver]:
    """A running receiver; its `url` ends with `path`."""
    receiver = Receiver()

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                receiver.deliveries.append(Delivery({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serve(Handler) as base:
        receiver.url = base + path
        yield receiver

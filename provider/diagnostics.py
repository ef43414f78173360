"""Messages from the provider to the engine's log, shown under the resource they are about.

The engine starts a provider with the address of its `Engine` gRPC service as the last command-line
argument (provider/server.py `serve`). `Engine.Log` (pulumi/pulumi `proto/pulumi/engine.proto`) takes
a severity, a message and the URN of the resource it concerns; the CLI prints it with that
resource's diagnostics, in `preview` as in `up`, and `preview --json` lists it under `diagnostics`.
The Python SDK's own `pulumi.log` sends the same request (`_log` in `pulumi/log.py`).

A resource's code calls `info(message)` from inside a provider call; the server attaches the
engine and the URN of the resource being served to that call (`attached`), through a context
variable, so the resources' method signatures stay as they are. Outside a call, or with no engine
(unit and integration tests that do not give one), `info` does nothing. A message that cannot be
delivered never fails the call it was sent from.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

Severity: TypeAlias = engine_pb2.LogSeverity.ValueType
SEND_TIMEOUT = 10.0
"""Seconds a Log request may take before it is given up."""


class EngineLog:
    """A client of the engine's `Engine.Log` RPC at one address (the channel opens on first use)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._stub: Any = None
        self._lock = threading.Lock()

    def send(self, severity: Severity, message: str, urn: str) -> bool:
        """Log `message` about `urn`; False when the engine could not be reached."""
        with self._lock:
            if self._stub is None:
                channel = grpc.insecure_channel(self.address, options=_GRPC_CHANNEL_OPTIONS)
                self._stub = engine_pb2_grpc.EngineStub(channel)
        request = engine_pb2.LogRequest(severity=severity, message=message, urn=urn)
        try:
            self._stub.Log(request, timeout=SEND_TIMEOUT)
        except grpc.RpcError:
            return False
        return True


@dataclass(frozen=True)
class _Target:
    log: EngineLog | None
    urn: str


_TARGET: ContextVar[_Target | None] = ContextVar("mrgov_diagnostics_target", default=None)


def attach(log: EngineLog | None, urn: str) -> None:
    """Send this context's messages to `log`, about `urn` (the server calls it in a copied context)."""
    _TARGET.set(_Target(log, urn))


@contextlib.contextmanager
def attached(log: EngineLog | None, urn: str) -> Iterator[None]:
    """`attach` for the duration of a `with` block."""
    token = _TARGET.set(_Target(log, urn))
    try:
        yield
    finally:
        _TARGET.reset(token)


def info(message: str) -> bool:
    """An info message about the resource being served; False when it went nowhere."""
    return _send(engine_pb2.INFO, message)


def warning(message: str) -> bool:
    """A warning about the resource being served; False when it went nowhere."""
    return _send(engine_pb2.WARNING, message)


def _send(severity: Severity, message: str) -> bool:
    target = _TARGET.get()
    if target is None or target.log is None:
        return False
    return target.log.send(severity, message, target.urn)

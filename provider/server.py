"""The provider process: Pulumi's experimental provider server, our resources, and clean errors.

`MrgovProvider` implements `pulumi.provider.experimental.provider.Provider` (added in
pulumi/pulumi#19080) by dispatching on the type token to the resource classes, parsing wire values
through each resource's declaration and running the blocking registry calls on worker threads.

The SDK's servicer (`pulumi/provider/experimental/server.py`) wraps every failure of a CRUD method in
`Exception(f"{error}:\\n{traceback}")` (its `_raise_with_traceback`), so a user would read a Python
traceback. `CleanServicer` ends such calls with `context.abort(status, message)` instead: one
message saying which resource, which property, what is wrong and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import grpc
import grpc.aio
from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.server import ProviderServicer
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import provider_pb2_grpc

from provider import diagnostics
from provider.config import ConfigError, Connection, ProviderConfig, connect
from provider.declare import Props, diff_of, inputs_of, is_unknown, parse, specs, to_wire, wire
from provider.resource import InputProblems, NotFoundError, ProviderError, Resource
from provider.values import plain_map, property_map

T = TypeVar("T")

# Enough threads for the engine's parallel steps; the registry server is the real limit.
WORKERS = 16
_KINDS = {
    ("add", False): p.PropertyDiffKind.ADD,
    ("add", True): p.PropertyDiffKind.ADD_REPLACE,
    ("delete", False): p.PropertyDiffKind.DELETE,
    ("delete", True): p.PropertyDiffKind.DELETE_REPLACE,
    ("update", False): p.PropertyDiffKind.UPDATE,
    ("update", True): p.PropertyDiffKind.UPDATE_REPLACE,
}
# Keys of the provider config that name the registry: another registry means other objects.
_CONFIG_REPLACE = ("trackingUri", "registryUri")


def _secrets(cls: type[Props]) -> list[str]:
    return [s.name for s in specs(cls) if s.role.secret]


def _token(urn: str) -> str:
    """The resource's own type token (a URN's type part also names its parents' types)."""
    return urn.split("::")[-2].split("$")[-1]


def _input_wire(props: Props) -> dict[str, Any]:
    return {s.name: to_wire(getattr(props, s.attr)) for s in inputs_of(type(props))}


class MrgovProvider(p.Provider):
    """Dispatches the engine's calls to one `Resource` per type token."""

    def __init__(self, version: str, resources: Sequence[Resource[Any]], schema: Callable[[], str]) -> None:
        self.version = version
        self._resources = {r.PROPS.TOKEN: r for r in resources}
        self._schema = schema
        self._conn: Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="mrgov")
        self.engine_log: diagnostics.EngineLog | None = None
        """Where diagnostics go (the engine's Log service); `serve` sets it, tests may too."""

    async def _run(self, fn: Callable[..., T], *args: Any, urn: str = "") -> T:
        """`fn(*args)` on a worker thread; its diagnostics (provider/diagnostics.py) concern `urn`."""
        context = contextvars.copy_context()  # run_in_executor does not carry context variables
        context.run(diagnostics.attach, self.engine_log, urn)
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(context.run, fn, *args))

    def _resource(self, token: str) -> Resource[Any]:
        try:
            return self._resources[token]
        except KeyError:
            raise ProviderError(
                f"unknown resource type {token!r}; this provider has {', '.join(sorted(self._resources))}"
            ) from None

    def _connection(self) -> Connection:
        if self._conn is None:
            raise ProviderError("the mrgov provider was not configured (the engine sent no Configure)")
        return self._conn

    # -- provider ------------------------------------------------------------------------------
    async def get_schema(self, request: p.GetSchemaRequest) -> p.GetSchemaResponse:
        return p.GetSchemaResponse(schema=self._schema())

    async def check_config(self, request: p.CheckRequest) -> p.CheckResponse:
        news = plain_map(request.new_inputs)
        _, failures = parse(ProviderConfig, news)
        # Keys we do not declare (the engine's `version`, say) pass through untouched; the secret
        # ones are marked secret, so a password given in clear is still encrypted in the state.
        inputs = property_map(news, _secrets(ProviderConfig))
        return p.CheckResponse(inputs=inputs, failures=[p.CheckFailure(k, r) for k, r in failures])

    async def diff_config(self, request: p.DiffRequest) -> p.DiffResponse:
        olds, news = plain_map(request.old_state), plain_map(request.new_inputs)
        keys = [s.name for s in inputs_of(ProviderConfig)]
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        return p.DiffResponse(
            changes=bool(changed), replaces=[k for k in changed if k in _CONFIG_REPLACE], diffs=changed
        )

    async def configure(self, request: p.ConfigureRequest) -> p.ConfigureResponse:
        config, failures = parse(ProviderConfig, plain_map(request.args))
        if failures:
            raise ProviderError("; ".join(f"{k} {r}" for k, r in failures))
        try:
            self._conn = connect(config)
        except ConfigError as exc:
            raise ProviderError(str(exc)) from None
        return p.ConfigureResponse(accept_secrets=True, supports_preview=False)

    # -- resources -----------------------------------------------------------------------------
    async def check(self, request: p.CheckRequest) -> p.CheckResponse:
        res = self._resource(_token(request.urn))
        news, failures = parse(res.PROPS, plain_map(request.new_inputs))
        olds = parse(res.PROPS, plain_map(request.old_inputs))[0] if request.old_inputs else None
        # A resource's own rules need every value: a preview with values not known yet checks
        # types only, and the `up` that knows them runs the whole check. `prepare` computes the
        # inputs the engine keeps (retention's archive tags) before they are checked.
        if not failures and self._conn is not None and not is_unknown(plain_map(request.new_inputs)):
            try:
                news = await self._run(res.prepare, self._conn, news, olds, urn=request.urn)
            except InputProblems as exc:
                failures = exc.failures
            failures += await self._run(res.check, self._conn, news, olds, urn=request.urn)
        return p.CheckResponse(
            inputs=property_map(_input_wire(news), _secrets(res.PROPS)),
            failures=[p.CheckFailure(k, r) for k, r in failures],
        )

    async def diff(self, request: p.DiffRequest) -> p.DiffResponse:
        res = self._resource(_token(request.urn))
        found = diff_of(res.PROPS, plain_map(request.old_state), plain_map(request.new_inputs))
        ignored = set(request.ignore_changes)
        changes = [c for c in found.changes if c.top not in ignored and c.path not in ignored]
        return p.DiffResponse(
            changes=bool(changes),
            replaces=sorted({c.top for c in changes if c.replace}),
            delete_before_replace=res.DELETE_BEFORE_REPLACE,
            diffs=sorted({c.top for c in changes}),
            detailed_diff={c.path: p.PropertyDiff(_KINDS[(c.kind, c.replace)], True) for c in changes},
        )

    async def create(self, request: p.CreateRequest) -> p.CreateResponse:
        res = self._resource(_token(request.urn))
        props, _ = parse(res.PROPS, plain_map(request.properties))
        id_, state = await self._run(res.create, self._connection(), props)
        return p.CreateResponse(resource_id=id_, properties=property_map(wire(state), _secrets(res.PROPS)))

    async def read(self, request: p.ReadRequest) -> p.ReadResponse:
        res = self._resource(_token(request.urn))
        last = parse(res.PROPS, plain_map(request.properties))[0] if request.properties else None
        conn = self._connection()
        state = await self._run(res.read, conn, request.resource_id, last)
        if state is None:
            if last is None:  # an import: say so, rather than import nothing
                raise NotFoundError(
                    f"{request.resource_id!r} was not found on {conn.label}; the id is {res.PROPS.ID}"
                )
            return p.ReadResponse()  # gone: refresh drops it from the state
        secrets = _secrets(res.PROPS)
        return p.ReadResponse(
            resource_id=request.resource_id,
            properties=property_map(wire(state), secrets),
            inputs=property_map(_input_wire(state), secrets),
        )

    async def update(self, request: p.UpdateRequest) -> p.UpdateResponse:
        res = self._resource(_token(request.urn))
        olds, _ = parse(res.PROPS, plain_map(request.olds))
        news, _ = parse(res.PROPS, plain_map(request.news))
        state = await self._run(res.update, self._connection(), request.resource_id, olds, news)
        return p.UpdateResponse(properties=property_map(wire(state), _secrets(res.PROPS)))

    async def delete(self, request: p.DeleteRequest) -> None:
        res = self._resource(_token(request.urn))
        props, _ = parse(res.PROPS, plain_map(request.properties))
        await self._run(res.delete, self._connection(), request.resource_id, props)


# ------------------------------------------------------------------------------------------------
# Clean errors
# ------------------------------------------------------------------------------------------------
def _root(exc: BaseException) -> BaseException:
    """The error a provider method raised, under the SDK's traceback-carrying wrapper.

    The wrapper is a plain `Exception` raised while handling the real one; only that layer is peeled
    off. The real error's own `__context__` (say, a refused create that led to a read which then lost
    the connection) is history, not the cause the user needs to see.
    """
    while type(exc) is Exception and exc.__context__ is not None:
        exc = exc.__context__
    return exc


def message_of(exc: BaseException) -> str:
    """One line for the user: the property, what is wrong and what to do.

    The engine shows it under the resource's type and name, so the message does not repeat them.
    """
    root = _root(exc)
    where = ""
    if isinstance(root, ProviderError):
        return f"{where}{root.prop + ': ' if root.prop else ''}{root.message}"
    if isinstance(root, ConfigError):
        return f"{where}{root}"
    code = getattr(root, "error_code", None)
    if isinstance(code, str):  # the registry refused (MLflow's RestException)
        return f"{where}the registry answered {code}: {getattr(root, 'message', root)}"
    if isinstance(root, OSError | ConnectionError) or "Connection" in type(root).__name__:
        return f"{where}cannot reach the registry ({type(root).__name__}: {root}); is the server up?"
    return f"{where}unexpected {type(root).__name__}: {root}"


class CleanServicer(ProviderServicer):
    """The SDK's servicer, with every failure ended as one clean gRPC error message."""


def _clean(name: str) -> Callable[..., Awaitable[Any]]:
    base = getattr(ProviderServicer, name)

    async def method(self: CleanServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await base(self, request, context)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one message, never a traceback
            await context.abort(grpc.StatusCode.UNKNOWN, message_of(exc))

    method.__name__ = name
    return method


for _name in ("CheckConfig", "DiffConfig", "Configure", "Check", "Diff", "Create", "Read", "Update",
              "Delete", "GetSchema"):  # fmt: skip
    setattr(CleanServicer, _name, _clean(_name))


def serve(provider: MrgovProvider, argv: Sequence[str]) -> None:
    """Serve `provider` as a Pulumi plugin: print the port on stdout, then answer the engine.

    Arguments are the engine's: `[--logtostderr] [-v=N] [--tracing X] <engine address>`; the
    address is the last argument that is not a flag.
    """
    args = [a for a in argv if not a.startswith("-")]
    engine = args[-1] if args else ""
    if engine:
        provider.engine_log = diagnostics.EngineLog(engine)

    async def run() -> None:
        server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
        servicer = CleanServicer(list(argv), provider.version, provider, engine_address=engine)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def schema_json(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False)

"""Pulumi mocks for unit tests: run a program in-process and record every registration.

`mock_program` (a fixture) runs a function under `pulumi.runtime.set_mocks` with a monitor
that records what the engine would be asked to do: each resource's type, logical name,
parent, inputs and resource options (protect, retain_on_delete, import id, deleted_with,
dependencies, explicit provider). Mocked providers echo inputs back as outputs, with the id the
real provider would give (a catalog's id is its name, a schema's `catalog.schema`, a ModelMetadata's
its model's full name, and so on), and answer the mrgov provider's computed outputs from what the
mocked registry holds (`EchoMocks`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from provider.auth.model_permissions import ModelPermissionsProps
from provider.auth.role import RoleProps
from provider.config import ProviderConfig
from provider.registry.model_metadata import ModelMetadataProps
from provider.registry.registered_model import RegisteredModelProps

# The mrgov provider (provider/): its provider type and the resource types it serves.
MRGOV_PROVIDER = ProviderConfig.TOKEN
MRGOV_MODEL = RegisteredModelProps.TOKEN
MRGOV_METADATA = ModelMetadataProps.TOKEN
MRGOV_PERMISSIONS = ModelPermissionsProps.TOKEN
MRGOV_ROLE = RoleProps.TOKEN
MRGOV_TYPES = (MRGOV_MODEL, MRGOV_METADATA, MRGOV_PERMISSIONS, MRGOV_ROLE)


@dataclass(frozen=True)
class Registration:
    """One RegisterResource (or ReadResource) call, as the engine would see it."""

    urn: str
    type: str
    name: str
    parent: str  # the parent's URN; "" for the stack itself
    custom: bool
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    import_id: str
    deleted_with: str
    dependencies: tuple[str, ...]
    provider: str  # the explicit provider reference (`urn::id`), "" for the default provider
    version: str = ""  # the provider plugin version the registration asks for, "" for any
    read: bool = False  # True for `Resource.get`: a read-only reference, never created

    @property
    def parent_name(self) -> str:
        return self.parent.rsplit("::", 1)[-1] if self.parent else ""

    @property
    def parent_type(self) -> str:
        return self.parent.split("::")[2].split("$")[-1] if self.parent else ""

    @property
    def provider_urn(self) -> str:
        """The URN of the explicit provider (without its id), "" for the default provider."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


def _mock_id(typ: str, name: str, inputs: dict[str, Any]) -> str:
    """The id the real provider would return, so ids in outputs look like the real ones."""
    if typ == "databricks:index/catalog:Catalog":
        return str(inputs.get("name", name))
    if typ == "databricks:index/schema:Schema":
        return f"{inputs.get('catalogName')}.{inputs.get('name')}"
    if typ == "databricks:index/registeredModel:RegisteredModel":
        return f"{inputs.get('catalogName')}.{inputs.get('schemaName')}.{inputs.get('name')}"
    if typ == MRGOV_MODEL:
        return str(inputs.get("name"))
    if typ == MRGOV_METADATA:
        return str(inputs.get("model"))
    if typ == MRGOV_PERMISSIONS:
        workspace = inputs.get("workspace") or "default"
        return str(inputs.get("model")) if workspace == "default" else f"{workspace}/{inputs.get('model')}"
    if typ == MRGOV_ROLE:
        return f"{inputs.get('workspace') or 'default'}/{inputs.get('name')}"
    return f"{name}-id"


class EchoMocks(pulumi_mocks.Mocks):
    """Providers that accept every input and echo it back, plus the mrgov provider's computed outputs.

    `registry_aliases` is what the registry holds: {model full name: {alias: version}}. The mrgov
    provider answers from it as the real one does on create: a ModelMetadata's `otherAliases` are the
    model's aliases that its `aliases` input does not declare, and a RegisteredModel's
    `registryAliases` are all of them. `existing_models` are the full names of models that exist
    before the stack creates them: their RegisteredModel answers `adopted: true`. Invokes are
    recorded in `calls`.
    """

    def __init__(
        self,
        registry_aliases: dict[str, dict[str, int]] | None = None,
        existing_models: Iterable[str] = (),
    ) -> None:
        self.registry_aliases = registry_aliases or {}
        self.existing_models = frozenset(existing_models)
        self.calls: list[pulumi_mocks.MockCallArgs] = []

    def _aliases_of(self, model: Any) -> dict[str, str]:
        return {a: str(v) for a, v in sorted(self.registry_aliases.get(str(model), {}).items())}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "databricks:index/registeredModel:RegisteredModel":
            state["fullName"] = _mock_id(args.typ, args.name, args.inputs)
        elif args.typ == MRGOV_MODEL:
            state["adopted"] = args.inputs.get("name") in self.existing_models
            state["registryAliases"] = self._aliases_of(args.inputs.get("name"))
        elif args.typ == MRGOV_METADATA:
            declared = args.inputs.get("aliases") or {}
            held = self._aliases_of(args.inputs.get("model"))
            state["otherAliases"] = {a: v for a, v in held.items() if a not in declared}
        return (args.resource_id or _mock_id(args.typ, args.name, args.inputs)), state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append(args)
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps each request's options, not only its inputs."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                _registration(
                    request,
                    response,
                    custom=request.custom,
                    inputs=dict(rpc.deserialize_properties(request.object)),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    import_id=request.importId,
                    deleted_with=request.deletedWith,
                )
            )
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        response = super().ReadResource(request)
        self.registrations.append(
            _registration(
                request,
                response,
                custom=True,
                inputs=dict(rpc.deserialize_properties(request.properties)),
                protect=False,
                retain_on_delete=False,
                import_id=request.id,
                deleted_with="",
                read=True,
            )
        )
        return response


def _registration(request: Any, response: Any, **fields: Any) -> Registration:
    """A Registration of what a RegisterResource and a ReadResource request both carry, and `fields`."""
    return Registration(
        urn=response.urn,
        type=request.type,
        name=request.name,
        parent=request.parent,
        dependencies=tuple(sorted(request.dependencies)),
        provider=request.provider,
        version=request.version,
        **fields,
    )


@dataclass
class MockRun:
    """What one program run registered, and the values of the outputs it asked for."""

    registrations: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)
    constructed_before_wait: int = 0

    def by_name(self, name: str) -> Registration:
        found = [r for r in self.registrations if r.name == name]
        assert len(found) == 1, f"expected one resource named {name!r}, found {len(found)}"
        return found[0]

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == typ]

    def names(self) -> set[str]:
        return {r.name for r in self.registrations}


class _ConstructionCounter:
    """Counts resource constructors as they run (synchronously, before any RPC completes)."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def mock_program() -> Iterator[Callable[..., MockRun]]:
    """Run `program()` under mocks; it may return a dict of Outputs to resolve.

    `constructed_before_wait` counts the resources constructed by the time `program()`
    returned, before any apply callback could run: equal to the number of registrations,
    it shows that no resource was created inside an apply.
    """
    counter = _ConstructionCounter()
    original_init = pulumi.Resource.__init__

    def counting_init(self: pulumi.Resource, *args: Any, **kwargs: Any) -> None:
        counter.count += 1
        original_init(self, *args, **kwargs)

    def run(
        program: Callable[[], dict[str, Any] | None],
        *,
        stack: str = "dev",
        preview: bool = False,
        mocks: pulumi_mocks.Mocks | None = None,
    ) -> MockRun:
        monitor = RecordingMonitor(mocks or EchoMocks())
        # The SDK makes futures on the current event loop; an earlier `asyncio.run` (the integration
        # tests' provider harness) leaves none, so give each run its own.
        asyncio.set_event_loop(asyncio.new_event_loop())
        # A fresh root stack per run, named after this run's stack (set_mocks keeps an existing one).
        pulumi.runtime.settings.ROOT.set(None)
        pulumi.runtime.set_mocks(
            monitor.mocks, project="mrgov", stack=stack, preview=preview, monitor=monitor
        )
        counter.count = 0
        result = MockRun(registrations=monitor.registrations)
        resolved: dict[str, Any] = {}

        def body() -> None:
            outputs = program() or {}
            result.constructed_before_wait = counter.count
            for key, value in outputs.items():
                pulumi.Output.from_input(value).apply(lambda v, k=key: resolved.__setitem__(k, v))

        _sync_await(run_pulumi_func(body))
        result.outputs = resolved
        return result

    pulumi.Resource.__init__ = counting_init  # type: ignore[method-assign]
    try:
        yield run
    finally:
        pulumi.Resource.__init__ = original_init  # type: ignore[method-assign]
        asyncio.set_event_loop(asyncio.new_event_loop())

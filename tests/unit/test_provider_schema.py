"""The provider's one declaration per resource: schema, SDK, input parsing and diff agree.

No server: these run the declarations, the schema builder, the SDK classes and the provider's check
and diff on values, as the engine would send them.
"""

from __future__ import annotations

import ast
import asyncio
import sys
import typing
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import Computed, PropertyValue

from provider import VERSION, sdk
from provider.auth.model_permissions import ModelPermissionsProps
from provider.auth.role import RoleProps
from provider.config import Connection, ProviderConfig
from provider.declare import camel, diff_of, parse, specs, type_schema
from provider.docs import reference
from provider.events.webhook import WebhookProps
from provider.registry.deployment_job_link import DeploymentJobLinkProps
from provider.registry.gates import Gate
from provider.registry.model_metadata import ModelMetadataProps
from provider.registry.registered_model import RegisteredModelProps
from provider.resources import RESOURCES
from provider.schema import package_schema
from provider.server import MrgovProvider
from provider.values import property_map

ROOT = Path(__file__).resolve().parents[2]
SDK_CLASSES: dict[str, type[pulumi.CustomResource]] = {
    RegisteredModelProps.TOKEN: sdk.RegisteredModel,
    ModelMetadataProps.TOKEN: sdk.ModelMetadata,
    ModelPermissionsProps.TOKEN: sdk.ModelPermissions,
    RoleProps.TOKEN: sdk.Role,
    WebhookProps.TOKEN: sdk.Webhook,
    DeploymentJobLinkProps.TOKEN: sdk.DeploymentJobLink,
}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _sdk_types(cls: type) -> dict[str, Any]:
    """{python name: the T of pulumi.Output[T]} of an SDK class's annotations and properties."""
    found: dict[str, Any] = {}
    namespace = vars(sys.modules[cls.__module__])
    for name, text in vars(cls).get("__annotations__", {}).items():  # the class's own, not its bases'
        hint = eval(text, namespace) if isinstance(text, str) else text
        if typing.get_origin(hint) is pulumi.Output:
            found[name] = typing.get_args(hint)[0]
    for name, member in vars(cls).items():
        if isinstance(member, property) and member.fget is not None:
            hint = typing.get_type_hints(member.fget)["return"]
            found[name] = typing.get_args(hint)[0]
    return found


def test_the_schema_has_every_resource_of_the_provider_under_its_token() -> None:
    schema = package_schema()
    assert schema["version"] == VERSION
    assert set(schema["resources"]) == {r.PROPS.TOKEN for r in RESOURCES} == set(SDK_CLASSES)


@pytest.mark.parametrize("token", sorted(SDK_CLASSES))
def test_sdk_class_and_schema_agree_property_for_property(token: str) -> None:
    resource = package_schema()["resources"][token]
    in_sdk = _sdk_types(SDK_CLASSES[token])
    assert set(in_sdk) == {_snake(name) for name in resource["properties"]}, token
    for name, body in resource["properties"].items():
        declared = {k: v for k, v in body.items() if k in ("type", "items", "additionalProperties")}
        assert type_schema(in_sdk[_snake(name)]) == declared, (token, name)


@pytest.mark.parametrize("token", sorted(SDK_CLASSES))
def test_every_property_has_a_description_and_inputs_are_a_subset(token: str) -> None:
    resource = package_schema()["resources"][token]
    assert resource["description"] and "Import" in resource["description"]
    assert all(body["description"] for body in resource["properties"].values())
    assert set(resource["inputProperties"]) <= set(resource["properties"])
    assert set(resource["requiredInputs"]) <= set(resource["inputProperties"])


def test_sdk_registers_exactly_the_declared_wire_names() -> None:
    args = sdk.ModelMetadataArgs(model="c.s.m", aliases={"Production": "2"})
    props = sdk._props(args)
    assert set(props) == {s.name for s in specs(ModelMetadataProps)}
    assert props["aliases"] == {"Production": "2"}  # map keys are never renamed
    assert props["otherAliases"] is None  # an output


def test_provider_password_and_token_are_secret_in_the_schema() -> None:
    inputs = package_schema()["provider"]["inputProperties"]
    assert inputs["password"]["secret"] is True and inputs["token"]["secret"] is True
    assert not inputs["trackingUri"].get("secret")


def test_parse_reports_each_bad_property_and_keeps_unknowns() -> None:
    props, failures = parse(
        ModelMetadataProps, {"aliases": {"Production": True}, "tags": "x", "versionTags": Computed()}
    )
    assert sorted(failures) == [
        ("aliases.Production", "must be text, got bool"),
        ("model", "is required"),
        ("tags", "must be a mapping, got str"),
    ]
    assert isinstance(props.version_tags, Computed)


def test_numbers_are_text_where_text_is_declared() -> None:
    props, failures = parse(ModelMetadataProps, {"model": "c.s.m", "aliases": {"Production": 2.0}})
    assert failures == [] and props.aliases == {"Production": "2"}


def test_diff_names_each_changed_key_and_the_replacing_property() -> None:
    olds = {"model": "c.s.m", "tags": {"a": "1", "b": "2"}, "aliases": {"Production": "1"}}
    news = {"model": "c.s.m", "tags": {"a": "1", "c": "3"}, "aliases": {"Production": "2"}}
    diff = diff_of(ModelMetadataProps, olds, news)
    assert [(c.path, c.kind) for c in diff.changes] == [
        ('tags["b"]', "delete"),
        ('tags["c"]', "add"),
        ('aliases["Production"]', "update"),
    ]
    assert diff.replaces == []
    renamed = diff_of(ModelMetadataProps, olds, {**olds, "model": "c.s.other"})
    assert renamed.replaces == ["model"]
    assert diff_of(ModelMetadataProps, olds, dict(olds)).changes == ()


def _provider() -> MrgovProvider:
    provider = MrgovProvider(VERSION, RESOURCES, lambda: "{}")
    # No server: a registry nobody listens on, so any read the check made would fail loudly.
    provider._conn = Connection(registry_uri="http://127.0.0.1:9", tracking_uri="http://127.0.0.1:9")
    return provider


def test_check_with_values_not_known_yet_reads_nothing_and_passes() -> None:
    urn = f"urn:pulumi:s::p::{ModelMetadataProps.TOKEN}::m"
    news = {
        "model": PropertyValue("c.s.m"),
        "aliases": PropertyValue({"Production": PropertyValue.computed()}),
    }
    result = asyncio.run(_provider().check(p.CheckRequest(urn, {}, news, b"")))
    assert result.failures == []


def test_check_refuses_reserved_aliases_before_any_read() -> None:
    urn = f"urn:pulumi:s::p::{ModelMetadataProps.TOKEN}::m"
    news = property_map({"model": "c.s.m", "aliases": {"latest": "1"}})
    result = asyncio.run(_provider().check(p.CheckRequest(urn, {}, news, b"")))
    assert [(f.property, f.reason) for f in result.failures or []] == [
        ("aliases.latest", "alias 'latest' is reserved by MLflow ('latest' and 'v<number>' are not allowed)")
    ]


def test_wire_names_are_camel_case() -> None:
    assert camel("version_descriptions") == "versionDescriptions" and camel("model") == "model"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", ["components", "provider", "policies", "localdev"])
def test_nothing_imports_dynamic_providers_or_dill(package: str) -> None:
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = {m for m in _imports(path) if m.startswith(("pulumi.dynamic", "dill"))}
        assert not bad, (path, bad)


def test_the_reference_page_is_current() -> None:
    page = (ROOT / "docs" / "provider-reference.md").read_text()
    assert page == reference(), "run: .venv/bin/python -m provider.docs > docs/provider-reference.md"


def test_the_message_is_the_last_error_not_the_one_it_happened_while_handling() -> None:
    from provider.server import message_of

    def wrapped() -> None:  # as the SDK's _raise_with_traceback does
        try:
            try:
                raise ValueError("RESOURCE_ALREADY_EXISTS")  # a refused create, handled by adopting
            except ValueError:
                raise ConnectionError("Connection refused") from None  # the read that adopts fails
        except ConnectionError as exc:
            raise Exception(f"{exc}:\n  File ...") from None

    try:
        wrapped()
    except Exception as exc:  # noqa: BLE001 - the SDK's wrapper is a plain Exception
        message = message_of(exc)
    assert "Connection refused" in message and "ALREADY_EXISTS" not in message and "File" not in message


def test_sdk_outputs_read_back_by_python_name_nested_types_rebuilt(mock_program: Any) -> None:
    # `gates` has the same wire and Python name: its property must read the engine's value, not itself.
    gate = sdk.Gate(metric="val_f1", min=0.6)

    def program() -> dict[str, Any]:
        meta = sdk.ModelMetadata("m", sdk.ModelMetadataArgs(model="c.s.m", gates={"Production": gate}))
        return {"gates": meta.gates}

    assert mock_program(program).outputs["gates"] == {"Production": gate}


def test_the_type_tokens_are_the_ones_states_and_programs_name() -> None:
    # The one place the tokens are written out. Everything else uses the declarations' TOKENs, but
    # states, policy packs and programs in other languages name resources by these strings: a rename
    # needs `aliases=` and a state migration (localdev/migrate.py), not an edit of a TOKEN.
    declared = (
        ProviderConfig,
        RegisteredModelProps,
        ModelMetadataProps,
        ModelPermissionsProps,
        RoleProps,
        WebhookProps,
        DeploymentJobLinkProps,
        Gate,
    )
    assert [d.TOKEN for d in declared] == [
        "pulumi:providers:mrgov",
        "mrgov:registry:RegisteredModel",
        "mrgov:registry:ModelMetadata",
        "mrgov:auth:ModelPermissions",
        "mrgov:auth:Role",
        "mrgov:events:Webhook",
        "mrgov:registry:DeploymentJobLink",
        "mrgov:registry:Gate",
    ]

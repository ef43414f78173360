"""What the providers send (counted by a proxy in front of the real server) and what they never hold."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dill
import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider

from components.mlflow.alias import ModelAliasProvider
from components.mlflow.base import RegistryProvider
from components.mlflow.client import configure_credentials
from components.mlflow.permissions import PermissionProvider, RoleProvider
from components.mlflow.registered_model import RegisteredModelProvider
from components.mlflow.state import CACHE
from components.mlflow.tags import ModelTagsProvider
from components.mlflow.version_description import VersionDescriptionProvider
from localdev.counting_proxy import CountingProxy
from tests.integration.conftest import User, checked

pytestmark = pytest.mark.integration

PROVIDERS: list[RegistryProvider] = [
    RegisteredModelProvider(),
    ModelTagsProvider(),
    ModelAliasProvider(),
    VersionDescriptionProvider(),
    PermissionProvider(),
    RoleProvider(),
]
TAGS = {"domain": "cost", "model_type": "anomaly_detection", "algorithm": "isolation_forest"}


@pytest.fixture
def proxy(uri: str) -> Iterator[CountingProxy]:
    with CountingProxy(uri) as p:
        yield p


def _routes(proxy: CountingProxy) -> list[str]:
    return sorted(f"{r.method} {r.path.split('?', 1)[0]}" for r in proxy.requests)


def test_a_model_with_tags_costs_one_request(proxy: CountingProxy, model_name: str) -> None:
    model = checked(
        RegisteredModelProvider(), {"registry_uri": proxy.url, "name": model_name, "initial_tags": TAGS}
    )
    tags = checked(ModelTagsProvider(), {"registry_uri": proxy.url, "model": model_name, "tags": TAGS})

    RegisteredModelProvider().create(model)
    ModelTagsProvider().create(tags)  # same provider process: finds the tags already set

    assert _routes(proxy) == ["POST /api/2.0/mlflow/registered-models/create"]


def test_an_adopted_model_s_alias_already_pointing_as_declared_costs_nothing_more(
    client: Any, proxy: CountingProxy, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full", "full")
    client.set_registered_model_alias(model_name, "Champion", "2")  # as a training pipeline left it
    model = checked(RegisteredModelProvider(), {"registry_uri": proxy.url, "name": model_name})
    alias = checked(
        ModelAliasProvider(),
        {"registry_uri": proxy.url, "model": model_name, "alias": "Champion", "version": 2},
    )

    RegisteredModelProvider().create(model)  # adopts it, and sees its aliases
    adopted = _routes(proxy)
    ModelAliasProvider().create(alias)

    assert adopted == [
        "GET /api/2.0/mlflow/registered-models/get",
        "POST /api/2.0/mlflow/registered-models/create",
    ]
    assert _routes(proxy) == adopted
    assert client.get_registered_model(model_name).aliases == {"Champion": "2"}


def test_refresh_reads_a_model_once_for_all_its_children(
    uri: str, proxy: CountingProxy, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full", "full")
    base = {"registry_uri": proxy.url}
    model = (
        RegisteredModelProvider()
        .create(checked(RegisteredModelProvider(), {**base, "name": model_name}))
        .outs
    )
    tags = (
        ModelTagsProvider()
        .create(checked(ModelTagsProvider(), {**base, "model": model_name, "tags": TAGS}))
        .outs
    )
    aliases = [
        ModelAliasProvider()
        .create(checked(ModelAliasProvider(), {**base, "model": model_name, "alias": a, "version": v}))
        .outs
        for a, v in (("Champion", 1), ("Production", 2))
    ]
    CACHE.clear()  # a new `pulumi refresh`: a new provider process
    proxy.reset()

    reads: list[Callable[[], Any]] = [
        lambda: RegisteredModelProvider().read(model_name, model),
        lambda: ModelTagsProvider().read(model_name, tags),
        *[lambda o=o: ModelAliasProvider().read(f"{model_name}@{o['alias']}", o) for o in aliases],
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:  # the engine reads in parallel, as here
        results = list(pool.map(lambda f: f(), reads))

    assert all(r.id for r in results)
    assert _routes(proxy) == ["GET /api/2.0/mlflow/registered-models/get"]


def test_refreshing_grants_costs_two_requests_whatever_their_number(
    proxy: CountingProxy,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
) -> None:
    make_versions(model_name, "full")
    users = [make_user(f"u{i}") for i in range(3)]
    outs = [
        PermissionProvider()
        .create(
            checked(
                PermissionProvider(),
                {
                    "tracking_uri": proxy.url,
                    "principal_kind": "user",
                    "principal": u.username,
                    "model": model_name,
                    "level": "READ",
                },
            )
        )
        .outs
        for u in users
    ]
    assert [r.method for r in proxy.requests] == ["POST"] * 3  # one grant call each
    CACHE.clear()
    proxy.reset()

    for o in outs:
        assert (
            PermissionProvider().read(f"user/default/{o['principal']}/{model_name}", o).outs["level"]
            == "READ"
        )

    assert _routes(proxy) == ["GET /api/2.0/mlflow/users/list", "GET /api/3.0/mlflow/roles/list"]


def test_unchanged_inputs_diff_to_nothing_and_send_nothing(
    uri: str,
    proxy: CountingProxy,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
) -> None:
    make_versions(model_name, "full")
    user = make_user("noop")
    role = f"noop_role_{user.username[-6:]}"
    declared: list[tuple[RegistryProvider, str, dict[str, Any]]] = [
        (
            RegisteredModelProvider(),
            model_name,
            {"registry_uri": uri, "name": model_name, "description": "d", "initial_tags": TAGS},
        ),
        (ModelTagsProvider(), model_name, {"registry_uri": uri, "model": model_name, "tags": TAGS}),
        (
            ModelAliasProvider(),
            "x",
            {"registry_uri": uri, "model": model_name, "alias": "Champion", "version": 1},
        ),
        (
            VersionDescriptionProvider(),
            "x",
            {"registry_uri": uri, "model": model_name, "version": "1", "description": "v1"},
        ),
        (RoleProvider(), "x", {"tracking_uri": uri, "name": role, "members": [user.username]}),
        (
            PermissionProvider(),
            "x",
            {
                "tracking_uri": uri,
                "principal_kind": "role",
                "principal": role,
                "model": model_name,
                "level": "READ",
            },
        ),
    ]
    states = []
    for provider, _, props in declared:
        states.append(provider.create(checked(provider, props)).outs)
    proxy.reset()

    for (provider, id_, props), olds in zip(declared, states, strict=True):
        # What the engine does on `up`: check the program's inputs against the state, then diff.
        news = checked(provider, props, olds)
        diff = provider.diff(id_, olds, news)
        assert diff.changes is False, (type(provider).__name__, olds, news)

    assert proxy.requests == []


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: type(p).__name__)
def test_provider_objects_pickle_to_a_bare_class_reference(provider: RegistryProvider) -> None:
    # The state stores this pickle (`__provider`). A reference to the class, with no instance data, cannot
    # carry a token, a password or a client, whatever the environment held when it was made.
    raw = base64.b64decode(serialize_provider(provider))
    assert len(raw) < 150
    assert type(provider).__name__.encode() in raw
    assert dill.loads(raw).__dict__ == {}
    assert provider.serialize_as_secret_always is False


def test_outputs_never_carry_the_password(
    uri: str, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")
    password = os.environ["MLFLOW_TRACKING_PASSWORD"]
    outs = [
        RegisteredModelProvider()
        .create(checked(RegisteredModelProvider(), {"registry_uri": uri, "name": model_name + "_x"}))
        .outs,
        ModelAliasProvider()
        .create(
            checked(
                ModelAliasProvider(), {"registry_uri": uri, "model": model_name, "alias": "A", "version": 1}
            )
        )
        .outs,
    ]
    assert password not in json.dumps(outs)


def test_credentials_from_secret_stack_config_fill_only_an_empty_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    raw = {
        "mrgov:target": json.dumps(
            {
                "kind": "mlflow",
                "trackingUri": "http://x",
                "username": "deployer",
                "passwordSecret": "mlflowPassword",
            }
        ),
        "mrgov:mlflowPassword": "from-secret-config-0123",
    }

    RegisteredModelProvider().configure(ConfigureRequest(Config(raw, "mrgov")))

    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "deployer"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "from-secret-config-0123"
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "from-env")
    configure_credentials(Config({**raw, "mrgov:mlflowPassword": "other"}, "mrgov"))
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "from-env"

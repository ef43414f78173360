"""What the provider sends (counted by a proxy in front of the real server) and what it never holds."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from mlflow import MlflowClient

from localdev.counting_proxy import CountingProxy
from localdev.mlflow_server import Server
from provider.config import ConfigError
from provider.registry.state import CACHE as READ_CACHE
from provider.resource import ProviderError
from provider.server import message_of
from tests.integration.conftest import (
    MM,
    MP,
    RM,
    ROLE,
    MakeMrgov,
    MakeUser,
    MakeVersions,
    Mrgov,
    new_process,
)

pytestmark = pytest.mark.integration

TAGS = {"domain": "cost", "model_type": "anomaly_detection", "algorithm": "isolation_forest"}
GET_MODEL = "GET /api/2.0/mlflow/registered-models/get"
GET_VERSION = "GET /api/2.0/mlflow/model-versions/get"


def _routes(proxy: CountingProxy) -> list[str]:
    return sorted(f"{r.method} {r.path.split('?', 1)[0]}" for r in proxy.requests)


def _first_up(
    mrgov: Mrgov, proxy: CountingProxy, declared: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """Create each declared (token, props) in order, as a first `up` does; then a new provider process
    and a zeroed proxy, for the next `up`. Returns (token, id, inputs, state) of each."""
    runs = []
    for token, props in declared:
        inputs = mrgov.checked(token, props)
        id_, state = mrgov.create(token, inputs)
        runs.append((token, id_, inputs, state))
    new_process()
    proxy.reset()
    return runs


@pytest.fixture
def counted(make_mrgov: MakeMrgov, proxy: CountingProxy) -> Mrgov:
    """The provider, configured with the counting proxy's URL."""
    return make_mrgov(trackingUri=proxy.url)


def test_a_model_with_tags_costs_one_write(counted: Mrgov, proxy: CountingProxy, model_name: str) -> None:
    model = counted.checked(RM, {"name": model_name, "initialTags": TAGS})
    meta = counted.checked(MM, {"model": model_name, "tags": TAGS})

    counted.create(RM, model)
    counted.create(MM, meta)  # same provider process: finds the tags already set

    # The read that finds no model of that name, then its create; the create's answer carries the
    # tags and the (empty) latest versions, so the metadata sends nothing.
    assert _routes(proxy) == [GET_MODEL, "POST /api/2.0/mlflow/registered-models/create"]


def test_a_model_s_metadata_reads_it_once_however_late_its_step_comes(
    counted: Mrgov,
    proxy: CountingProxy,
    model_name: str,
    make_versions: MakeVersions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In a stack of 1000 models the engine runs a model's metadata minutes after the model itself,
    # when every cached answer has expired: here they expire at once.
    monkeypatch.setattr(READ_CACHE, "ttl", 0.0)
    make_versions(model_name, "full")
    _, model = counted.create(RM, counted.checked(RM, {"name": model_name, "initialTags": TAGS}))
    meta_inputs = counted.checked(MM, {"model": model_name, "tags": TAGS})
    proxy.reset()  # the check above read nothing of the model; the create's GET was the adoption's
    _, meta = counted.create(MM, meta_inputs)
    # The tags were not set by the adoption (the model existed): the metadata writes them, with the
    # model as its RegisteredModel step handed it over, and no GET of its own.
    assert GET_MODEL not in _routes(proxy)
    assert _routes(proxy).count("POST /api/2.0/mlflow/registered-models/set-tag") == len(TAGS)
    assert meta["latestVersion"] == "1"

    new_process()  # a `pulumi refresh`, whose metadata reads come long after the models' reads
    proxy.reset()
    assert counted.read(RM, model_name, model) is not None
    assert counted.read(MM, model_name, meta) is not None
    assert _routes(proxy).count(GET_MODEL) == 1
    # A hand-over is taken once: another read of the model (nothing handed over) sends its GET.
    assert counted.read(MM, model_name, meta) is not None
    assert _routes(proxy).count(GET_MODEL) == 2


def test_an_adopted_model_s_alias_already_pointing_as_declared_costs_nothing_more(
    counted: Mrgov, client: MlflowClient, proxy: CountingProxy, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")
    client.set_registered_model_alias(model_name, "Champion", "2")  # as a training pipeline left it

    counted.create(RM, counted.checked(RM, {"name": model_name}))  # adopts it, and sees its aliases
    adopted = _routes(proxy)
    proxy.reset()
    meta = counted.checked(MM, {"model": model_name, "aliases": {"Champion": 2}})  # verifies version 2
    verified = proxy.requests[:]
    proxy.reset()
    counted.create(MM, meta)

    assert adopted == [GET_MODEL]  # read first: no refused create
    assert verified and not [r for r in verified if r.is_write]
    assert GET_VERSION in {f"{r.method} {r.path.split('?', 1)[0]}" for r in verified}
    # The pin is already as declared: nothing to send; version 2's lineage is the check's GET, and
    # the latest version came with the model's GET.
    assert _routes(proxy) == []
    assert client.get_registered_model(model_name).aliases == {"Champion": "2"}


def test_refresh_reads_a_model_once_and_each_declared_version_once(
    counted: Mrgov, proxy: CountingProxy, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full", "full")
    _, model = counted.create(RM, counted.checked(RM, {"name": model_name}))
    meta_inputs = counted.checked(
        MM,
        {
            "model": model_name,
            "tags": TAGS,
            "aliases": {"Champion": 1, "Production": 2},
            "versionDescriptions": {"1": "first", "2": "second"},
            "versionTags": {"2": {"stage": "prod"}},
        },
    )
    _, meta = counted.create(MM, meta_inputs)
    plain_inputs = counted.checked(MM, {"model": model_name, "tags": TAGS, "aliases": {"Champion": 1}})
    new_process()  # a new `pulumi refresh`: a new provider process
    proxy.reset()

    reads: list[Callable[[], Any]] = [
        lambda: counted.read(RM, model_name, model),
        lambda: counted.read(MM, model_name, meta),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:  # the engine reads in parallel, as here
        results = list(pool.map(lambda f: f(), reads))

    assert all(r is not None and r.id == model_name for r in results)
    # One GET for the model (shared by both resources, and carrying the latest version), one per
    # declared version (its description, its tags and the pins' lineage come in one answer).
    assert _routes(proxy) == [GET_VERSION, GET_VERSION, GET_MODEL]
    assert sorted(r.path.split("version=")[-1] for r in proxy.requests if "model-versions/get" in r.path) == [
        "1",
        "2",
    ]

    new_process()
    proxy.reset()
    assert counted.read(MM, model_name, {**plain_inputs, "otherAliases": {}}) is not None
    # No described or tagged versions: the model's GET and the pinned version's (lineage).
    assert _routes(proxy) == [GET_VERSION, GET_MODEL]


def test_refreshing_grants_costs_two_requests_whatever_their_number(
    counted: Mrgov, proxy: CountingProxy, model_name: str, make_versions: MakeVersions, make_user: MakeUser
) -> None:
    models = [model_name, model_name + "_b"]
    for m in models:
        make_versions(m, "full")
    users = [make_user(f"u{i}") for i in range(3)]
    grants = {u.username: "READ" for u in users}
    states = [counted.create(MP, counted.checked(MP, {"model": m, "users": grants}))[1] for m in models]
    assert [r.method for r in proxy.requests] == ["POST"] * 6  # one grant call each
    new_process()
    proxy.reset()

    for m, state in zip(models, states, strict=True):
        read = counted.read(MP, m, state)
        assert read is not None
        assert read.outs["users"] == grants

    assert _routes(proxy) == ["GET /api/2.0/mlflow/users/list", "GET /api/3.0/mlflow/roles/list"]


def test_unchanged_inputs_diff_to_nothing_and_send_nothing(
    counted: Mrgov, proxy: CountingProxy, model_name: str, make_versions: MakeVersions, make_user: MakeUser
) -> None:
    make_versions(model_name, "full")
    user = make_user("noop")
    role = f"noop_role_{user.username[-6:]}"
    declared: list[tuple[str, dict[str, Any]]] = [
        (RM, {"name": model_name, "description": "d", "initialTags": TAGS}),
        (
            MM,
            {
                "model": model_name,
                "tags": TAGS,
                "aliases": {"Champion": 1},
                "versionDescriptions": {"1": "v1"},
                "versionTags": {"1": {"stage": "prod"}},
            },
        ),
        (ROLE, {"name": role, "members": [user.username]}),
        (MP, {"model": model_name, "roles": {role: "READ"}, "users": {user.username: "USE"}}),
    ]
    runs = _first_up(counted, proxy, declared)

    for (token, id_, olds, state), (_, props) in zip(runs, declared, strict=True):
        # What the engine does on `up`: check the program's inputs against the last inputs, then diff.
        news = counted.checked(token, props, olds)
        assert counted.diff(token, id_, state, news)["changes"] is False, (token, state, news)

    assert proxy.requests == []


def test_equal_spellings_never_diff(
    counted: Mrgov, proxy: CountingProxy, model_name: str, make_versions: MakeVersions, make_user: MakeUser
) -> None:
    """Inputs that mean the same as the state (`"02"` is version 2, `read` is READ) are no change."""
    make_versions(model_name, "full", "full")
    alice, bob = make_user("alice"), make_user("bob")
    role = f"spelling_{alice.username[-6:]}"
    declared: list[tuple[str, dict[str, Any]]] = [
        (
            MM,
            {
                "model": model_name,
                "aliases": {"Champion": "02"},
                "versionDescriptions": {"01": "v1"},
                "versionTags": {"02": {"stage": "prod"}},
            },
        ),
        (ROLE, {"name": role, "members": [bob.username, alice.username]}),
        (MP, {"model": model_name, "roles": {role: "read"}, "users": {alice.username: "Edit"}}),
    ]
    runs = _first_up(counted, proxy, declared)

    for (token, id_, olds, state), (_, props) in zip(runs, declared, strict=True):
        news = counted.checked(token, props, olds)
        assert counted.diff(token, id_, state, news)["changes"] is False, (token, state, news)
        refreshed = counted.read(token, id_, state)
        assert refreshed is not None
        assert counted.diff(token, id_, refreshed.outs, news)["changes"] is False, (token, refreshed, news)

    assert not [r for r in proxy.requests if r.is_write]


def test_the_provider_holds_no_credentials_and_outputs_never_carry_them(
    make_mrgov: MakeMrgov,
    mlflow_server: Server,
    admin_env: dict[str, str],
    client: MlflowClient,
    model_name: str,
    make_versions: MakeVersions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_versions(model_name, "full")
    password = os.environ["MLFLOW_TRACKING_PASSWORD"]
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")  # only the provider config has it
    config = {"trackingUri": mlflow_server.url, "username": admin_env["MLFLOW_TRACKING_USERNAME"],
              "password": password}  # fmt: skip
    mrgov = make_mrgov(**config)

    checked_config, secret = mrgov.check_config(config)
    assert checked_config == config
    assert secret == {"password"}  # encrypted in the state, even when given in clear

    results: list[Any] = []
    for token, props in [
        (RM, {"name": model_name + "_x", "description": "d"}),
        (MM, {"model": model_name, "aliases": {"A": 1}, "tags": {"t": "v"}}),
        (ROLE, {"name": f"secretless_{model_name[3:11]}"}),
        (MP, {"model": model_name, "users": {}}),
    ]:
        inputs = mrgov.checked(token, props)
        id_, state = mrgov.create(token, inputs)
        new_process()
        results += [inputs, state, mrgov.read(token, id_, state)]
        if token != MP:  # no grants on the model to import
            results.append(mrgov.read(token, id_))
        if token == ROLE:
            mrgov.delete(token, id_, state)

    assert client.get_registered_model(model_name).aliases == {"A": "1"}  # the calls were made
    assert password not in json.dumps(results, default=repr)
    # Nothing of the provider's own keeps it either: its connection names the server, nothing more.
    assert password not in repr(vars(mrgov.provider))


def test_the_provider_config_s_credentials_win_over_the_environment(
    make_mrgov: MakeMrgov,
    mlflow_server: Server,
    admin_env: dict[str, str],
    client: MlflowClient,
    model_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "a-stale-password-from-the-shell")
    stale = make_mrgov(trackingUri=mlflow_server.url)
    inputs = stale.checked(RM, {"name": model_name})
    assert "the registry answered" in stale.refusal("create", RM, inputs)  # 401 with the shell's password

    mrgov = make_mrgov(trackingUri=mlflow_server.url, password=admin_env["MLFLOW_TRACKING_PASSWORD"])
    mrgov.create(RM, inputs)

    assert client.get_registered_model(model_name).name == model_name


def test_no_registry_at_all_is_a_clean_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)

    with pytest.raises(ProviderError) as err:
        Mrgov()

    message = message_of(err.value)
    assert message.startswith("the mrgov provider has no registry: set `trackingUri` on the provider")
    assert "Traceback" not in message
    assert not isinstance(err.value, ConfigError)

"""Fixtures for the mrgov provider's integration tests, on the session's real MLflow server.

Tests drive the real provider through its own layer: `Mrgov` wraps a `MrgovProvider` built with
every resource (provider.resources.RESOURCES), configured like the engine does it (`trackingUri`,
`registryUri`, credentials), and calls its async check, diff, create, read, update and delete with the
SDK's request objects and property maps, returning plain values. `Mrgov.refusal` sends a call through
the provider's gRPC servicer (`CleanServicer`) instead, and returns the one message the engine would
show. Tests assert on what the server holds afterwards, read with a separate admin client. Each test
uses model, user and role names of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest
import requests
from mlflow import MlflowClient
from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.runtime.proto import provider_pb2 as proto

from localdev.counting_proxy import CountingProxy
from localdev.mlflow_server import Server
from provider import VERSION
from provider.auth.model_permissions import ModelPermissionsProps
from provider.auth.role import RoleProps
from provider.config import ProviderConfig
from provider.declare import specs
from provider.registry import state as provider_state
from provider.registry.model_metadata import ModelMetadataProps
from provider.registry.registered_model import RegisteredModelProps
from provider.resource import ProviderError
from provider.resources import RESOURCES
from provider.schema import package_schema
from provider.server import CleanServicer, MrgovProvider, message_of
from provider.values import plain_map, property_map

RM = RegisteredModelProps.TOKEN
MM = ModelMetadataProps.TOKEN
MP = ModelPermissionsProps.TOKEN
ROLE = RoleProps.TOKEN
CONFIG_SECRETS = tuple(s.name for s in specs(ProviderConfig) if s.role.secret)


def urn(token: str, name: str = "it") -> str:
    return f"urn:pulumi:it::mrgov::{token}::{name}"


class Read(NamedTuple):
    """What a read answered: the id, the state and the inputs (plain values)."""

    id: str
    outs: dict[str, Any]
    inputs: dict[str, Any]


class AbortedError(Exception):
    """The servicer ended the call with `context.abort(code, details)`, as gRPC does."""

    def __init__(self, code: Any, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details


class _Context:
    """The part of grpc.aio.ServicerContext the servicer uses on failure."""

    async def abort(self, code: Any, details: str = "") -> None:
        raise AbortedError(code, details)


def _struct(values: dict[str, Any] | None) -> Any:
    return PropertyValue.marshal_map(property_map(values or {}))


def _grpc_request(method: str, token: str, *args: Any) -> tuple[str, Any]:
    """The servicer method's name and its protobuf request, from `Mrgov`-style arguments."""
    if method == "check":
        news, olds = args[0], args[1] if len(args) > 1 else None
        return "Check", proto.CheckRequest(urn=urn(token), olds=_struct(olds), news=_struct(news))
    if method == "create":
        return "Create", proto.CreateRequest(urn=urn(token), properties=_struct(args[0]))
    if method == "read":
        state = args[1] if len(args) > 1 else None
        return "Read", proto.ReadRequest(
            id=args[0], urn=urn(token), properties=_struct(state), inputs=_struct(state)
        )
    if method == "update":
        id_, olds, news = args
        return "Update", proto.UpdateRequest(id=id_, urn=urn(token), olds=_struct(olds), news=_struct(news))
    if method == "delete":
        id_, state = args
        return "Delete", proto.DeleteRequest(id=id_, urn=urn(token), properties=_struct(state))
    raise ValueError(f"no servicer method for {method!r}")


class Mrgov:
    """One provider process: a `MrgovProvider`, configured, called the way the engine calls it."""

    def __init__(self, **config: Any) -> None:
        self.provider = MrgovProvider(VERSION, RESOURCES, lambda: json.dumps(package_schema()))
        self.configure(**config)

    @staticmethod
    def _run(call: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run(call)

    def close(self) -> None:
        self.provider._pool.shutdown(wait=True)

    # -- provider configuration ----------------------------------------------------------------
    def configure(self, **config: Any) -> None:
        args = property_map(config, CONFIG_SECRETS)
        self._run(self.provider.configure(p.ConfigureRequest({}, args, True, False)))

    def check_config(self, news: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
        """(checked config, the keys marked secret)."""
        request = p.CheckRequest(urn(ProviderConfig.TOKEN), {}, property_map(news), b"")
        resp = self._run(self.provider.check_config(request))
        assert not resp.failures, [(f.property, f.reason) for f in resp.failures]
        inputs = resp.inputs or {}
        return plain_map(inputs), {k for k, v in inputs.items() if v.is_secret}

    def diff_config(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        request = p.DiffRequest(urn(ProviderConfig.TOKEN), "", property_map(olds), property_map(news), [])
        resp = self._run(self.provider.diff_config(request))
        return {"changes": resp.changes, "replaces": resp.replaces, "diffs": resp.diffs}

    # -- resources -----------------------------------------------------------------------------
    def check(
        self, token: str, news: dict[str, Any], olds: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """(checked inputs, [(property path, reason)]); `olds` are the last checked inputs."""
        request = p.CheckRequest(urn(token), property_map(olds or {}), property_map(news), b"")
        resp = self._run(self.provider.check(request))
        return plain_map(resp.inputs or {}), [(f.property, f.reason) for f in resp.failures or []]

    def checked(self, token: str, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
        """The inputs of a check that must pass."""
        inputs, found = self.check(token, news, olds)
        assert found == [], found
        return inputs

    def failures(
        self, token: str, news: dict[str, Any], olds: dict[str, Any] | None = None
    ) -> dict[str, str]:
        """{property path: reason} of a check that must fail (reasons of one path joined by newlines)."""
        _, found = self.check(token, news, olds)
        assert found, f"check accepted {news}"
        out: dict[str, str] = {}
        for prop, reason in found:
            out[prop] = f"{out[prop]}\n{reason}" if prop in out else reason
        return out

    def diff(
        self,
        token: str,
        id_: str,
        old_state: dict[str, Any],
        news: dict[str, Any],
        ignore: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """changes, replaces, diffs, delete_before_replace and detailed ({property path: kind})."""
        request = p.DiffRequest(urn(token), id_, property_map(old_state), property_map(news), list(ignore))
        resp = self._run(self.provider.diff(request))
        return {
            "changes": resp.changes,
            "replaces": resp.replaces,
            "diffs": resp.diffs,
            "delete_before_replace": resp.delete_before_replace,
            "detailed": {k: v.kind.name.lower() for k, v in resp.detailed_diff.items()},
        }

    def create(self, token: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(id, state) of a create from checked inputs."""
        resp = self._run(self.provider.create(p.CreateRequest(urn(token), property_map(inputs), 60, False)))
        return resp.resource_id, plain_map(resp.properties)

    def read(self, token: str, id_: str, state: dict[str, Any] | None = None) -> Read | None:
        """The resource as the registry holds it (None when gone); `state` None is an import."""
        request = p.ReadRequest(urn(token), id_, property_map(state or {}), property_map(state or {}))
        resp = self._run(self.provider.read(request))
        if not resp.resource_id:
            return None
        return Read(resp.resource_id, plain_map(resp.properties), plain_map(resp.inputs))

    def update(self, token: str, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        """The new state; `olds` is the last state, `news` checked inputs."""
        request = p.UpdateRequest(urn(token), id_, property_map(olds), property_map(news), 60, [], False)
        return plain_map(self._run(self.provider.update(request)).properties)

    def delete(self, token: str, id_: str, state: dict[str, Any]) -> None:
        self._run(self.provider.delete(p.DeleteRequest(urn(token), id_, property_map(state), 60)))

    # -- through the gRPC servicer -------------------------------------------------------------
    def refusal(self, method: str, token: str, *args: Any) -> str:
        """The message the engine gets when `method` (check, create, read, update, delete) fails.

        The call goes through `CleanServicer`, the provider's gRPC layer, with the same arguments as
        the method of that name here; the message must be one clean line, never a traceback.
        """
        name, request = _grpc_request(method, token, *args)
        servicer = CleanServicer([], VERSION, self.provider, engine_address="")
        try:
            self._run(getattr(servicer, name)(request, _Context()))
        except AbortedError as exc:
            assert "Traceback" not in exc.details and 'File "' not in exc.details, exc.details
            return exc.details
        raise AssertionError(f"{method} of {token} succeeded")


def import_refused(mrgov: Mrgov, token: str, id_: str) -> str:
    """Why importing `id_` (a read without state) fails: the provider's error, asserted to be the
    engine's one-line refusal too."""
    with pytest.raises(ProviderError) as err:
        mrgov.read(token, id_)
    message = message_of(err.value)
    assert mrgov.refusal("read", token, id_) == message
    return message


def new_process() -> None:
    """What a new pulumi command sees: a provider process with an empty read cache."""
    provider_state.clear()


@pytest.fixture(autouse=True)
def _fresh_provider_cache() -> Iterator[None]:
    # Each pulumi command is a new provider process with an empty cache; tests that change the
    # server by hand between provider calls clear it themselves (`new_process`), like a new command.
    provider_state.clear()
    yield
    provider_state.clear()


@pytest.fixture
def uri(mlflow_server: Server, admin_env: dict[str, str]) -> str:
    """The session server's URL, with this process acting as its admin."""
    return mlflow_server.url


@pytest.fixture
def make_mrgov() -> Iterator[MakeMrgov]:
    """Start a provider with the given configuration (`trackingUri=...`, `registryUri=...`)."""
    made: list[Mrgov] = []

    def make(**config: Any) -> Mrgov:
        made.append(Mrgov(**config))
        return made[-1]

    yield make
    for m in made:
        m.close()


@pytest.fixture
def mrgov(uri: str, make_mrgov: MakeMrgov) -> Mrgov:
    """The provider, configured with the session server's URL (credentials from the environment)."""
    return make_mrgov(trackingUri=uri)


@pytest.fixture
def proxy(uri: str) -> Iterator[CountingProxy]:
    """A counting proxy in front of the session server."""
    with CountingProxy(uri) as counting:
        yield counting


@pytest.fixture
def client(uri: str) -> MlflowClient:
    """An admin client for arranging and asserting server state (never the code under test)."""
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def model_name(request: pytest.FixtureRequest) -> str:
    """A fresh `catalog.schema.model` name for this test."""
    test = request.node.name.split("[")[0].removeprefix("test_")[:40]
    return f"it_{uuid.uuid4().hex[:8]}.gold_features.{test}"


# --------------------------------------------------------------------------------------------------
# Model versions: three logged models, logged once per session, registered as versions cheaply
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoggedModel:
    """A model logged to the session's server: what a model version is registered from."""

    uri: str
    model_id: str
    run_id: str = ""  # the run that logged it, where the test needs one


@dataclass(frozen=True)
class LoggedModels:
    """A model with a full signature, one without a signature, and one whose signature has only inputs."""

    full: LoggedModel
    unsigned: LoggedModel
    inputs_only: LoggedModel


def doubler() -> Any:
    """A pyfunc model that doubles column x into y: the smallest model worth logging."""
    import mlflow
    import pandas as pd

    class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
            return pd.DataFrame({"y": model_input["x"] * 2.0})

    return Doubler()


@contextmanager
def logging_to(server: Server, experiment: str) -> Iterator[None]:
    """MLflow's fluent API (mlflow.log_model, start_run) logging into `experiment` on `server`."""
    import mlflow

    with pytest.MonkeyPatch.context() as mp:
        for key, value in server.credentials_env.items():
            mp.setenv(key, value)
        mlflow.set_tracking_uri(server.url)
        mlflow.set_experiment(experiment)
        yield


@pytest.fixture(scope="session")
def logged_models(mlflow_server: Server) -> LoggedModels:
    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    example = pd.DataFrame({"x": [1.0, 2.0]})
    with logging_to(mlflow_server, "/integration-models"):

        def log(signature: Any) -> LoggedModel:
            info = mlflow.pyfunc.log_model(
                name="model", python_model=doubler(), signature=signature, pip_requirements=["mlflow"]
            )
            return LoggedModel(info.model_uri, info.model_id)

        return LoggedModels(
            full=log(infer_signature(example, pd.DataFrame({"y": [2.0, 4.0]}))),
            unsigned=log(None),
            inputs_only=log(ModelSignature(inputs=Schema([ColSpec("double", "x")]))),
        )


def two_version_statuses(production_alias: str) -> dict[tuple[str, str | None], str]:
    """The checklist's status per (item, version) for the audit tests' model on either target.

    Version 1 is complete; version 2 has neither an input example nor a description, and the model
    no version history; whether the Production alias passes is the setup's own.
    """
    return {
        ("signature", "1"): "pass",
        ("signature", "2"): "pass",
        ("input-example", "1"): "pass",
        ("input-example", "2"): "fail",
        ("name-convention", None): "pass",
        ("description", None): "pass",
        ("required-tags", None): "pass",
        ("version-description", "1"): "pass",
        ("version-description", "2"): "fail",
        ("create-model", None): "pass",
        ("use-model-inference", None): "pass",
        ("use-model-dashboards", None): "pass",
        ("production-alias", None): production_alias,
        ("old-versions-archived", None): "skip",
        ("version-history", None): "fail",
    }


VersionKind = str  # "full" | "unsigned" | "inputs_only"


@pytest.fixture
def make_versions(client: MlflowClient, logged_models: LoggedModels) -> MakeVersions:
    """Register a model (if needed) with one version per kind given; returns the new version numbers."""

    def make(name: str, *kinds: VersionKind) -> list[str]:
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            client.create_registered_model(name)
        out = []
        for kind in kinds:
            logged: LoggedModel = getattr(logged_models, kind)
            mv = client.create_model_version(
                name, source=logged.uri, model_id=logged.model_id, await_creation_for=0
            )
            out.append(str(mv.version))
        return out

    return make


@pytest.fixture
def set_version_status(mlflow_server: Server) -> SetStatus:
    """Set a version's status in the server's database: MLflow's API always registers versions READY."""
    return lambda name, version, status: update_version(mlflow_server, name, version, status=status)


def update_version(server: Server, name: str, version: str, **columns: object) -> None:
    """Set columns of one row of MLflow's `model_versions` table, on sqlite or PostgreSQL alike."""
    import sqlalchemy

    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    where = "name = :name AND version = :version"
    statement = sqlalchemy.text(f"UPDATE model_versions SET {assignments} WHERE {where}")
    engine = server.backend_engine()
    try:
        with engine.begin() as db:
            result = db.execute(statement, {**columns, "name": name, "version": int(version)})
            assert result.rowcount == 1, (name, version)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class User:
    username: str
    password: str

    def post(self, server: str, path: str, body: dict[str, Any]) -> requests.Response:
        """A REST call as this user (not through MLflow's client, whose credentials come from env)."""
        return requests.post(f"{server}{path}", json=body, auth=(self.username, self.password), timeout=30)


# The types of the fixtures that make things: make_mrgov(**config), make_versions(name, *kinds) (the new
# version numbers), make_user(prefix).
MakeMrgov = Callable[..., Mrgov]
MakeVersions = Callable[..., list[str]]
MakeUser = Callable[[str], User]
SetStatus = Callable[[str, str, str], None]  # set_version_status(model, version, status)


@pytest.fixture
def make_user(uri: str) -> MakeUser:
    """Create an MLflow user (password of 24 characters; MLflow wants at least 12)."""

    def make(prefix: str) -> User:
        user = User(f"{prefix}_{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(18))
        resp = requests.post(
            f"{uri}/api/2.0/mlflow/users/create",
            json={"username": user.username, "password": user.password},
            auth=(_admin_env()["MLFLOW_TRACKING_USERNAME"], _admin_env()["MLFLOW_TRACKING_PASSWORD"]),
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        return user

    return make


def _admin_env() -> dict[str, str]:
    return {k: os.environ[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}


def direct_grants(uri: str, username: str) -> dict[str, str]:
    """{model: level} of a user's direct grants, as the server lists them."""
    env = _admin_env()
    resp = requests.get(
        f"{uri}/api/3.0/mlflow/users/permissions/list",
        params={"username": username},
        auth=(env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]),
        timeout=30,
    )
    resp.raise_for_status()
    return {
        p["resource_pattern"]: p["permission"]
        for p in resp.json()["permissions"]
        if p["role_name"].startswith("__user_") and p["resource_type"] == "registered_model"
    }


def server_roles(uri: str) -> dict[str, dict[str, Any]]:
    """{role name: role JSON (id, description, permissions)} of the default workspace."""
    env = _admin_env()
    resp = requests.get(
        f"{uri}/api/3.0/mlflow/roles/list",
        params={"workspace": "default"},
        auth=(env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]),
        timeout=30,
    )
    resp.raise_for_status()
    return {r["name"]: r for r in resp.json()["roles"]}


def role_members(uri: str, role_id: int) -> list[str]:
    env = _admin_env()
    auth = (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"])
    users = requests.get(f"{uri}/api/2.0/mlflow/users/list", auth=auth, timeout=30).json()["users"]
    return sorted(u["username"] for u in users if any(r["id"] == role_id for r in u["roles"]))

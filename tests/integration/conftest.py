"""Fixtures for the MLflow providers' integration tests, on the session's real MLflow server.

Tests call the providers' methods directly (check, diff, create, read, update, delete): that is the
real provider code against a real server. They assert on what the server holds afterwards, read
with a separate admin client. Each test uses model, user and role names of its own.
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from mlflow import MlflowClient

from components.mlflow.base import RegistryProvider
from components.mlflow.state import CACHE
from localdev.mlflow_server import Server


@pytest.fixture(autouse=True)
def _fresh_provider_cache() -> Iterator[None]:
    # Each pulumi command is a new provider process with an empty cache; tests that change the
    # server by hand between provider calls clear it themselves, like a new command would.
    CACHE.clear()
    yield
    CACHE.clear()


@pytest.fixture
def uri(mlflow_server: Server, admin_env: dict[str, str]) -> str:
    """The session server's URL, with this process acting as its admin."""
    return mlflow_server.url


@pytest.fixture
def client(uri: str) -> MlflowClient:
    """An admin client for arranging and asserting server state (never the code under test)."""
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def model_name(request: pytest.FixtureRequest) -> str:
    """A fresh `catalog.schema.model` name for this test."""
    test = request.node.name.split("[")[0].removeprefix("test_")[:40]
    return f"it_{uuid.uuid4().hex[:8]}.gold_features.{test}"


def checked(
    provider: RegistryProvider, news: dict[str, Any], olds: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`provider.check(olds, news)` that must pass; returns the normalised inputs."""
    result = provider.check(olds or {}, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return dict(result.inputs)


def failures(provider: RegistryProvider, news: dict[str, Any]) -> dict[str, str]:
    """{property: reason} of a check that must fail."""
    result = provider.check({}, news)
    assert result.failures, f"check accepted {news}"
    return {f.property: f.reason for f in result.failures}


# --------------------------------------------------------------------------------------------------
# Model versions: three logged models, logged once per session, registered as versions cheaply
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoggedModel:
    uri: str
    model_id: str


@dataclass(frozen=True)
class LoggedModels:
    """A model with a full signature, one without a signature, and one whose signature has only inputs."""

    full: LoggedModel
    unsigned: LoggedModel
    inputs_only: LoggedModel


@pytest.fixture(scope="session")
def logged_models(mlflow_server: Server) -> LoggedModels:
    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
            return pd.DataFrame({"y": model_input["x"] * 2.0})

    example = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.MonkeyPatch.context() as mp:
        for key, value in mlflow_server.credentials_env.items():
            mp.setenv(key, value)
        mlflow.set_tracking_uri(mlflow_server.url)
        mlflow.set_experiment("/integration-models")

        def log(signature: Any) -> LoggedModel:
            info = mlflow.pyfunc.log_model(
                name="model", python_model=Doubler(), signature=signature, pip_requirements=["mlflow"]
            )
            return LoggedModel(info.model_uri, info.model_id)

        return LoggedModels(
            full=log(infer_signature(example, pd.DataFrame({"y": [2.0, 4.0]}))),
            unsigned=log(None),
            inputs_only=log(ModelSignature(inputs=Schema([ColSpec("double", "x")]))),
        )


VersionKind = str  # "full" | "unsigned" | "inputs_only"


@pytest.fixture
def make_versions(client: MlflowClient, logged_models: LoggedModels) -> Callable[..., list[str]]:
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
def set_version_status(mlflow_server: Server) -> Callable[[str, str, str], None]:
    """Set a version's status in the server's database: MLflow's API always registers versions READY."""

    def set_status(name: str, version: str, status: str) -> None:
        with sqlite3.connect(mlflow_server.data_dir / "mlflow.db") as db:
            cur = db.execute(
                "UPDATE model_versions SET status = ? WHERE name = ? AND version = ?",
                (status, name, int(version)),
            )
            assert cur.rowcount == 1

    return set_status


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


@pytest.fixture
def make_user(uri: str) -> Callable[[str], User]:
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
    import os

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

"""Role and Permission providers against a real MLflow server with basic auth: grants are enforced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mlflow import MlflowClient

from components.mlflow.base import RegistryError
from components.mlflow.client import AuthClient
from components.mlflow.permissions import PermissionProvider, RoleProvider, level_for
from components.mlflow.state import CACHE
from tests.integration.conftest import User, checked, direct_grants, failures, role_members, server_roles

pytestmark = pytest.mark.integration

P = PermissionProvider()
R = RoleProvider()
SET_ALIAS = "/api/2.0/mlflow/registered-models/alias"


def _grant(uri: str, kind: str, principal: str, model: str, level: str) -> dict[str, Any]:
    return checked(
        P,
        {"tracking_uri": uri, "principal_kind": kind, "principal": principal, "model": model, "level": level},
    )


def _role(uri: str, name: str, members: list[str] | None = None, description: str = "") -> dict[str, Any]:
    return checked(R, {"tracking_uri": uri, "name": name, "members": members, "description": description})


@pytest.fixture
def record_auth_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(method, endpoint) of every auth API call the providers make."""
    calls: list[tuple[str, str]] = []
    real = AuthClient._call

    def spy(self: AuthClient, endpoint: str, method: str, **kwargs: Any) -> dict[str, Any]:
        calls.append((method, endpoint.removeprefix("/api/3.0/mlflow").removeprefix("/api/2.0/mlflow")))
        return real(self, endpoint, method, **kwargs)

    monkeypatch.setattr(AuthClient, "_call", spy)
    return calls


def test_level_mapping() -> None:
    assert level_for(["EXECUTE"]) == "READ"
    assert level_for(["CREATE_MODEL_VERSION", "EXECUTE"]) == "EDIT"
    assert level_for(["APPLY_TAG"]) == "EDIT"
    assert level_for(["MANAGE", "EXECUTE"]) == "MANAGE"
    with pytest.raises(ValueError, match=r"privileges \['USE_MODEL'\] have no MLflow permission level"):
        level_for(["EXECUTE", "USE_MODEL"])


def test_read_user_gets_403_setting_an_alias_and_manage_user_succeeds(
    uri: str,
    client: MlflowClient,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
) -> None:
    make_versions(model_name, "full")
    reader, manager = make_user("reader"), make_user("manager")
    P.create(_grant(uri, "user", reader.username, model_name, "READ"))
    P.create(_grant(uri, "user", manager.username, model_name, "MANAGE"))
    body = {"name": model_name, "alias": "Production", "version": "1"}

    assert reader.post(uri, SET_ALIAS, body).status_code == 403
    assert client.get_registered_model(model_name).aliases == {}
    assert manager.post(uri, SET_ALIAS, body).status_code == 200
    assert client.get_registered_model(model_name).aliases == {"Production": "1"}


def test_user_grant_lifecycle(
    uri: str, model_name: str, make_versions: Callable[..., list[str]], make_user: Callable[[str], User]
) -> None:
    make_versions(model_name, "full")
    user = make_user("analyst")
    declared = _grant(uri, "user", user.username, model_name, "READ")

    created = P.create(declared)
    assert created.id == f"user/default/{user.username}/{model_name}"
    assert direct_grants(uri, user.username) == {model_name: "READ"}

    read = P.read(created.id, {"tracking_uri": uri})  # import: the id names the grant
    assert read.outs == created.outs
    assert P.diff(created.id, read.outs, declared).changes is False

    news = _grant(uri, "user", user.username, model_name, "EDIT")
    assert P.diff(created.id, created.outs, news).replaces == []
    P.update(created.id, created.outs, news)
    assert direct_grants(uri, user.username) == {model_name: "EDIT"}

    P.delete(created.id, news)
    assert direct_grants(uri, user.username) == {}
    CACHE.clear()
    assert P.read(created.id, news).id is None
    P.delete(created.id, news)  # already revoked: fine


def test_user_level_change_revokes_before_granting(
    uri: str,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
    record_auth_calls: list[tuple[str, str]],
) -> None:
    make_versions(model_name, "full")
    user = make_user("mover")
    olds = P.create(_grant(uri, "user", user.username, model_name, "MANAGE")).outs
    record_auth_calls.clear()

    P.update("id", olds, _grant(uri, "user", user.username, model_name, "READ"))

    writes = [c for c in record_auth_calls if c[0] != "GET"]
    # MLflow cannot change a user's grant in place; between the two calls the user holds nothing.
    assert writes == [("POST", "/users/permissions/revoke"), ("POST", "/users/permissions/grant")]
    assert direct_grants(uri, user.username) == {model_name: "READ"}


def test_create_adopts_an_existing_user_grant(
    uri: str,
    client: MlflowClient,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
) -> None:
    make_versions(model_name, "full")
    user = make_user("creator")
    # As when the user created the model: MLflow gives its creator MANAGE.
    P.create(_grant(uri, "user", user.username, model_name, "MANAGE"))
    CACHE.clear()

    P.create(_grant(uri, "user", user.username, model_name, "READ"))

    assert direct_grants(uri, user.username) == {model_name: "READ"}


def test_missing_user_is_a_clear_error(
    uri: str, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")
    with pytest.raises(RegistryError, match="MLflow user 'nobody_here' does not exist on "):
        P.create(_grant(uri, "user", "nobody_here", model_name, "READ"))


def test_the_deployer_never_lowers_or_revokes_its_own_manage(
    uri: str,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_versions(model_name, "full")
    deployer = make_user("deployer")
    granted = P.create(_grant(uri, "user", deployer.username, model_name, "MANAGE")).outs
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", deployer.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", deployer.password)

    with pytest.raises(RegistryError, match="is the identity applying this stack and would lose MANAGE"):
        P.update("id", granted, _grant(uri, "user", deployer.username, model_name, "READ"))
    P.delete("id", granted)

    assert direct_grants(uri, deployer.username) == {model_name: "MANAGE"}


def test_role_membership_and_role_grant_are_enforced(
    uri: str,
    client: MlflowClient,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
    record_auth_calls: list[tuple[str, str]],
) -> None:
    make_versions(model_name, "full")
    alice, bob = make_user("alice"), make_user("bob")
    role_name = f"ml_engineers_{alice.username[-6:]}"
    role = R.create(_role(uri, role_name, [alice.username], "Train and register"))
    assert role.id == f"default/{role_name}"
    held = server_roles(uri)[role_name]
    assert held["description"] == "Train and register"
    assert role_members(uri, held["id"]) == [alice.username]

    grant = P.create(_grant(uri, "role", role_name, model_name, "READ"))
    body = {"name": model_name, "alias": "Production", "version": "1"}
    assert alice.post(uri, SET_ALIAS, body).status_code == 403
    assert bob.post(uri, SET_ALIAS, body).status_code == 403

    record_auth_calls.clear()
    edit = _grant(uri, "role", role_name, model_name, "EDIT")
    P.update(grant.id, grant.outs, edit)
    assert [c for c in record_auth_calls if c[0] != "GET"] == [
        ("PATCH", "/roles/permissions/update")
    ]  # atomic
    assert alice.post(uri, SET_ALIAS, body).status_code == 200
    assert client.get_registered_model(model_name).aliases == {"Production": "1"}

    members = _role(uri, role_name, [bob.username], "Train and register")
    assert R.diff(role.id, role.outs, members).changes is True
    R.update(role.id, role.outs, members)
    assert role_members(uri, held["id"]) == [bob.username]
    CACHE.clear()
    assert R.read(role.id, {"tracking_uri": uri, "members": []}).outs["members"] == [bob.username]

    P.delete(grant.id, edit)
    assert server_roles(uri)[role_name]["permissions"] == []
    R.delete(role.id, members)
    assert role_name not in server_roles(uri)
    CACHE.clear()
    assert R.read(role.id, members).id is None


def test_role_adopted_and_membership_left_alone_when_not_declared(
    uri: str, make_user: Callable[[str], User]
) -> None:
    carol = make_user("carol")
    name = f"dashboards_{carol.username[-6:]}"
    first = R.create(_role(uri, name, [carol.username]))
    CACHE.clear()

    adopted = R.create(_role(uri, name, None, "BI dashboards"))  # exists already: adopted

    assert adopted.outs["members"] is None
    held = server_roles(uri)[name]
    assert (held["description"], role_members(uri, held["id"])) == ("BI dashboards", [carol.username])
    R.delete(first.id, first.outs)


def test_permission_and_role_checks(uri: str, model_name: str) -> None:
    bad = failures(
        P,
        {
            "tracking_uri": uri,
            "principal_kind": "group",
            "principal": " x",
            "model": model_name,
            "level": "OWNER",
        },
    )
    assert set(bad) == {"principal_kind", "principal", "level"}
    assert "reserved '__user_' prefix" in failures(R, {"tracking_uri": uri, "name": "__user_7__"})["name"]
    assert _grant(uri, "USER", "a@b.c", model_name, "read")["level"] == "READ"

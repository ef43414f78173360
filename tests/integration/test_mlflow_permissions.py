"""ModelPermissions and Role on a real MLflow server with basic auth: grants are enforced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mlflow import MlflowClient

from provider.auth.levels import level_for
from provider.registry.client import AuthClient
from provider.resource import ProviderError
from provider.server import message_of
from tests.integration.conftest import (
    MP,
    ROLE,
    Mrgov,
    User,
    direct_grants,
    new_process,
    role_members,
    server_roles,
)

pytestmark = pytest.mark.integration

SET_ALIAS = "/api/2.0/mlflow/registered-models/alias"


def _perms(mrgov: Mrgov, model: str, olds: dict[str, Any] | None = None, **grants: Any) -> dict[str, Any]:
    return mrgov.checked(MP, {"model": model, **grants}, olds)


def _role(mrgov: Mrgov, name: str, members: list[str] | None = None, description: str = "") -> dict[str, Any]:
    return mrgov.checked(ROLE, {"name": name, "members": members, "description": description})


@pytest.fixture
def record_auth_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(method, endpoint) of every auth API call the provider makes."""
    calls: list[tuple[str, str]] = []
    real = AuthClient._call

    def spy(self: AuthClient, endpoint: str, method: str, **kwargs: Any) -> dict[str, Any]:
        calls.append((method, endpoint.removeprefix("/api/3.0/mlflow").removeprefix("/api/2.0/mlflow")))
        return real(self, endpoint, method, **kwargs)

    monkeypatch.setattr(AuthClient, "_call", spy)
    return calls


def _writes(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [c for c in calls if c[0] != "GET"]


def test_level_mapping() -> None:
    assert level_for(["EXECUTE"]) == "READ"
    assert level_for(["CREATE_MODEL_VERSION", "EXECUTE"]) == "EDIT"
    assert level_for(["APPLY_TAG"]) == "EDIT"
    assert level_for(["MANAGE", "EXECUTE"]) == "MANAGE"
    with pytest.raises(ValueError, match=r"privileges \['USE_MODEL'\] have no MLflow permission level"):
        level_for(["EXECUTE", "USE_MODEL"])


def test_read_user_gets_403_setting_an_alias_and_manage_user_succeeds(
    mrgov: Mrgov,
    uri: str,
    client: MlflowClient,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
) -> None:
    make_versions(model_name, "full")
    reader, manager = make_user("reader"), make_user("manager")
    mrgov.create(MP, _perms(mrgov, model_name, users={reader.username: "READ", manager.username: "MANAGE"}))
    body = {"name": model_name, "alias": "Production", "version": "1"}

    assert reader.post(uri, SET_ALIAS, body).status_code == 403
    assert client.get_registered_model(model_name).aliases == {}
    assert manager.post(uri, SET_ALIAS, body).status_code == 200
    assert client.get_registered_model(model_name).aliases == {"Production": "1"}


def test_user_grant_lifecycle(
    mrgov: Mrgov,
    uri: str,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
) -> None:
    make_versions(model_name, "full")
    user, other = make_user("analyst"), make_user("other")
    declared = _perms(mrgov, model_name, users={user.username: "READ"})

    id_, created = mrgov.create(MP, declared)
    assert id_ == model_name
    assert created == {"model": model_name, "users": {user.username: "READ"}, "roles": {},
                       "workspace": "default"}  # fmt: skip
    assert direct_grants(uri, user.username) == {model_name: "READ"}

    # Someone else's grant on the model is not ours: refresh never reads it into the state.
    mrgov.create(MP, _perms(mrgov, model_name, users={other.username: "EDIT"}))
    new_process()
    refreshed = mrgov.read(MP, id_, created)
    assert refreshed is not None
    assert refreshed.outs == created
    assert mrgov.diff(MP, id_, refreshed.outs, declared)["changes"] is False

    news = _perms(mrgov, model_name, users={user.username: "EDIT"})
    diff = mrgov.diff(MP, id_, created, news)
    assert (diff["replaces"], diff["detailed"]) == ([], {f'users["{user.username}"]': "update"})
    mrgov.update(MP, id_, created, news)
    assert direct_grants(uri, user.username) == {model_name: "EDIT"}

    mrgov.delete(MP, id_, news)
    assert direct_grants(uri, user.username) == {}
    assert direct_grants(uri, other.username) == {model_name: "EDIT"}
    new_process()
    gone = mrgov.read(MP, id_, news)
    assert gone is not None
    assert gone.outs["users"] == {}  # so `up` would grant it again
    mrgov.delete(MP, id_, news)  # already revoked: fine


def test_import_reads_every_principal_on_the_model(
    mrgov: Mrgov,
    uri: str,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
) -> None:
    make_versions(model_name, "full")
    user = make_user("imported")
    role = f"importers_{user.username[-6:]}"
    mrgov.create(ROLE, _role(mrgov, role))
    mrgov.create(MP, _perms(mrgov, model_name, users={user.username: "USE"}, roles={role: "READ"}))
    new_process()

    read = mrgov.read(MP, model_name)

    assert read is not None
    assert read.inputs["users"][user.username] == "USE"
    assert read.inputs["roles"] == {role: "READ"}
    assert (read.inputs["model"], read.inputs["workspace"]) == (model_name, "default")
    expected = (
        f"{'it_nobody.x.y'!r} was not found on {uri}; the id is the model's full name, or "
        "`<workspace>/<model>` outside the default workspace"
    )
    assert mrgov.refusal("read", MP, "it_nobody.x.y") == expected


def test_user_level_change_revokes_before_granting(
    mrgov: Mrgov,
    uri: str,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
    record_auth_calls: list[tuple[str, str]],
) -> None:
    make_versions(model_name, "full")
    user = make_user("mover")
    id_, olds = mrgov.create(MP, _perms(mrgov, model_name, users={user.username: "MANAGE"}))
    record_auth_calls.clear()

    mrgov.update(MP, id_, olds, _perms(mrgov, model_name, users={user.username: "READ"}))

    # MLflow cannot change a user's grant in place; between the two calls the user holds nothing.
    assert _writes(record_auth_calls) == [
        ("POST", "/users/permissions/revoke"),
        ("POST", "/users/permissions/grant"),
    ]
    assert direct_grants(uri, user.username) == {model_name: "READ"}


def test_create_adopts_an_existing_user_grant(
    make_mrgov: Callable[..., Mrgov],
    uri: str,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
) -> None:
    make_versions(model_name, "full")
    user = make_user("creator")
    # As when the user created the model: MLflow gives its creator MANAGE.
    first = make_mrgov(trackingUri=uri)
    first.create(MP, _perms(first, model_name, users={user.username: "MANAGE"}))
    new_process()

    stack = make_mrgov(trackingUri=uri)
    stack.create(MP, _perms(stack, model_name, users={user.username: "READ"}))

    assert direct_grants(uri, user.username) == {model_name: "READ"}


def test_missing_user_is_a_clear_error(
    mrgov: Mrgov, uri: str, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")
    inputs = _perms(mrgov, model_name, users={"nobody_here": "READ"})

    with pytest.raises(ProviderError) as err:
        mrgov.create(MP, inputs)

    assert err.value.prop == "users.nobody_here"
    message = message_of(err.value)
    assert message.startswith(f"users.nobody_here: MLflow user 'nobody_here' does not exist on {uri}; ")
    assert mrgov.refusal("create", MP, inputs) == message


def test_the_deployer_never_lowers_or_revokes_its_own_manage(
    make_mrgov: Callable[..., Mrgov],
    uri: str,
    model_name: str,
    make_versions: Callable[..., list[str]],
    make_user: Callable[[str], User],
) -> None:
    make_versions(model_name, "full")
    deployer = make_user("deployer")
    admin = make_mrgov(trackingUri=uri)
    id_, granted = admin.create(MP, _perms(admin, model_name, users={deployer.username: "MANAGE"}))
    # The stack applied as the deployer, whose credentials are the provider's configuration.
    as_deployer = make_mrgov(trackingUri=uri, username=deployer.username, password=deployer.password)
    lowered = _perms(as_deployer, model_name, users={deployer.username: "READ"})

    with pytest.raises(ProviderError) as err:
        as_deployer.update(MP, id_, granted, lowered)
    assert "is the identity applying this stack and would lose MANAGE" in message_of(err.value)
    assert message_of(err.value).startswith(f"users.{deployer.username}: refusing to set ")
    assert as_deployer.refusal("update", MP, id_, granted, lowered) == message_of(err.value)
    as_deployer.delete(MP, id_, granted)

    assert direct_grants(uri, deployer.username) == {model_name: "MANAGE"}


def test_role_membership_and_role_grant_are_enforced(
    mrgov: Mrgov,
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
    role_inputs = _role(mrgov, role_name, [alice.username], "Train and register")
    role_id, role = mrgov.create(ROLE, role_inputs)
    assert role_id == f"default/{role_name}"
    held = server_roles(uri)[role_name]
    assert held["description"] == "Train and register"
    assert role_members(uri, held["id"]) == [alice.username]

    grant_id, grant = mrgov.create(MP, _perms(mrgov, model_name, roles={role_name: "READ"}))
    body = {"name": model_name, "alias": "Production", "version": "1"}
    assert alice.post(uri, SET_ALIAS, body).status_code == 403
    assert bob.post(uri, SET_ALIAS, body).status_code == 403

    record_auth_calls.clear()
    edit = _perms(mrgov, model_name, roles={role_name: "EDIT"})
    assert mrgov.diff(MP, grant_id, grant, edit)["detailed"] == {f'roles["{role_name}"]': "update"}
    grant = mrgov.update(MP, grant_id, grant, edit)
    # One atomic change of the role's grant: the add is refused (RESOURCE_ALREADY_EXISTS, the grant
    # exists), then the grant's level is updated in place; the role never holds two grants, nor none.
    assert _writes(record_auth_calls) == [
        ("POST", "/roles/permissions/add"),
        ("PATCH", "/roles/permissions/update"),
    ]
    assert [
        (p["resource_pattern"], p["permission"]) for p in server_roles(uri)[role_name]["permissions"]
    ] == [(model_name, "EDIT")]
    assert alice.post(uri, SET_ALIAS, body).status_code == 200
    assert client.get_registered_model(model_name).aliases == {"Production": "1"}

    members = _role(mrgov, role_name, [bob.username], "Train and register")
    diff = mrgov.diff(ROLE, role_id, role, members)
    assert (diff["replaces"], diff["detailed"]) == ([], {"members": "update"})
    role = mrgov.update(ROLE, role_id, role, members)
    assert role_members(uri, held["id"]) == [bob.username]
    new_process()
    read = mrgov.read(ROLE, role_id, role)
    assert read is not None
    assert read.outs["members"] == [bob.username]
    imported = mrgov.read(ROLE, role_id)
    assert imported is not None
    assert imported.inputs == {"name": role_name, "description": "Train and register",
                               "members": [bob.username], "workspace": "default"}  # fmt: skip

    mrgov.delete(MP, grant_id, grant)
    assert server_roles(uri)[role_name]["permissions"] == []
    mrgov.delete(ROLE, role_id, role)
    assert role_name not in server_roles(uri)
    new_process()
    assert mrgov.read(ROLE, role_id, role) is None


def test_role_adopted_and_membership_left_alone_when_not_declared(
    make_mrgov: Callable[..., Mrgov], uri: str, make_user: Callable[[str], User]
) -> None:
    carol = make_user("carol")
    name = f"dashboards_{carol.username[-6:]}"
    first = make_mrgov(trackingUri=uri)
    first_id, first_state = first.create(ROLE, _role(first, name, [carol.username]))
    new_process()

    stack = make_mrgov(trackingUri=uri)
    _, adopted = stack.create(ROLE, _role(stack, name, None, "BI dashboards"))  # exists already: adopted

    assert adopted["members"] is None
    held = server_roles(uri)[name]
    assert (held["description"], role_members(uri, held["id"])) == ("BI dashboards", [carol.username])
    stack.delete(ROLE, first_id, first_state)
    assert name not in server_roles(uri)


def test_a_role_grant_without_the_role_is_a_clear_error(
    mrgov: Mrgov, uri: str, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")
    inputs = _perms(mrgov, model_name, roles={"it_no_such_role": "READ"})
    assert mrgov.refusal("create", MP, inputs) == (
        f"roles.it_no_such_role: MLflow role 'it_no_such_role' does not exist in workspace 'default' on "
        f"{uri}; declare it (mrgov:auth:Role)"
    )


def test_permission_and_role_checks(mrgov: Mrgov, make_mrgov: Callable[..., Mrgov], model_name: str) -> None:
    bad = mrgov.failures(
        MP, {"model": model_name, "users": {" x": "READ"}, "roles": {"r": "OWNER", "__user_7__": "READ"}}
    )
    assert set(bad) == {"users. x", "roles.r", "roles.__user_7__"}
    assert "without surrounding spaces" in bad["users. x"]
    assert bad["roles.r"] == "got 'OWNER'; allowed: READ, USE, EDIT, MANAGE"
    assert "reserved '__user_' form" in bad["roles.__user_7__"]
    assert "reserved '__user_' prefix" in mrgov.failures(ROLE, {"name": "__user_7__"})["name"]
    assert mrgov.failures(ROLE, {"name": "r", "members": ["a", " "]}) == {
        "members": "must be a list of usernames, got [' ', 'a']"
    }
    assert _perms(mrgov, model_name, users={"a@b.c": "read"})["users"] == {"a@b.c": "READ"}
    uc = make_mrgov(registryUri="databricks-uc")
    assert "databricks.Grants" in uc.failures(MP, {"model": "c.s.m", "users": {"a": "READ"}})["model"]
    assert "identity provider" in uc.failures(ROLE, {"name": "r"})["name"]

"""ModelPermissions and Role on a real MLflow server with basic auth: grants are enforced."""

from __future__ import annotations

from dataclasses import dataclass
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
    MakeMrgov,
    MakeUser,
    MakeVersions,
    Mrgov,
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


@dataclass(frozen=True)
class Granting:
    """A fresh model with a version on the auth-enabled server, and what a permissions test acts with."""

    mrgov: Mrgov
    make_mrgov: MakeMrgov
    uri: str
    client: MlflowClient
    model: str
    make_user: MakeUser

    def perms(self, **grants: Any) -> dict[str, Any]:
        """Checked ModelPermissions inputs granting `grants` on this model."""
        return _perms(self.mrgov, self.model, **grants)


@pytest.fixture
def env(
    mrgov: Mrgov,
    make_mrgov: MakeMrgov,
    uri: str,
    client: MlflowClient,
    model_name: str,
    make_versions: MakeVersions,
    make_user: MakeUser,
) -> Granting:
    make_versions(model_name, "full")
    return Granting(mrgov, make_mrgov, uri, client, model_name, make_user)


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


def test_read_user_gets_403_setting_an_alias_and_manage_user_succeeds(env: Granting) -> None:
    reader, manager = env.make_user("reader"), env.make_user("manager")
    env.mrgov.create(MP, env.perms(users={reader.username: "READ", manager.username: "MANAGE"}))
    body = {"name": env.model, "alias": "Production", "version": "1"}

    assert reader.post(env.uri, SET_ALIAS, body).status_code == 403
    assert env.client.get_registered_model(env.model).aliases == {}
    assert manager.post(env.uri, SET_ALIAS, body).status_code == 200
    assert env.client.get_registered_model(env.model).aliases == {"Production": "1"}


def test_user_grant_lifecycle(env: Granting) -> None:
    user, other = env.make_user("analyst"), env.make_user("other")
    declared = env.perms(users={user.username: "READ"})

    id_, created = env.mrgov.create(MP, declared)
    assert id_ == env.model
    assert created == {"model": env.model, "users": {user.username: "READ"}, "roles": {},
                       "workspace": "default"}  # fmt: skip
    assert direct_grants(env.uri, user.username) == {env.model: "READ"}

    # Someone else's grant on the model is not ours: refresh never reads it into the state.
    env.mrgov.create(MP, env.perms(users={other.username: "EDIT"}))
    new_process()
    refreshed = env.mrgov.read(MP, id_, created)
    assert refreshed is not None
    assert refreshed.outs == created
    assert env.mrgov.diff(MP, id_, refreshed.outs, declared)["changes"] is False

    news = env.perms(users={user.username: "EDIT"})
    diff = env.mrgov.diff(MP, id_, created, news)
    assert (diff["replaces"], diff["detailed"]) == ([], {f'users["{user.username}"]': "update"})
    env.mrgov.update(MP, id_, created, news)
    assert direct_grants(env.uri, user.username) == {env.model: "EDIT"}

    env.mrgov.delete(MP, id_, news)
    assert direct_grants(env.uri, user.username) == {}
    assert direct_grants(env.uri, other.username) == {env.model: "EDIT"}
    new_process()
    gone = env.mrgov.read(MP, id_, news)
    assert gone is not None
    assert gone.outs["users"] == {}  # so `up` would grant it again
    env.mrgov.delete(MP, id_, news)  # already revoked: fine


def test_import_reads_every_principal_on_the_model(env: Granting) -> None:
    user = env.make_user("imported")
    role = f"importers_{user.username[-6:]}"
    env.mrgov.create(ROLE, _role(env.mrgov, role))
    env.mrgov.create(MP, env.perms(users={user.username: "USE"}, roles={role: "READ"}))
    new_process()

    read = env.mrgov.read(MP, env.model)

    assert read is not None
    assert read.inputs["users"][user.username] == "USE"
    assert read.inputs["roles"] == {role: "READ"}
    assert (read.inputs["model"], read.inputs["workspace"]) == (env.model, "default")
    expected = (
        f"{'it_nobody.x.y'!r} was not found on {env.uri}; the id is the model's full name, or "
        "`<workspace>/<model>` outside the default workspace"
    )
    assert env.mrgov.refusal("read", MP, "it_nobody.x.y") == expected


def test_user_level_change_revokes_before_granting(
    env: Granting, record_auth_calls: list[tuple[str, str]]
) -> None:
    user = env.make_user("mover")
    id_, olds = env.mrgov.create(MP, env.perms(users={user.username: "MANAGE"}))
    record_auth_calls.clear()

    env.mrgov.update(MP, id_, olds, env.perms(users={user.username: "READ"}))

    # MLflow cannot change a user's grant in place; between the two calls the user holds nothing.
    assert _writes(record_auth_calls) == [
        ("POST", "/users/permissions/revoke"),
        ("POST", "/users/permissions/grant"),
    ]
    assert direct_grants(env.uri, user.username) == {env.model: "READ"}


def test_create_adopts_an_existing_user_grant(env: Granting) -> None:
    user = env.make_user("creator")
    # As when the user created the model: MLflow gives its creator MANAGE.
    first = env.make_mrgov(trackingUri=env.uri)
    first.create(MP, _perms(first, env.model, users={user.username: "MANAGE"}))
    new_process()

    stack = env.make_mrgov(trackingUri=env.uri)
    stack.create(MP, _perms(stack, env.model, users={user.username: "READ"}))

    assert direct_grants(env.uri, user.username) == {env.model: "READ"}


def test_missing_user_is_a_clear_error(env: Granting) -> None:
    inputs = env.perms(users={"nobody_here": "READ"})

    with pytest.raises(ProviderError) as err:
        env.mrgov.create(MP, inputs)

    assert err.value.prop == "users.nobody_here"
    message = message_of(err.value)
    assert message.startswith(f"users.nobody_here: MLflow user 'nobody_here' does not exist on {env.uri}; ")
    assert env.mrgov.refusal("create", MP, inputs) == message


def test_the_deployer_never_lowers_or_revokes_its_own_manage(env: Granting) -> None:
    deployer = env.make_user("deployer")
    admin = env.make_mrgov(trackingUri=env.uri)
    id_, granted = admin.create(MP, _perms(admin, env.model, users={deployer.username: "MANAGE"}))
    # The stack applied as the deployer, whose credentials are the provider's configuration.
    as_deployer = env.make_mrgov(trackingUri=env.uri, username=deployer.username, password=deployer.password)
    lowered = _perms(as_deployer, env.model, users={deployer.username: "READ"})

    with pytest.raises(ProviderError) as err:
        as_deployer.update(MP, id_, granted, lowered)
    assert "is the identity applying this stack and would lose MANAGE" in message_of(err.value)
    assert message_of(err.value).startswith(f"users.{deployer.username}: refusing to set ")
    assert as_deployer.refusal("update", MP, id_, granted, lowered) == message_of(err.value)
    as_deployer.delete(MP, id_, granted)

    assert direct_grants(env.uri, deployer.username) == {env.model: "MANAGE"}


def test_role_membership_and_role_grant_are_enforced(
    env: Granting, record_auth_calls: list[tuple[str, str]]
) -> None:
    alice, bob = env.make_user("alice"), env.make_user("bob")
    role_name = f"ml_engineers_{alice.username[-6:]}"
    role_inputs = _role(env.mrgov, role_name, [alice.username], "Train and register")
    role_id, role = env.mrgov.create(ROLE, role_inputs)
    assert role_id == f"default/{role_name}"
    held = server_roles(env.uri)[role_name]
    assert held["description"] == "Train and register"
    assert role_members(env.uri, held["id"]) == [alice.username]

    grant_id, grant = env.mrgov.create(MP, env.perms(roles={role_name: "READ"}))
    body = {"name": env.model, "alias": "Production", "version": "1"}
    assert alice.post(env.uri, SET_ALIAS, body).status_code == 403
    assert bob.post(env.uri, SET_ALIAS, body).status_code == 403

    record_auth_calls.clear()
    edit = env.perms(roles={role_name: "EDIT"})
    assert env.mrgov.diff(MP, grant_id, grant, edit)["detailed"] == {f'roles["{role_name}"]': "update"}
    grant = env.mrgov.update(MP, grant_id, grant, edit)
    # One atomic change of the role's grant: the add is refused (RESOURCE_ALREADY_EXISTS, the grant
    # exists), then the grant's level is updated in place; the role never holds two grants, nor none.
    assert _writes(record_auth_calls) == [
        ("POST", "/roles/permissions/add"),
        ("PATCH", "/roles/permissions/update"),
    ]
    assert [
        (p["resource_pattern"], p["permission"]) for p in server_roles(env.uri)[role_name]["permissions"]
    ] == [(env.model, "EDIT")]
    assert alice.post(env.uri, SET_ALIAS, body).status_code == 200
    assert env.client.get_registered_model(env.model).aliases == {"Production": "1"}

    members = _role(env.mrgov, role_name, [bob.username], "Train and register")
    diff = env.mrgov.diff(ROLE, role_id, role, members)
    assert (diff["replaces"], diff["detailed"]) == ([], {"members": "update"})
    role = env.mrgov.update(ROLE, role_id, role, members)
    assert role_members(env.uri, held["id"]) == [bob.username]
    new_process()
    read = env.mrgov.read(ROLE, role_id, role)
    assert read is not None
    assert read.outs["members"] == [bob.username]
    imported = env.mrgov.read(ROLE, role_id)
    assert imported is not None
    assert imported.inputs == {"name": role_name, "description": "Train and register",
                               "members": [bob.username], "workspace": "default"}  # fmt: skip

    env.mrgov.delete(MP, grant_id, grant)
    assert server_roles(env.uri)[role_name]["permissions"] == []
    env.mrgov.delete(ROLE, role_id, role)
    assert role_name not in server_roles(env.uri)
    new_process()
    assert env.mrgov.read(ROLE, role_id, role) is None


def test_role_adopted_and_membership_left_alone_when_not_declared(
    make_mrgov: MakeMrgov, uri: str, make_user: MakeUser
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


def test_a_role_grant_without_the_role_is_a_clear_error(env: Granting) -> None:
    inputs = env.perms(roles={"it_no_such_role": "READ"})
    assert env.mrgov.refusal("create", MP, inputs) == (
        f"roles.it_no_such_role: MLflow role 'it_no_such_role' does not exist in workspace 'default' on "
        f"{env.uri}; declare it (mrgov:auth:Role)"
    )


def test_permission_and_role_checks(mrgov: Mrgov, make_mrgov: MakeMrgov, model_name: str) -> None:
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

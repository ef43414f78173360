"""Permissions on an MLflow server (the basic-auth app of MLflow 3.17): roles and per-model grants.

- `Role`: an MLflow role (what a Unity Catalog group becomes), with its members as code.
- `Permission`: one principal's level on one registered model. A user's grant goes through
  MLflow's per-user API (`grant_user_permission` / `revoke_user_permission`); a role's through the
  role API (`add_role_permission`, `update_role_permission`, `remove_role_permission`).
- `level_for`: the mapping from Unity Catalog privileges to MLflow levels.

A change of level never leaves the principal with more access than the old or the new level: a
role's grant is changed in one atomic update; a user's grant cannot be updated in place (MLflow
answers RESOURCE_ALREADY_EXISTS), so it is revoked first and granted again, failing closed.

Reads use one snapshot per server (all users with their roles and grants, and all roles: two
requests), cached briefly in the provider process, so refreshing any number of grants costs two
requests. Listing users and roles needs an admin, as do role changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.mlflow.base import Checker, RegistryError, RegistryProvider, diff_of, known, strip_provider
from components.mlflow.client import auth_client, caller_username, is_already_exists, is_not_found
from components.mlflow.state import CACHE

LEVELS = ("READ", "USE", "EDIT", "MANAGE")
"""MLflow's positive levels, weakest first. (DENY and NO_PERMISSIONS are not declared by stacks.)"""

PRIVILEGE_LEVELS: dict[str, str] = {
    "EXECUTE": "READ",  # UC's load/download/serve; MLflow READ can load a model
    "APPLY_TAG": "EDIT",  # MLflow needs EDIT to set tags
    "CREATE_MODEL_VERSION": "EDIT",
    "ALL_PRIVILEGES": "EDIT",  # in UC, ALL PRIVILEGES excludes MANAGE
    "MANAGE": "MANAGE",
    "OWNER": "MANAGE",
}
"""Unity Catalog privilege on a registered model -> the MLflow level that allows the same."""

PRINCIPAL_KINDS = ("user", "role")
DEFAULT_WORKSPACE = "default"
RESOURCE_TYPE = "registered_model"
_SYNTHETIC_ROLE = re.compile(r"^__user_\d+__$")  # MLflow's hidden per-user role for direct grants


def level_for(privileges: Iterable[str]) -> str:
    """The MLflow level granting `privileges` (the strongest of their levels).

    Raises ValueError naming any privilege with no MLflow meaning, and listing the known ones.
    """
    privs = [p.strip().upper().replace(" ", "_") for p in privileges]
    unknown = sorted({p for p in privs if p not in PRIVILEGE_LEVELS})
    if unknown or not privs:
        raise ValueError(
            f"privileges {unknown or '[]'} have no MLflow permission level; "
            f"allowed on a registered model: {', '.join(sorted(PRIVILEGE_LEVELS))}"
        )
    return max((PRIVILEGE_LEVELS[p] for p in privs), key=LEVELS.index)


# ---------------------------------------------------------------------------------------------------
# One snapshot of the server's users, roles and grants
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    permission: str
    role_permission_id: int


@dataclass(frozen=True)
class RoleInfo:
    id: int
    workspace: str
    name: str
    description: str
    grants: dict[tuple[str, str], Grant]


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    is_admin: bool
    role_ids: frozenset[int]
    # Direct grants, by (workspace, resource_type, resource_pattern).
    grants: dict[tuple[str, str, str], Grant] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthSnapshot:
    users: dict[str, UserInfo]
    roles: dict[tuple[str, str], RoleInfo]

    def members(self, role: RoleInfo) -> list[str]:
        return sorted(u.username for u in self.users.values() if role.id in u.role_ids)


def _grants(perms: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Grant]:
    return {(p["resource_type"], p["resource_pattern"]): Grant(p["permission"], int(p["id"])) for p in perms}


def snapshot(tracking_uri: str, *, fresh: bool = False) -> AuthSnapshot:
    """Every user (with roles and direct grants) and every role on the server: two requests, cached."""

    def fetch() -> AuthSnapshot:
        client = auth_client(tracking_uri)
        users: dict[str, UserInfo] = {}
        for u in client.list_users():
            direct: dict[tuple[str, str, str], Grant] = {}
            for r in u.get("roles", []):
                if _SYNTHETIC_ROLE.match(r.get("name", "")):
                    for (rtype, pattern), grant in _grants(r.get("permissions", [])).items():
                        direct[(r["workspace"], rtype, pattern)] = grant
            users[u["username"]] = UserInfo(
                id=int(u["id"]),
                username=u["username"],
                is_admin=bool(u.get("is_admin")),
                role_ids=frozenset(int(r["id"]) for r in u.get("roles", [])),
                grants=direct,
            )
        roles = {
            (r["workspace"], r["name"]): RoleInfo(
                id=int(r["id"]),
                workspace=r["workspace"],
                name=r["name"],
                description=r.get("description") or "",
                grants=_grants(r.get("permissions", [])),
            )
            for r in client.list_all_roles()
            if not _SYNTHETIC_ROLE.match(r["name"])
        }
        return AuthSnapshot(users, roles)

    key = ("auth", tracking_uri)
    if fresh:
        CACHE.drop(key)
    return CACHE.get(key, fetch)


def directory(tracking_uri: str) -> AuthSnapshot:
    """The snapshot for looking up who and what exists (user names, role ids), not for grants.

    Grant writes leave it cached: nine grants to three roles cost one snapshot, not nine.
    """
    return CACHE.get(("auth-directory", tracking_uri), lambda: snapshot(tracking_uri))


def forget_snapshot(tracking_uri: str, *, directory: bool = False) -> None:
    """Drop the cached snapshot after a write; `directory` too when roles or memberships changed."""
    CACHE.drop(("auth", tracking_uri))
    if directory:
        CACHE.drop(("auth-directory", tracking_uri))


def _missing_user(tracking_uri: str, username: str) -> RegistryError:
    return RegistryError(
        f"MLflow user {username!r} does not exist on {tracking_uri}; users are not created by this stack "
        "(an admin creates them, for example with mlflow.server.get_app_client('basic-auth').create_user)"
    )


# ---------------------------------------------------------------------------------------------------
# Permission
# ---------------------------------------------------------------------------------------------------
@dataclass
class PermissionArgs:
    """Inputs of a Permission: `principal` (a user or a role) gets `level` on registered model `model`."""

    tracking_uri: pulumi.Input[str]
    principal_kind: pulumi.Input[str]
    """`user` or `role`."""
    principal: pulumi.Input[str]
    model: pulumi.Input[str]
    level: pulumi.Input[str]
    """READ, USE, EDIT or MANAGE (see `level_for`)."""
    workspace: pulumi.Input[str] = DEFAULT_WORKSPACE
    """The MLflow workspace of the grant ("default" unless the server runs with workspaces)."""


PERMISSION_REPLACE_KEYS = ("tracking_uri", "principal_kind", "principal", "model", "workspace")


def permission_id(kind: str, workspace: str, principal: str, model: str) -> str:
    """The resource id, `kind/workspace/principal/model`: what `import` takes."""
    return f"{kind}/{workspace}/{principal}/{model}"


def _parse_permission_id(id_: str) -> dict[str, str]:
    kind, workspace, rest = id_.split("/", 2)
    principal, _, model = rest.rpartition("/")  # model names cannot contain '/'; usernames might
    return {"principal_kind": kind, "workspace": workspace, "principal": principal, "model": model}


def _permission_outs(props: dict[str, Any], level: str) -> dict[str, Any]:
    return {**{k: props[k] for k in PERMISSION_REPLACE_KEYS}, "level": level}


class PermissionProvider(RegistryProvider):
    """Grants, reads, changes and revokes one principal's level on one model."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> Any:
        c = Checker(news)
        c.uri("tracking_uri")
        c.choice("principal_kind", PRINCIPAL_KINDS, str.lower)
        c.text("principal")
        c.model_name("model", "tracking_uri")
        c.choice("level", LEVELS)
        c.text("workspace", required=False, default=DEFAULT_WORKSPACE)
        principal = c.inputs.get("principal")
        if principal == "" or (
            isinstance(principal, str) and known(principal) and principal != principal.strip()
        ):
            c.fail("principal", f"must be a non-empty name without surrounding spaces, got {principal!r}")
        return c.result()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A new principal or model is another grant: revoke the old one first, so nobody briefly holds both.
        return diff_of(olds, news, PERMISSION_REPLACE_KEYS, ("level",), delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip_provider(props)
        uri, kind, principal, model, level, ws = (
            props[k] for k in ("tracking_uri", "principal_kind", "principal", "model", "level", "workspace")
        )
        try:
            if kind == "user":
                self._guard_self(uri, principal, model, level)
                try:
                    auth_client(uri).grant_user_permission(principal, RESOURCE_TYPE, model, level)
                except Exception as exc:
                    if is_not_found(exc):
                        raise _missing_user(uri, principal) from exc
                    if not is_already_exists(exc):
                        raise
                    # Adopt: the user already holds a grant here (a model's creator gets MANAGE).
                    self._set_user_level(uri, principal, model, ws, level)
            else:
                role = self._role(uri, ws, principal, fresh=False)
                try:
                    auth_client(uri).add_role_permission(role.id, RESOURCE_TYPE, model, level)
                except Exception as exc:
                    if not is_already_exists(exc):
                        raise
                    self._set_role_level(uri, ws, principal, model, level)
        finally:
            forget_snapshot(uri)
        return CreateResult(
            id_=permission_id(kind, ws, principal, model), outs=_permission_outs(props, level)
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = {**_parse_permission_id(id_), **strip_provider(props)}
        snap = snapshot(props["tracking_uri"])
        grant = self._find(snap, props)
        if grant is None:
            return ReadResult(None, {})
        return ReadResult(id_, _permission_outs(props, grant.permission))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = strip_provider(news)
        uri, kind, principal, model, ws, level = (
            news[k] for k in ("tracking_uri", "principal_kind", "principal", "model", "workspace", "level")
        )
        try:
            if kind == "user":
                self._guard_self(uri, principal, model, level)
                self._set_user_level(uri, principal, model, ws, level)
            else:
                self._set_role_level(uri, ws, principal, model, level)
        finally:
            forget_snapshot(uri)
        return UpdateResult(outs=_permission_outs(news, level))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        uri, kind, principal, model, ws = (
            props[k] for k in ("tracking_uri", "principal_kind", "principal", "model", "workspace")
        )
        try:
            if kind == "user":
                if principal == caller_username():
                    # Never revoke the grant of the identity applying the stack: it would lock itself out.
                    return
                try:
                    auth_client(uri).revoke_user_permission(principal, RESOURCE_TYPE, model)
                except Exception as exc:
                    if not is_not_found(exc):
                        raise
            else:
                # The directory's grant ids serve a whole destroy; a stale id answers 404 and we look again.
                for snap in (directory(uri), snapshot(uri, fresh=True)):
                    role = snap.roles.get((ws, principal))
                    grant = role.grants.get((RESOURCE_TYPE, model)) if role else None
                    if grant is None:
                        continue
                    try:
                        auth_client(uri).remove_role_permission(grant.role_permission_id)
                        break
                    except Exception as exc:
                        if not is_not_found(exc):
                            raise
        finally:
            forget_snapshot(uri)

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _find(snap: AuthSnapshot, props: dict[str, Any]) -> Grant | None:
        ws, principal, model = props["workspace"], props["principal"], props["model"]
        if props["principal_kind"] == "user":
            user = snap.users.get(principal)
            return user.grants.get((ws, RESOURCE_TYPE, model)) if user else None
        role = snap.roles.get((ws, principal))
        return role.grants.get((RESOURCE_TYPE, model)) if role else None

    @staticmethod
    def _guard_self(uri: str, principal: str, model: str, level: str) -> None:
        if level == "MANAGE" or principal != caller_username():
            return
        if auth_client(uri).current_user().get("is_admin"):
            return  # an admin keeps full access whatever its grants say
        raise RegistryError(
            f"refusing to set {principal!r}'s permission on {model!r} to {level}: {principal!r} is the "
            "identity applying this stack and would lose MANAGE on the model. Keep it at MANAGE, or apply "
            "the stack as an admin."
        )

    @staticmethod
    def _role(uri: str, ws: str, name: str, *, fresh: bool = True) -> RoleInfo:
        role = (snapshot(uri, fresh=True) if fresh else directory(uri)).roles.get((ws, name))
        if role is None and not fresh:  # created since the directory was read
            forget_snapshot(uri, directory=True)
            role = directory(uri).roles.get((ws, name))
        if role is None:
            raise RegistryError(
                f"MLflow role {name!r} does not exist in workspace {ws!r} on {uri}; declare it"
            )
        return role

    @staticmethod
    def _set_user_level(uri: str, user: str, model: str, ws: str, level: str) -> None:
        info = snapshot(uri, fresh=True).users.get(user)
        if info is None:
            raise _missing_user(uri, user)
        current = info.grants.get((ws, RESOURCE_TYPE, model))
        if current is not None and current.permission == level:
            return
        client = auth_client(uri)
        if current is not None:
            # Revoke first: between the two calls the user holds nothing, never the union of both levels.
            try:
                client.revoke_user_permission(user, RESOURCE_TYPE, model)
            except Exception as exc:
                if not is_not_found(exc):
                    raise
        client.grant_user_permission(user, RESOURCE_TYPE, model, level)

    @classmethod
    def _set_role_level(cls, uri: str, ws: str, name: str, model: str, level: str) -> None:
        role = cls._role(uri, ws, name)
        client = auth_client(uri)
        current = role.grants.get((RESOURCE_TYPE, model))
        if current is None:
            client.add_role_permission(role.id, RESOURCE_TYPE, model, level)
        elif current.permission != level:
            client.update_role_permission(current.role_permission_id, level)  # one atomic change


class Permission(Resource, module="mrgov", name="Permission"):
    """One principal's permission level on one registered model."""

    tracking_uri: pulumi.Output[str]
    principal_kind: pulumi.Output[str]
    principal: pulumi.Output[str]
    model: pulumi.Output[str]
    level: pulumi.Output[str]
    workspace: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: PermissionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(PermissionProvider(), resource_name, vars(args).copy(), opts)


# ---------------------------------------------------------------------------------------------------
# Role
# ---------------------------------------------------------------------------------------------------
@dataclass
class RoleArgs:
    """Inputs of a Role: an MLflow role and, authoritatively, its members."""

    tracking_uri: pulumi.Input[str]
    name: pulumi.Input[str]
    description: pulumi.Input[str] = ""
    members: pulumi.Input[list[str]] | None = None
    """Usernames, authoritative: members not listed are removed. None leaves membership alone (managed
    elsewhere, as a Unity Catalog group's is in the identity provider)."""
    workspace: pulumi.Input[str] = DEFAULT_WORKSPACE


ROLE_REPLACE_KEYS = ("tracking_uri", "name", "workspace")


def role_id(workspace: str, name: str) -> str:
    """The resource id, `workspace/name`: what `import` takes."""
    return f"{workspace}/{name}"


def _role_outs(props: dict[str, Any], description: str, members: list[str] | None) -> dict[str, Any]:
    return {
        **{k: props[k] for k in ROLE_REPLACE_KEYS},
        "description": description,
        "members": sorted(members) if members is not None else None,
    }


class RoleProvider(RegistryProvider):
    """Creates (or adopts), reads, updates and deletes one MLflow role and its membership."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> Any:
        c = Checker(news)
        c.uri("tracking_uri")
        c.text("name")
        c.text("description", required=False)
        c.text("workspace", required=False, default=DEFAULT_WORKSPACE)
        name = c.inputs.get("name")
        if isinstance(name, str) and known(name) and (not name.strip() or name.startswith("__user_")):
            c.fail("name", f"role name {name!r} is empty or uses MLflow's reserved '__user_' prefix")
        members = c.inputs.get("members")
        if members is not None and known(members):
            if not isinstance(members, list | tuple) or not all(isinstance(m, str) and m for m in members):
                c.fail("members", f"must be a list of usernames, got {members!r}")
            else:
                c.inputs["members"] = sorted(set(members))
        return c.result()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_of(olds, news, ROLE_REPLACE_KEYS, ("description", "members"), delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip_provider(props)
        uri, name, ws, description = (
            props["tracking_uri"],
            props["name"],
            props["workspace"],
            props["description"],
        )
        client = auth_client(uri)
        self._require_users(uri, props.get("members"))  # before anything is created
        try:
            try:
                created = client.create_role(ws, name, description or None)
                role = RoleInfo(int(created["id"]), ws, name, created.get("description") or "", {})
            except Exception as exc:
                if not is_already_exists(exc):
                    raise
                role = snapshot(uri, fresh=True).roles[(ws, name)]  # adopt it
                if role.description != description:
                    client.update_role(role.id, description=description)
            self._set_members(uri, role, props.get("members"))
        finally:
            forget_snapshot(uri, directory=True)
        return CreateResult(id_=role_id(ws, name), outs=_role_outs(props, description, props.get("members")))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        ws, _, name = id_.partition("/")
        props = {"workspace": ws, "name": name, **strip_provider(props)}
        snap = snapshot(props["tracking_uri"])
        role = snap.roles.get((props["workspace"], props["name"]))
        if role is None:
            return ReadResult(None, {})
        managed = props.get("members") is not None
        return ReadResult(id_, _role_outs(props, role.description, snap.members(role) if managed else None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = strip_provider(news)
        uri = news["tracking_uri"]
        try:
            role = snapshot(uri, fresh=True).roles.get((news["workspace"], news["name"]))
            if role is None:
                raise RegistryError(f"MLflow role {news['name']!r} vanished from {uri}; run `pulumi refresh`")
            if role.description != news["description"]:
                auth_client(uri).update_role(role.id, description=news["description"])
            self._set_members(uri, role, news.get("members"))
        finally:
            forget_snapshot(uri, directory=True)
        return UpdateResult(outs=_role_outs(news, news["description"], news.get("members")))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        uri = props["tracking_uri"]
        try:
            role = snapshot(uri, fresh=True).roles.get((props["workspace"], props["name"]))
            if role is not None:
                try:
                    auth_client(uri).delete_role(role.id)
                except Exception as exc:
                    if not is_not_found(exc):
                        raise
        finally:
            forget_snapshot(uri, directory=True)

    @staticmethod
    def _require_users(uri: str, members: list[str] | None) -> None:
        if members is None:
            return
        missing = sorted(m for m in members if m not in directory(uri).users)
        if missing:  # perhaps created since the directory was read
            forget_snapshot(uri, directory=True)
            missing = sorted(m for m in members if m not in directory(uri).users)
        if missing:
            raise _missing_user(uri, missing[0])

    @staticmethod
    def _set_members(uri: str, role: RoleInfo, members: list[str] | None) -> None:
        if members is None:
            return
        RoleProvider._require_users(uri, members)
        current = set(snapshot(uri).members(role))
        wanted = set(members)
        client = auth_client(uri)
        # Removals first: nobody holds the role's grants longer than the declaration says.
        for user in sorted(current - wanted):
            client.unassign_role(user, role.id)
        for user in sorted(wanted - current):
            client.assign_role(user, role.id)


class Role(Resource, module="mrgov", name="Role"):
    """An MLflow role and its members."""

    tracking_uri: pulumi.Output[str]
    name: pulumi.Output[str]
    description: pulumi.Output[str]
    members: pulumi.Output[list[str] | None]
    workspace: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: RoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RoleProvider(), resource_name, vars(args).copy(), opts)

"""ModelPermissions: the declared users' and roles' permission levels on one registered model.

One resource per model (one state entry), with a per-principal diff in the preview
(`roles["ml_engineers"]`). Only the declared principals are managed: grants that others hold are
never read into the state or changed. Users go through MLflow's per-user API
(`grant_user_permission`, `revoke_user_permission`), roles through the role API
(`add_role_permission`, `update_role_permission`, `remove_role_permission`).

A change of level never leaves a principal with more access than the old or the new level: a role's
grant changes in one atomic update; a user's cannot be updated in place (MLflow answers
RESOURCE_ALREADY_EXISTS), so it is revoked first and granted again, failing closed. The identity that
applies the stack is never revoked, nor lowered below MANAGE unless it is an admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from provider.auth.levels import LEVELS
from provider.auth.snapshot import (
    DEFAULT_WORKSPACE,
    RESOURCE_TYPE,
    SYNTHETIC_ROLE,
    AuthSnapshot,
    Grant,
    directory,
    forget_snapshot,
    missing_user,
    snapshot,
)
from provider.config import Connection, caller_username
from provider.declare import Props, arg
from provider.limits import model_name_problem
from provider.registry.client import auth_client, is_already_exists, is_not_found
from provider.resource import Failures, ProviderError, Resource


@dataclass(frozen=True)
class ModelPermissionsProps(Props):
    TOKEN = "mrgov:auth:ModelPermissions"
    DESCRIPTION = (
        "The permission levels of declared MLflow users and roles on one registered model (MLflow's "
        "basic-auth app). Principals not listed are left alone. Not for Unity Catalog, whose grants "
        "are `databricks.Grants`."
    )
    ID = "the model's full name, or `<workspace>/<model>` outside the default workspace"

    model: str = arg("The registered model's full name.", replace=True)
    users: dict[str, str] = arg(
        "Username -> level (READ, USE, EDIT or MANAGE). Users must exist.", default_factory=dict
    )
    roles: dict[str, str] = arg("Role name -> level (READ, USE, EDIT or MANAGE).", default_factory=dict)
    workspace: str = arg(
        "The MLflow workspace of the grants (`default` unless the server runs with workspaces).",
        default=DEFAULT_WORKSPACE,
        replace=True,
    )

    def __post_init__(self) -> None:
        # Levels in MLflow's spelling from `check` on (`read` is READ), so equal levels never diff.
        for attr in ("users", "roles"):
            if isinstance(grants := getattr(self, attr), dict):
                upper = {k: v.upper() if isinstance(v, str) else v for k, v in grants.items()}
                object.__setattr__(self, attr, upper)


Perms = ModelPermissionsProps


def permissions_id(workspace: str, model: str) -> str:
    return model if workspace == DEFAULT_WORKSPACE else f"{workspace}/{model}"


class ModelPermissions(Resource[ModelPermissionsProps]):
    PROPS = ModelPermissionsProps
    # A grant moved to another model or workspace is revoked first: nobody briefly holds both.
    DELETE_BEFORE_REPLACE = True

    def check(self, conn: Connection, news: Perms, olds: Perms | None) -> Failures:
        failures: Failures = []
        if conn.uc:
            return [("model", "Unity Catalog grants are databricks.Grants, not ModelPermissions")]
        if problem := model_name_problem(news.model, uc=False):
            failures.append(("model", problem))
        for kind, grants in (("users", news.users), ("roles", news.roles)):
            for principal, level in grants.items():
                path = f"{kind}.{principal}"
                if not principal.strip() or principal != principal.strip():
                    failures.append(
                        (path, f"must be a non-empty name without surrounding spaces, got {principal!r}")
                    )
                elif kind == "roles" and SYNTHETIC_ROLE.match(principal):
                    failures.append((path, f"role name {principal!r} uses MLflow's reserved '__user_' form"))
                if level.upper() not in LEVELS:
                    failures.append((path, f"got {level!r}; allowed: {', '.join(LEVELS)}"))
        return failures

    def create(self, conn: Connection, props: Perms) -> tuple[str, Perms]:
        self._apply(conn, props, Perms(model=props.model, workspace=props.workspace), adopt=True)
        return permissions_id(props.workspace, props.model), props

    def update(self, conn: Connection, id_: str, olds: Perms, news: Perms) -> Perms:
        self._apply(conn, news, olds, adopt=False)
        return news

    def delete(self, conn: Connection, id_: str, props: Perms) -> None:
        self._apply(conn, Perms(model=props.model, workspace=props.workspace), props, adopt=False)

    def read(self, conn: Connection, id_: str, props: Perms | None) -> Perms | None:
        workspace, _, model = id_.rpartition("/")  # model names cannot contain '/'
        workspace = workspace or DEFAULT_WORKSPACE
        snap = snapshot(conn.tracking_uri)
        users = _user_grants(snap, workspace, model)
        roles = _role_grants(snap, workspace, model)
        if props is not None:  # refresh: the declared principals only
            users = {u: lvl for u, lvl in users.items() if u in props.users}
            roles = {r: lvl for r, lvl in roles.items() if r in props.roles}
        else:  # import: every grant on the model, but the deployer's own, which is never managed
            users.pop(caller_username() or "", None)
            if not users and not roles:
                return None
        return Perms(model=model, users=users, roles=roles, workspace=workspace)

    # -- applying a change ---------------------------------------------------------------------
    def _apply(self, conn: Connection, news: Perms, olds: Perms, *, adopt: bool) -> None:
        uri, model, ws = conn.tracking_uri, news.model, news.workspace
        me = caller_username()
        try:
            for user in sorted(set(olds.users) - set(news.users)):
                if user == me:
                    continue  # never revoke the identity applying the stack: it would lock itself out
                try:
                    auth_client(uri).revoke_user_permission(user, RESOURCE_TYPE, model)
                except Exception as exc:
                    if not is_not_found(exc):
                        raise
            for role in sorted(set(olds.roles) - set(news.roles)):
                self._remove_role_grant(uri, ws, role, model)
            for user, level in sorted(news.users.items()):
                if olds.users.get(user) == level and not adopt:
                    continue
                if user == me:
                    self._guard_self(uri, user, model, level)
                self._set_user_level(uri, user, model, ws, level, fresh_grant=user not in olds.users)
            for role, level in sorted(news.roles.items()):
                if olds.roles.get(role) != level or adopt:
                    self._set_role_level(uri, ws, role, model, level)
        finally:
            forget_snapshot(uri)

    @staticmethod
    def _guard_self(uri: str, user: str, model: str, level: str) -> None:
        if level == "MANAGE" or auth_client(uri).current_user().get("is_admin"):
            return  # an admin keeps full access whatever its grants say
        raise ProviderError(
            f"refusing to set {user!r}'s permission on {model!r} to {level}: {user!r} is the identity "
            "applying this stack and would lose MANAGE on the model. Keep it at MANAGE, or apply the stack "
            "as an admin.",
            f"users.{user}",
        )

    @staticmethod
    def _set_user_level(uri: str, user: str, model: str, ws: str, level: str, *, fresh_grant: bool) -> None:
        client = auth_client(uri)
        if fresh_grant:
            try:
                client.grant_user_permission(user, RESOURCE_TYPE, model, level)
                return
            except Exception as exc:
                if is_not_found(exc):
                    raise missing_user(uri, user, f"users.{user}") from exc
                if not is_already_exists(exc):
                    raise
                # Adopt: the user already holds a grant here (a model's creator gets MANAGE).
        info = snapshot(uri, fresh=True).users.get(user)
        if info is None:
            raise missing_user(uri, user, f"users.{user}")
        current = info.grants.get((ws, RESOURCE_TYPE, model))
        if current is not None and current.permission == level:
            return
        if current is not None:
            # Revoke first: between the two calls the user holds nothing, never the union of both levels.
            try:
                client.revoke_user_permission(user, RESOURCE_TYPE, model)
            except Exception as exc:
                if not is_not_found(exc):
                    raise
        client.grant_user_permission(user, RESOURCE_TYPE, model, level)

    @staticmethod
    def _set_role_level(uri: str, ws: str, name: str, model: str, level: str) -> None:
        role = directory(uri).roles.get((ws, name))
        if role is None:  # created since the directory was read
            forget_snapshot(uri, directory=True)
            role = directory(uri).roles.get((ws, name))
        if role is None:
            raise ProviderError(
                f"MLflow role {name!r} does not exist in workspace {ws!r} on {uri}; declare it "
                "(mrgov:auth:Role)",
                f"roles.{name}",
            )
        client = auth_client(uri)
        try:
            client.add_role_permission(role.id, RESOURCE_TYPE, model, level)
            return
        except Exception as exc:
            if not is_already_exists(exc):
                raise
        current = snapshot(uri, fresh=True).roles[(ws, name)].grants.get((RESOURCE_TYPE, model))
        if current is not None and current.permission != level:
            client.update_role_permission(current.role_permission_id, level)  # one atomic change

    @staticmethod
    def _remove_role_grant(uri: str, ws: str, name: str, model: str) -> None:
        # The directory's grant ids serve a whole destroy; a stale id answers 404 and we look again.
        for snap in (directory(uri), snapshot(uri, fresh=True)):
            role = snap.roles.get((ws, name))
            grant = role.grants.get((RESOURCE_TYPE, model)) if role else None
            if grant is None:
                continue
            try:
                auth_client(uri).remove_role_permission(grant.role_permission_id)
                return
            except Exception as exc:
                if not is_not_found(exc):
                    raise


def _user_grants(snap: AuthSnapshot, ws: str, model: str) -> dict[str, str]:
    found: dict[str, Grant] = {
        name: g for name, u in snap.users.items() if (g := u.grants.get((ws, RESOURCE_TYPE, model)))
    }
    return {name: g.permission for name, g in sorted(found.items())}


def _role_grants(snap: AuthSnapshot, ws: str, model: str) -> dict[str, str]:
    found = {
        name: g
        for (w, name), r in snap.roles.items()
        if w == ws and (g := r.grants.get((RESOURCE_TYPE, model)))
    }
    return {name: g.permission for name, g in sorted(found.items())}

"""Role: an MLflow role (what a Unity Catalog group becomes on an MLflow server), with its members.

Create adopts a role of that name that exists. Members, when declared, are authoritative: members
not listed are removed, removals first, so nobody holds the role's grants longer than declared.
Left out (null), membership is managed elsewhere (as a group's is in an identity provider).
"""

from __future__ import annotations

from dataclasses import dataclass

from provider.auth.snapshot import (
    DEFAULT_WORKSPACE,
    SYNTHETIC_ROLE,
    RoleInfo,
    directory,
    forget_snapshot,
    missing_user,
    snapshot,
)
from provider.config import Connection
from provider.declare import Props, arg
from provider.registry.client import auth_client, is_already_exists, is_not_found
from provider.resource import Failures, ProviderError, Resource


@dataclass(frozen=True)
class RoleProps(Props):
    TOKEN = "mrgov:auth:Role"
    DESCRIPTION = (
        "An MLflow role of the basic-auth app, and optionally its members. Roles hold the grants of "
        "groups (`ModelPermissions.roles`)."
    )
    ID = "`<workspace>/<role name>`, for example `default/ml_engineers`"

    name: str = arg("The role's name.", replace=True)
    description: str = arg("What the role is for.", default="")
    members: list[str] | None = arg(
        "Usernames, authoritative: members not listed are removed. Left out, membership is not managed.",
        default=None,
    )
    workspace: str = arg(
        "The MLflow workspace of the role (`default` unless the server runs with workspaces).",
        default=DEFAULT_WORKSPACE,
        replace=True,
    )

    def __post_init__(self) -> None:
        # Members are a set: one order from `check` on, as reads report them, so a reordering never diffs.
        if isinstance(self.members, list) and all(isinstance(m, str) for m in self.members):
            object.__setattr__(self, "members", sorted(set(self.members)))


def role_id(workspace: str, name: str) -> str:
    return f"{workspace}/{name}"


class Role(Resource[RoleProps]):
    PROPS = RoleProps
    DELETE_BEFORE_REPLACE = True

    def check(self, conn: Connection, news: RoleProps, olds: RoleProps | None) -> Failures:
        if conn.uc:
            return [("name", "Unity Catalog groups live in the workspace's identity provider, not here")]
        if not news.name.strip() or news.name.startswith("__user_") or SYNTHETIC_ROLE.match(news.name):
            return [("name", f"role name {news.name!r} is empty or uses MLflow's reserved '__user_' prefix")]
        if news.members is not None and not all(m.strip() for m in news.members):
            return [("members", f"must be a list of usernames, got {news.members!r}")]
        return []

    def create(self, conn: Connection, props: RoleProps) -> tuple[str, RoleProps]:
        uri, ws = conn.tracking_uri, props.workspace
        client = auth_client(uri)
        self._require_users(uri, props.members)  # before anything is created
        try:
            try:
                created = client.create_role(ws, props.name, props.description or None)
                role = RoleInfo(int(created["id"]), ws, props.name, created.get("description") or "", {})
            except Exception as exc:
                if not is_already_exists(exc):
                    raise
                role = snapshot(uri, fresh=True).roles[(ws, props.name)]  # adopt it
                if role.description != props.description:
                    client.update_role(role.id, description=props.description)
            self._set_members(uri, role, props.members)
        finally:
            forget_snapshot(uri, directory=True)
        return role_id(ws, props.name), props

    def read(self, conn: Connection, id_: str, props: RoleProps | None) -> RoleProps | None:
        ws, _, name = id_.partition("/")
        snap = snapshot(conn.tracking_uri)
        role = snap.roles.get((ws, name))
        if role is None:
            return None
        managed = props is None or props.members is not None  # import reads the members too
        return RoleProps(name, role.description, snap.members(role) if managed else None, ws)

    def update(self, conn: Connection, id_: str, olds: RoleProps, news: RoleProps) -> RoleProps:
        uri = conn.tracking_uri
        try:
            role = snapshot(uri, fresh=True).roles.get((news.workspace, news.name))
            if role is None:
                raise ProviderError(f"MLflow role {news.name!r} vanished from {uri}; run `pulumi refresh`")
            if role.description != news.description:
                auth_client(uri).update_role(role.id, description=news.description)
            self._set_members(uri, role, news.members)
        finally:
            forget_snapshot(uri, directory=True)
        return news

    def delete(self, conn: Connection, id_: str, props: RoleProps) -> None:
        uri = conn.tracking_uri
        try:
            role = snapshot(uri, fresh=True).roles.get((props.workspace, props.name))
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
            raise missing_user(uri, missing[0], "members")

    @classmethod
    def _set_members(cls, uri: str, role: RoleInfo, members: list[str] | None) -> None:
        if members is None:
            return
        cls._require_users(uri, members)
        current = set(snapshot(uri).members(role))
        wanted = set(members)
        client = auth_client(uri)
        # Removals first: nobody holds the role's grants longer than the declaration says.
        for user in sorted(current - wanted):
            client.unassign_role(user, role.id)
        for user in sorted(wanted - current):
            client.assign_role(user, role.id)

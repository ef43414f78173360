"""One snapshot of an MLflow server's users, roles and grants (the basic-auth app of MLflow 3.17).

Reads use one snapshot per server (all users with their roles and direct grants, and all roles: two
requests), cached briefly in the provider process, so refreshing any number of grants costs two
requests. Listing users and roles needs an admin, as do role changes.

MLflow 3.17 keeps a user's direct grants on a hidden per-user role named `__user_<id>__`
(mlflow/server/auth/sqlalchemy_store.py); the snapshot files them under the user.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from provider.registry.client import auth_client
from provider.registry.state import CACHE
from provider.resource import ProviderError

DEFAULT_WORKSPACE = "default"
RESOURCE_TYPE = "registered_model"
SYNTHETIC_ROLE = re.compile(r"^__user_\d+__$")


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
                if SYNTHETIC_ROLE.match(r.get("name", "")):
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
            if not SYNTHETIC_ROLE.match(r["name"])
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


def missing_user(tracking_uri: str, username: str, prop: str) -> ProviderError:
    return ProviderError(
        f"MLflow user {username!r} does not exist on {tracking_uri}; users are not created by this stack "
        "(an admin creates them, for example with mlflow.server.get_app_client('basic-auth').create_user)",
        prop,
    )

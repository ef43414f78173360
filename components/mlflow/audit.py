"""Read an MLflow target's registry for the audit (`make audit`), into a RegistrySnapshot.

MLflow's registry client for models and versions (one version search per model, which carries
descriptions, tags, runs and sources), each version's MLmodel file for its signature and input example,
the basic-auth app's users and roles for the grants (provider/auth/snapshot.py: two requests, admin
only), and the run of each version an alias points at for its logged datasets.

MLflow has no CREATE MODEL privilege (any signed-in user may create a model), so the model creators'
EDIT or MANAGE on the model stands in, and the evidence says so; USE MODEL is READ or more
(provider/auth/levels.py maps EXECUTE to READ).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from components.audit.readers import read_model, reason
from components.audit.snapshot import Access, Holding, RegistrySnapshot, TargetTerms, Wanted
from components.mlflow.reach import mlflow_target
from components.spec import StackSpec
from provider.auth.levels import LEVELS
from provider.auth.snapshot import DEFAULT_WORKSPACE, RESOURCE_TYPE, AuthSnapshot, snapshot
from provider.registry.client import preload_mlflow, registry_client

TERMS = TargetTerms(
    create_model=Wanted(
        frozenset({"EDIT", "MANAGE"}),
        "EDIT or MANAGE",
        "MLflow has no CREATE MODEL privilege, any signed-in user may create a model: the model "
        "creators' EDIT or MANAGE on the model stands in",
    ),
    use_model=Wanted(frozenset(LEVELS), "READ or more", "USE MODEL is READ or more on MLflow"),
)


def mlflow_access(auth: AuthSnapshot, model: str, workspace: str = DEFAULT_WORKSPACE) -> Access:
    """Each role's and user's effective level on `model`: its own grant, a `*` grant, a role's."""

    def level_of(grants: dict[tuple[str, str], Any]) -> tuple[str, str] | None:
        for pattern in (model, "*"):
            grant = grants.get((RESOURCE_TYPE, pattern))
            if grant is not None:
                return grant.permission, pattern
        return None

    holdings: dict[str, Holding] = {}
    by_id = {r.id: r for r in auth.roles.values()}
    for (ws, name), role in sorted(auth.roles.items()):
        if ws == workspace and (found := level_of(role.grants)) is not None:
            level, pattern = found
            holdings[name] = Holding(
                name, (level,), f"role {name}" + (" (grant on *)" if pattern == "*" else "")
            )
    for username, user in sorted(auth.users.items()):
        levels: list[tuple[str, str]] = []
        direct = {(t, p): g for (ws, t, p), g in user.grants.items() if ws == workspace}
        if (found := level_of(direct)) is not None:
            levels.append((found[0], "a direct grant"))
        for role_id in sorted(user.role_ids):
            member_of = by_id.get(role_id)
            if member_of is None or member_of.workspace != workspace:
                continue
            if (found := level_of(member_of.grants)) is not None:
                levels.append((found[0], f"role {member_of.name}"))
        if user.is_admin:
            levels.append(("MANAGE", "admin"))
        if not levels:
            continue
        if any(level == "DENY" for level, _ in levels):
            holdings[username] = Holding(username, ("DENY",), "a DENY grant")
            continue
        level, via = max(levels, key=lambda lv: LEVELS.index(lv[0]) if lv[0] in LEVELS else -1)
        holdings[username] = Holding(username, (level,), via)
    return Access(f"model {model}", holdings)


def read_mlflow(spec: StackSpec, tracking_uri: str | None = None) -> RegistrySnapshot:
    """The stack's models on its MLflow server (credentials from MLflow's environment variables)."""
    target = mlflow_target(spec)
    uri = (tracking_uri or target.tracking_uri).rstrip("/")
    preload_mlflow()
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    client = registry_client(uri)
    tracking = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        auth: AuthSnapshot | None = snapshot(uri, fresh=True)
        auth_error = ""
    except Exception as exc:  # noqa: BLE001 - the permission items fail with the reason
        auth, auth_error = None, f"listing MLflow's users and roles needs an admin: {reason(exc)}"

    def download(name: str, version: str, tmp: str) -> str:
        source = str(client.get_model_version_download_uri(name, version)).rstrip("/")
        path = download_artifacts(artifact_uri=f"{source}/MLmodel", dst_path=tmp, tracking_uri=uri)
        return str(path)

    models = []
    for model in spec.models:
        held = read_model(client, tracking, model.full_name, full_versions=False, download=download)
        access = (
            mlflow_access(auth, model.full_name)
            if auth
            else Access(f"model {model.full_name}", error=auth_error)
        )
        models.append(replace(held, create_access=access, use_access=access))
    return RegistrySnapshot("mlflow", uri, tuple(models), TERMS)

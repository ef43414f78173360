"""Read a stack's registry for the audit: an MLflow tracking server, or Unity Catalog.

Both readers fill the same `RegistrySnapshot` with the registry's own clients, read-only:

- **MLflow**: MLflow's registry client for models and versions (one version search per model, which
  carries descriptions, tags, runs and sources), each version's MLmodel file for its signature and
  input example, the basic-auth app's users and roles for the grants (provider/auth/snapshot.py: two
  requests, admin only), and the run of each version an alias points at for its logged datasets.
- **Unity Catalog**: MLflow's `databricks-uc` registry (a version search, then each version's GET,
  since the search answers fewer fields), each version's MLmodel through MLflow's own Unity Catalog
  artifact repository (temporary credentials, then the storage the workspace uses:
  mlflow/store/artifact/unity_catalog_models_artifact_repo.py), the runs on the `databricks` tracking
  server, and the Databricks SDK's effective grants (`grants.get_effective`, inherited grants included)
  on the model's schema and on the model, whose securable type is `function`
  (terraform-provider-databricks catalog/permissions/permissions.go maps `model` to it).

A read that fails is kept as its reason on what it was for, so one unreadable file or a missing
admin right fails the items that needed it, with that reason, and the rest of the audit goes on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from components.audit.snapshot import (
    Access,
    Column,
    Dataset,
    Holding,
    LoggedModel,
    ModelSnapshot,
    RegistrySnapshot,
    RunInfo,
    VersionSnapshot,
)
from components.spec import DatabricksTarget, MlflowTarget, StackSpec
from provider.auth.levels import LEVELS
from provider.auth.snapshot import DEFAULT_WORKSPACE, RESOURCE_TYPE, AuthSnapshot, snapshot
from provider.limits import version_uri
from provider.registry.client import is_not_found, preload_mlflow, registry_client, tracking_uri_for

DATASET_CONTEXT_TAG = "mlflow.data.context"  # mlflow/utils/mlflow_tags.py: MLFLOW_DATASET_CONTEXT
UC_MODEL_SECURABLE = "function"


def reason(exc: BaseException) -> str:
    """One line saying why a read failed: MLflow's message, else the exception's text."""
    text = str(getattr(exc, "message", None) or exc or type(exc).__name__)
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:299] + "…"


# --------------------------------------------------------------------------------------------------
# What every target reads the same way
# --------------------------------------------------------------------------------------------------
def _columns(schema: Any) -> tuple[Column, ...] | None:
    specs = list(getattr(schema, "inputs", None) or []) if schema is not None else []
    if not specs:
        return None
    out = []
    for spec in specs:
        d = spec.to_dict()
        out.append(Column(str(d.get("name") or "-"), str(d.get("type") or "?")))
    return tuple(out)


def logged_model(path: str) -> LoggedModel:
    """Signature and input example of a downloaded MLmodel file."""
    from mlflow.models import Model

    model = Model.load(path)
    signature = model.signature
    info = model.saved_input_example_info or {}
    return LoggedModel(
        inputs=_columns(signature.inputs) if signature is not None else None,
        outputs=_columns(signature.outputs) if signature is not None else None,
        input_example=str(info["artifact_path"]) if info.get("artifact_path") else None,
        example_type=str(info.get("type") or ""),
    )


def _mlmodel(download: Callable[[str], str]) -> tuple[LoggedModel | None, str]:
    with tempfile.TemporaryDirectory(prefix="mrgov-audit-") as tmp:
        try:
            return logged_model(download(tmp)), ""
        except Exception as exc:  # noqa: BLE001 - whatever stops the read is the item's evidence
            return None, reason(exc)


def run_info(tracking: Any, run_id: str) -> RunInfo:
    """The run's logged input datasets (MLflow run inputs)."""
    try:
        run = tracking.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - reported in the lineage section
        return RunInfo(run_id, error=f"the run could not be read: {reason(exc)}")
    found = []
    for item in getattr(run.inputs, "dataset_inputs", None) or []:
        d = item.dataset
        tags = {t.key: t.value for t in item.tags or []}
        found.append(
            Dataset(d.name, d.digest, d.source_type, str(d.source), tags.get(DATASET_CONTEXT_TAG, ""))
        )
    return RunInfo(run_id, tuple(found))


def _versions(client: Any, name: str) -> Iterator[Any]:
    token = None
    while True:
        page = client.search_model_versions(f"name='{name}'", max_results=200, page_token=token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def _version(entity: Any) -> VersionSnapshot:
    tags = getattr(entity, "tags", None)
    return VersionSnapshot(
        version=str(entity.version),
        status=str(entity.status or ""),
        description=entity.description or "",
        created_ms=int(getattr(entity, "creation_timestamp", None) or 0),
        run_id=str(getattr(entity, "run_id", None) or ""),
        source=str(entity.source or ""),
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
    )


def _read_model(
    client: Any,
    tracking: Any,
    name: str,
    *,
    full_versions: bool,
    download: Callable[[str, str, str], str],
) -> ModelSnapshot:
    """The model, its versions with their MLmodel files, and the runs of the pinned versions."""
    try:
        model = client.get_registered_model(name)
    except Exception as exc:  # noqa: BLE001 - gone is an answer; anything else fails the model's items
        if is_not_found(exc):
            return ModelSnapshot(name, exists=False)
        return ModelSnapshot(name, exists=True, error=f"the model could not be read: {reason(exc)}")
    aliases = {str(a): str(v) for a, v in (model.aliases or {}).items()}
    try:
        found = list(_versions(client, name))
        if full_versions:  # Unity Catalog's search answers without descriptions and tags
            found = [client.get_model_version(name, str(v.version)) for v in found]
    except Exception as exc:  # noqa: BLE001 - the model's items fail with the reason
        return ModelSnapshot(
            name, exists=True, error=f"the model's versions could not be read: {reason(exc)}"
        )
    versions = []
    for entity in sorted(found, key=lambda v: int(v.version)):
        v = _version(entity)
        logged, why = _mlmodel(functools.partial(download, name, v.version))
        run = run_info(tracking, v.run_id) if v.run_id and v.version in aliases.values() else None
        versions.append(replace(v, logged=logged, logged_error=why, run=run))
    return ModelSnapshot(
        name,
        exists=True,
        description=model.description or "",
        tags={str(k): str(v) for k, v in (model.tags or {}).items()},
        aliases=aliases,
        versions=tuple(versions),
    )


# --------------------------------------------------------------------------------------------------
# MLflow
# --------------------------------------------------------------------------------------------------
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
    target = spec.target
    assert isinstance(target, MlflowTarget)
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
        held = _read_model(client, tracking, model.full_name, full_versions=False, download=download)
        access = (
            mlflow_access(auth, model.full_name)
            if auth
            else Access(f"model {model.full_name}", error=auth_error)
        )
        models.append(replace(held, create_access=access, use_access=access))
    return RegistrySnapshot("mlflow", uri, tuple(models))


# --------------------------------------------------------------------------------------------------
# Unity Catalog
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _default_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's default tracking URI is `uri` meanwhile (unless the process set one explicitly).

    MLflow's Unity Catalog artifact repository makes an `MlflowClient` with the default tracking URI,
    which is a `mlflow.db` sqlite file in the current folder when nothing says otherwise.
    """
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = before or uri
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)


def uc_access(workspace: Any, securable_type: str, full_name: str) -> Access:
    """Effective grants on one securable (inherited ones included), by principal."""
    label = f"{'model' if securable_type == UC_MODEL_SECURABLE else securable_type} {full_name}"
    try:
        found = workspace.grants.get_effective(securable_type, full_name)
    except Exception as exc:  # noqa: BLE001 - the permission items fail with the reason
        return Access(label, error=reason(exc))
    holdings: dict[str, Holding] = {}
    for assignment in found.privilege_assignments or []:
        privileges, inherited = [], set()
        for p in assignment.privileges or []:
            name = getattr(p.privilege, "value", p.privilege)
            privileges.append(str(name))
            if p.inherited_from_name:
                kind = getattr(p.inherited_from_type, "value", p.inherited_from_type)
                inherited.add(f"{str(kind).lower()} {p.inherited_from_name}")
        via = f"inherited from {', '.join(sorted(inherited))}" if inherited else ""
        holdings[assignment.principal] = Holding(assignment.principal, tuple(sorted(set(privileges))), via)
    return Access(label, holdings)


def read_uc(spec: StackSpec, workspace: Any | None = None) -> RegistrySnapshot:
    """The stack's models on Unity Catalog (credentials: Databricks' environment or the profile)."""
    target = spec.target
    assert isinstance(target, DatabricksTarget)
    from components.databricks.registry import registry_uri_for  # imports pulumi_databricks: only here

    registry_uri = registry_uri_for(target)
    preload_mlflow()
    from mlflow import MlflowClient
    from mlflow.store.artifact.unity_catalog_models_artifact_repo import UnityCatalogModelsArtifactRepository

    if workspace is None:
        from databricks.sdk import WorkspaceClient

        workspace = WorkspaceClient(host=target.host, profile=target.profile)
    client = registry_client(registry_uri)
    tracking_uri = tracking_uri_for(registry_uri)
    tracking = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)

    def download(name: str, version: str, tmp: str) -> str:
        with _default_tracking_uri(tracking_uri):
            return _download_uc(name, version, tmp)

    def _download_uc(name: str, version: str, tmp: str) -> str:
        repo = UnityCatalogModelsArtifactRepository(  # type: ignore[abstract]  # concrete at runtime
            version_uri(name, version), registry_uri=registry_uri, tracking_uri=tracking_uri
        )
        return str(repo.download_artifacts("MLmodel", tmp))  # type: ignore[no-untyped-call]

    schema_access: dict[str, Access] = {}
    models = []
    for model in spec.models:
        held = _read_model(client, tracking, model.full_name, full_versions=True, download=download)
        schema = f"{spec.catalog.name}.{model.schema_name}"
        if schema not in schema_access:
            schema_access[schema] = uc_access(workspace, "schema", schema)
        use = uc_access(workspace, UC_MODEL_SECURABLE, model.full_name) if held.exists else None
        models.append(replace(held, create_access=schema_access[schema], use_access=use))
    host = f"profile {target.profile}" if target.profile else target.host or "host from DATABRICKS_HOST"
    return RegistrySnapshot("databricks", f"{registry_uri} ({host})", tuple(models))

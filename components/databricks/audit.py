"""Read a Unity Catalog target's registry for the audit (`make audit`), into a RegistrySnapshot.

MLflow's `databricks-uc` registry (a version search, then each version's GET, since the search answers
fewer fields), each version's MLmodel through MLflow's own Unity Catalog artifact repository (temporary
credentials, then the storage the workspace uses:
mlflow/store/artifact/unity_catalog_models_artifact_repo.py), the runs on the `databricks` tracking
server, and the Databricks SDK's effective grants (`grants.get_effective`, inherited grants included) on
the model's schema and on the model, whose securable type is `function`
(terraform-provider-databricks catalog/permissions/permissions.go maps `model` to it).

CREATE MODEL is a schema privilege; USE MODEL is `EXECUTE` on the model (there is no USE_MODEL
privilege). Unity Catalog refuses to register a version whose signature lacks inputs or outputs, so a
READY version has one even when its MLmodel file cannot be read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from components.audit.readers import read_model, reason
from components.audit.snapshot import Access, Holding, RegistrySnapshot, TargetTerms, Wanted
from components.databricks.reach import databricks_target
from components.spec import StackSpec
from provider.limits import version_uri
from provider.registry.client import preload_mlflow, registry_client, tracking_uri_for

UC_MODEL_SECURABLE = "function"
TERMS = TargetTerms(
    create_model=Wanted(frozenset({"CREATE_MODEL", "ALL_PRIVILEGES"}), "CREATE_MODEL"),
    use_model=Wanted(
        frozenset({"EXECUTE", "ALL_PRIVILEGES"}), "EXECUTE", "USE MODEL is EXECUTE on Unity Catalog"
    ),
    ready_has_signature="Unity Catalog registers only versions whose signature has inputs and outputs",
)


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
    target = databricks_target(spec)
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
        held = read_model(client, tracking, model.full_name, full_versions=True, download=download)
        schema = f"{spec.catalog.name}.{model.schema_name}"
        if schema not in schema_access:
            schema_access[schema] = uc_access(workspace, "schema", schema)
        use = uc_access(workspace, UC_MODEL_SECURABLE, model.full_name) if held.exists else None
        models.append(replace(held, create_access=schema_access[schema], use_access=use))
    host = f"profile {target.profile}" if target.profile else target.host or "host from DATABRICKS_HOST"
    return RegistrySnapshot("databricks", f"{registry_uri} ({host})", tuple(models), TERMS)

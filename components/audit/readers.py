"""Read a stack's registry for the audit: what every target's reader does the same way.

Each target reads its registry with its own clients, read-only, into the same `RegistrySnapshot`
(components/mlflow/audit.py, components/databricks/audit.py); the target contract's `read_registry`
(components/target.py) calls it. What they share is here: a model and its versions through MLflow's
registry client, a version's MLmodel file for its signature and input example, and the run of each
version an alias points at for its logged datasets.

A read that fails is kept as its reason on what it was for, so one unreadable file or a missing
admin right fails the items that needed it, with that reason, and the rest of the audit goes on.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from components.audit.snapshot import (
    Column,
    Dataset,
    LoggedModel,
    ModelSnapshot,
    RunInfo,
    VersionSnapshot,
)
from provider.registry.client import is_not_found

DATASET_CONTEXT_TAG = "mlflow.data.context"  # mlflow/utils/mlflow_tags.py: MLFLOW_DATASET_CONTEXT


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


def read_model(
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

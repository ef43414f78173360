"""The one table of targets: adding a target is its folder under components/ plus an entry here."""

from __future__ import annotations

from collections.abc import Mapping

from components.databricks.target import DatabricksTargetImpl
from components.mlflow.target import MlflowTargetImpl
from components.target import Target

TARGETS: Mapping[str, Target] = {
    "mlflow": MlflowTargetImpl(),
    "databricks": DatabricksTargetImpl(),
}


def target_for(kind: str) -> Target:
    """The target of a stack's `target.kind`; ValueError naming the kinds there are otherwise."""
    try:
        return TARGETS[kind]
    except KeyError:
        raise ValueError(unknown_kind_message(kind)) from None


def unknown_kind_message(kind: object) -> str:
    """What to say when a stack names a target kind there is none of."""
    return f"unknown kind {kind!r}; allowed: {', '.join(repr(k) for k in TARGETS)}"

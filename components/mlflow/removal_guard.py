"""Refuse, before anything changes, to drop a model that still has versions from an MLflow stack.

A registered model's metadata and permissions are its child resources, so when a model leaves the
config Pulumi deletes those children first and reaches the model last. The
model's provider refuses to delete a model with versions, but by then its children are gone and the
state has changed. This guard runs in the program instead, before any resource is registered: it
reads the stack's previous state through the engine's built-in `readStackResourceOutputs`, finds the
models that are about to leave the stack without `retainOnDelete`, asks the server whether they hold
versions, and fails `preview` and `up` with one message that says what to do. Nothing is touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi

from provider.registry.client import is_not_found, registry_client
from provider.registry.registered_model import RegisteredModelProps

MODEL_TYPE = RegisteredModelProps.TOKEN
READ_STATE = "pulumi:pulumi:readStackResourceOutputs"


class ModelRemovalError(pulumi.RunError):
    """Dropping these models would delete their versions; the message lists them and the fixes."""


def previous_models(resource_outputs: Mapping[str, Any]) -> dict[str, bool]:
    """{model full name: retain_on_delete} of the RegisteredModel resources in a state's outputs."""
    found: dict[str, bool] = {}
    for urn, resource in resource_outputs.items():
        if not urn.split("::")[-2].endswith(MODEL_TYPE):
            continue
        outputs = (resource or {}).get("outputs") or {}
        if isinstance(outputs.get("name"), str):
            found[outputs["name"]] = bool(outputs.get("retainOnDelete"))
    return found


def models_at_risk(previous: Mapping[str, bool], declared: Iterable[str]) -> list[str]:
    """Models in the previous state that leave the stack and would be deleted (not retained)."""
    keep = set(declared)
    return sorted(name for name, retained in previous.items() if name not in keep and not retained)


def read_previous_models() -> dict[str, bool]:
    """The current stack's models before this run, from the engine's view of the last checkpoint."""
    fqn = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    try:
        result = pulumi.runtime.invoke(READ_STATE, {"stackName": fqn})
    except Exception:  # noqa: BLE001 - a new stack has no checkpoint to read: nothing can be at risk
        return {}
    outputs = (result.value or {}).get("outputs") if result is not None else None
    return previous_models(outputs or {})


def check_removals(stack: str, registry_uri: str, declared: Iterable[str]) -> None:
    """Raise ModelRemovalError if a model leaving the stack still holds versions on the server."""
    at_risk = models_at_risk(read_previous_models(), declared)
    if not at_risk:
        return
    client = registry_client(registry_uri)
    blocked: list[str] = []
    for name in at_risk:
        try:
            versions = client.search_model_versions(f"name='{name}'", max_results=1)
        except Exception as exc:
            if is_not_found(exc):
                continue
            raise
        if versions:
            blocked.append(name)
    if blocked:
        names = ", ".join(blocked)
        raise ModelRemovalError(
            f"stack {stack!r} (Pulumi.{stack}.yaml): refusing to drop {names} from the stack: the "
            "registry still holds versions of it, and deleting a registered model deletes its versions. "
            "Nothing was changed. To stop managing it but keep it in the registry, set "
            "`retainOnDelete: true` on the model and run `pulumi up` once before removing it; to delete "
            "it, delete its versions first."
        )

"""Databricks Unity Catalog as a target (components/targets.py): the registry, and the models it adopts."""

from __future__ import annotations

import pulumi

from components.databricks.registry import DatabricksRegistry, DatabricksRegistryArgs
from components.spec import StackSpec
from components.target import RegistryOutputs, TargetArgs


class DatabricksTargetImpl:
    """`target.kind: databricks`."""

    kind = "databricks"

    def before_registering(self, spec: StackSpec) -> None:
        """No check here: the removal guard is the MLflow target's (components/mlflow/removal_guard.py)."""

    def registry(self, name: str, args: TargetArgs, opts: pulumi.ResourceOptions) -> RegistryOutputs:
        """A DatabricksRegistry (`{name}-databricks`); models with `adopt: true` are imported."""
        adopt = frozenset(m.name for m in args.spec.models if m.adopt)
        registry = DatabricksRegistry(
            f"{name}-databricks", DatabricksRegistryArgs(spec=args.spec, adopt_models=adopt), opts
        )
        return RegistryOutputs(
            model_names=registry.model_names,
            alias_uris=registry.alias_uris,
            grants=registry.grants,
            unmanaged_aliases=registry.unmanaged_aliases,
            # Databricks adopts by import (`adopt: true` per model), which the preview shows.
            adopted_models=pulumi.Output.from_input(sorted(adopt)),
            latest_versions=registry.latest_versions,
            lineage=registry.lineage,
        )

"""Databricks Unity Catalog as a target (components/targets.py): the registry, the models it adopts, and
what the commands need (credentials, the provider plugin, the audit's reader).

Its registry and the audit's reader are imported where they are used: they import pulumi_databricks,
which the commands that look targets up in the table do not need.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING

import pulumi

from components.databricks.reach import databricks_credentials_problem, databricks_problem, databricks_target
from components.spec import StackSpec
from components.target import HasPlugin, LocalSecrets, RegistryOutputs, TargetArgs

if TYPE_CHECKING:
    from components.audit.snapshot import RegistrySnapshot

# The Pulumi plugin of pulumi_databricks, which the registry's catalog, schemas and models need.
PLUGIN = "databricks"


class DatabricksTargetImpl:
    """`target.kind: databricks`."""

    kind = "databricks"
    tracking_uri_key = None  # Unity Catalog is not a tracking server one points a new environment at

    def before_registering(self, spec: StackSpec) -> None:
        """No check here: the removal guard is the MLflow target's (components/mlflow/removal_guard.py)."""

    def registry(self, name: str, args: TargetArgs, opts: pulumi.ResourceOptions) -> RegistryOutputs:
        """A DatabricksRegistry (`{name}-databricks`); models with `adopt: true` are imported."""
        from components.databricks.registry import DatabricksRegistry, DatabricksRegistryArgs

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

    def label(self, spec: StackSpec) -> str:
        """`databricks (<profile, host, or "host from env">)`."""
        target = databricks_target(spec)
        where = f"profile {target.profile}" if target.profile else target.host or "host from env"
        return f"databricks ({where})"

    def preview_problem(self, spec: StackSpec, env: Mapping[str, str], has_plugin: HasPlugin) -> str | None:
        """Credentials the Databricks SDK finds, and the Databricks provider plugin installed."""
        problem = databricks_credentials_problem(databricks_target(spec), env)
        if problem is None and has_plugin is not None and not has_plugin(PLUGIN):
            problem = (
                "the Databricks provider plugin (pulumi-resource-databricks) is not installed, and automatic "
                "plugin downloads are off; install it with `pulumi plugin install resource databricks`"
            )
        return problem

    def audit_problem(
        self, spec: StackSpec, env: MutableMapping[str, str], local_secrets: LocalSecrets
    ) -> str | None:
        """Credentials the Databricks SDK finds; the target's host for MLflow's `databricks-uc`."""
        target = databricks_target(spec)
        if problem := databricks_problem(target, env):
            return problem
        if target.host and not env.get("DATABRICKS_HOST") and not target.profile:
            env["DATABRICKS_HOST"] = target.host  # MLflow's databricks-uc reads the environment
        return None

    def read_registry(self, spec: StackSpec) -> RegistrySnapshot:
        """components/databricks/audit.py's reader."""
        from components.databricks.audit import read_uc

        return read_uc(spec)

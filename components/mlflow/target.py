"""The MLflow tracking server as a target (components/targets.py): removal guard, registry, grants, and
what the commands need (reachability, credentials, the audit's reader).

Its registry and the audit's reader are imported where they are used: the commands look targets up in
the table too, and need neither.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING

import pulumi

from components.mlflow.reach import mlflow_credentials, mlflow_problem, mlflow_target, registry_problem
from components.spec import StackSpec
from components.target import HasPlugin, LocalSecrets, RegistryOutputs, TargetArgs

if TYPE_CHECKING:
    from components.audit.snapshot import RegistrySnapshot


def mlflow_grants(spec: StackSpec) -> dict[str, dict[str, list[str]]]:
    """{model full name: {MLflow level: [principals]}}: who holds what on an MLflow target."""
    from components.mlflow.registry import model_grants

    out: dict[str, dict[str, list[str]]] = {}
    for model in spec.models:
        by_level: dict[str, list[str]] = {}
        for (_, principal), level in model_grants(model).items():
            by_level.setdefault(level, []).append(principal)
        out[model.full_name] = {level: sorted(p) for level, p in sorted(by_level.items())}
    return out


class MlflowTargetImpl:
    """`target.kind: mlflow`."""

    kind = "mlflow"
    tracking_uri_key = "trackingUri"

    def before_registering(self, spec: StackSpec) -> None:
        """Dropping a model with versions must change nothing: refused before anything registers."""
        from components.mlflow.removal_guard import check_removals

        check_removals(spec.stack, mlflow_target(spec).tracking_uri, [m.full_name for m in spec.models])

    def registry(self, name: str, args: TargetArgs, opts: pulumi.ResourceOptions) -> RegistryOutputs:
        """An MlflowRegistry (`{name}-mlflow`); `grants` are the MLflow levels it applies."""
        from components.mlflow.registry import MlflowRegistry, MlflowRegistryArgs

        spec = args.spec
        registry = MlflowRegistry(
            f"{name}-mlflow",
            MlflowRegistryArgs(
                spec=spec, password=args.mlflow_password, webhook_secrets=args.webhook_secrets
            ),
            opts,
        )
        return RegistryOutputs(
            model_names=registry.model_names,
            alias_uris=registry.alias_uris,
            grants=pulumi.Output.from_input(mlflow_grants(spec)),
            unmanaged_aliases=registry.unmanaged_aliases,
            adopted_models=registry.adopted_models,
            latest_versions=registry.latest_versions,
            lineage=registry.lineage,
        )

    def label(self, spec: StackSpec) -> str:
        """`mlflow <tracking URI>`."""
        return f"mlflow {mlflow_target(spec).tracking_uri}"

    def preview_problem(self, spec: StackSpec, env: Mapping[str, str], has_plugin: HasPlugin) -> str | None:
        """The server must answer; the mrgov provider is the only plugin, and the project builds it."""
        return mlflow_problem(mlflow_target(spec))

    def audit_problem(
        self, spec: StackSpec, env: MutableMapping[str, str], local_secrets: LocalSecrets
    ) -> str | None:
        """Credentials from the environment else the local secrets; the server answers; the registry reads."""
        target = mlflow_target(spec)
        mlflow_credentials(target, env, local_secrets)
        return mlflow_problem(target) or registry_problem(target)

    def read_registry(self, spec: StackSpec) -> RegistrySnapshot:
        """components/mlflow/audit.py's reader."""
        from components.mlflow.audit import read_mlflow

        return read_mlflow(spec)

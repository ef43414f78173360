"""The MLflow tracking server as a target (components/targets.py): removal guard, registry, grants."""

from __future__ import annotations

import pulumi

from components.mlflow.registry import MlflowRegistry, MlflowRegistryArgs, model_grants
from components.mlflow.removal_guard import check_removals
from components.spec import MlflowTarget, StackSpec
from components.target import RegistryOutputs, TargetArgs


def mlflow_grants(spec: StackSpec) -> dict[str, dict[str, list[str]]]:
    """{model full name: {MLflow level: [principals]}}: who holds what on an MLflow target."""
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

    def before_registering(self, spec: StackSpec) -> None:
        """Dropping a model with versions must change nothing: refused before anything registers."""
        assert isinstance(spec.target, MlflowTarget)
        check_removals(spec.stack, spec.target.tracking_uri, [m.full_name for m in spec.models])

    def registry(self, name: str, args: TargetArgs, opts: pulumi.ResourceOptions) -> RegistryOutputs:
        """An MlflowRegistry (`{name}-mlflow`); `grants` are the MLflow levels it applies."""
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

"""Environment: the top component of a stack. It builds the registry on the target its spec names.

The program (`__main__.py`) stays a few lines: load the spec, build an Environment, export its outputs.
Both targets expose the same outputs, so downstream jobs read them the same way through a
StackReference whatever the target:

- `model_names`: {model: "catalog.schema.model"};
- `alias_uris`: {model: {alias: "models:/catalog.schema.model@Alias"}} for each managed alias;
- `grants`: {securable: {privilege: [principals]}} (Databricks) or {model: {level: [principals]}} (MLflow);
- `unmanaged_aliases`: {model: {alias: version}} set by others (a training job's `Challenger`, say) and
  left alone, as last seen by the provider (on create, update or `pulumi refresh`);
- `adopted_models` (MLflow target): the models that existed before the stack created them, adopted
  rather than created (a training pipeline registered them first);
- `latest_versions`: {model: {version, uri}}, each model's latest version and its
  `models:/catalog.schema.model/<version>` URI, in place of the seed's `Latest` alias, which cannot exist
  (components/lineage.py);
- `lineage`: {model: {version: {runId, source}}}, the run and source of each version an alias pins.

The last three are as the provider last saw them (create, update or `pulumi refresh`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import pulumi

from components.mlflow.target import mlflow_grants as mlflow_grants  # re-exported: its old home
from components.spec import StackSpec
from components.target import RegistryOutputs
from components.targets import target_for

TYPE = "mrgov:index:Environment"


@dataclass(frozen=True)
class EnvironmentArgs:
    """Inputs of Environment: the resolved, validated stack spec, and the MLflow password if the stack
    keeps it in its secret config (a Pulumi secret; see spec.mlflow_password)."""

    spec: StackSpec
    mlflow_password: pulumi.Input[str] | None = None
    webhook_secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """The signing secret of each of the stack's webhooks (spec.webhook_secrets), Pulumi secrets."""


def export_outputs(spec: StackSpec, env: Environment) -> None:
    """The stack outputs downstream jobs read through a StackReference (the same on both targets)."""
    pulumi.export("target", spec.target.kind)
    pulumi.export("catalog", spec.catalog.name)
    pulumi.export("models", env.outputs.model_names)
    pulumi.export("aliasUris", env.outputs.alias_uris)
    pulumi.export("grants", env.outputs.grants)
    pulumi.export("unmanagedAliases", env.outputs.unmanaged_aliases)
    pulumi.export("adoptedModels", env.outputs.adopted_models)
    pulumi.export("latestVersions", env.outputs.latest_versions)
    pulumi.export("lineage", env.outputs.lineage)


class Environment(pulumi.ComponentResource):
    """Everything one stack declares, on the target its spec names.

    Child: the target's registry (components/targets.py), `{name}-mlflow` or `{name}-databricks`, whose
    outputs (the same fields on both targets, components/target.py) are the Environment's `outputs`.
    """

    outputs: RegistryOutputs

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        spec = args.spec
        target = target_for(spec.target.kind)
        target.before_registering(spec)
        super().__init__(TYPE, name, None, opts)
        self.outputs = target.registry(name, args, pulumi.ResourceOptions(parent=self))
        self.register_outputs({f.name: getattr(self.outputs, f.name) for f in fields(RegistryOutputs)})

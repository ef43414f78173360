"""DatabricksRegistry: the Databricks target's top component, built from a resolved StackSpec.

It lays out one catalog, its schemas and its registered models, each with its authoritative grants,
and the models' aliases, tags and version descriptions, all from the spec and nothing else. Every
resource is registered while the constructor runs, so a preview shows all that `up` will do.

Outputs, for `pulumi stack output` and StackReference consumers:
- `model_names`: {model: "catalog.schema.model"}
- `alias_uris`: {model: {alias: "models:/catalog.schema.model@Alias"}} for each managed alias
- `grants`: {securable full name: {privilege: [principals]}}, as applied (deployer included)
- `unmanaged_aliases`: {model: {alias: version}} for aliases on the model this stack does not declare
- `latest_versions`: {model: {version, uri}}: the model's latest version and `models:/<model>/<version>`
  (components/lineage.py says why there is no `Latest` alias)
- `lineage`: {model: {version: {runId, source}}} for each pinned version

As on the MLflow target, a model with no managed alias (or no unmanaged one) has no entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_databricks as databricks

from components import lineage
from components.databricks.catalog import Catalog, CatalogArgs
from components.databricks.deployment_job import DeploymentJob, deployment_job
from components.databricks.grants import GrantList, grant_list, holders_by_privilege
from components.databricks.model import RegisteredModel, RegisteredModelArgs
from components.databricks.schema import Schema, SchemaArgs
from components.spec import DatabricksTarget, StackSpec
from provider import sdk
from provider.limits import UC_SCHEME


@dataclass(frozen=True)
class DatabricksRegistryArgs:
    """The resolved spec of a stack whose target is Databricks.

    `adopt_models` names models that exist already (a training pipeline registered them) and are
    imported on the first `up` instead of created; see RegisteredModelArgs.adopt.
    """

    spec: StackSpec
    adopt_models: frozenset[str] = frozenset()


def registry_uri_for(target: DatabricksTarget) -> str:
    """The MLflow registry URI: `databricks-uc`, or `databricks-uc://<profile>` to use a config profile."""
    if target.profile and target.registry_uri == UC_SCHEME:
        return f"{UC_SCHEME}://{target.profile}"
    return target.registry_uri


class DatabricksRegistry(pulumi.ComponentResource):
    """Catalog, schemas, models, grants, aliases, tags and version descriptions of one stack.

    Children (parent=self): `{name}-provider` (the databricks provider, with the target's host or
    profile; the token comes from the environment or the profile, never from the program),
    `{name}-mrgov` (the mrgov provider on the `databricks-uc` registry, likewise),
    `{name}-catalog` (Catalog), `{name}-schema-<schema>` (Schema), `{name}-model-<model>`
    (RegisteredModel), and under a model with a deployment job `{name}-model-<model>-deployment-job`
    (databricks.Job, when the stack owns it) and `...-deployment-job-link` (DeploymentJobLink).
    `protect` from the spec goes on the catalog, each schema and each model.
    """

    catalog: Catalog
    schemas: dict[str, Schema]
    models: dict[str, RegisteredModel]
    deployment_jobs: dict[str, DeploymentJob]
    model_names: pulumi.Output[dict[str, str]]
    alias_uris: pulumi.Output[dict[str, dict[str, str]]]
    grants: pulumi.Output[dict[str, dict[str, list[str]]]]
    unmanaged_aliases: pulumi.Output[dict[str, dict[str, str]]]
    latest_versions: pulumi.Output[dict[str, dict[str, str]]]
    lineage: pulumi.Output[dict[str, dict[str, dict[str, str]]]]

    def __init__(
        self, name: str, args: DatabricksRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mrgov:databricks:DatabricksRegistry", name, None, opts)
        spec = args.spec
        target = spec.target
        if not isinstance(target, DatabricksTarget):
            raise ValueError(
                f"stack {spec.stack!r}: DatabricksRegistry needs mrgov:target.kind databricks, "
                f"got {target.kind!r}"
            )
        unknown = sorted(args.adopt_models - {m.name for m in spec.models})
        if unknown:
            raise ValueError(
                f"stack {spec.stack!r}: adopt_models names models the stack does not declare: {unknown}"
            )
        deployer = spec.deployer.name if spec.deployer else None
        registry_uri = registry_uri_for(target)

        self.provider = databricks.Provider(
            f"{name}-provider",
            host=target.host,
            profile=target.profile,
            opts=pulumi.ResourceOptions(parent=self, protect=False),
        )
        # What pulumi-databricks lacks (aliases, tags, version descriptions) goes through MLflow's
        # `databricks-uc` registry; credentials come from the environment or the profile at call time.
        self.registry = sdk.Provider(
            f"{name}-mrgov",
            sdk.ProviderArgs(registry_uri=registry_uri, host=target.host),
            pulumi.ResourceOptions(parent=self, protect=False),
        )
        # Children of the components below inherit this provider through their parent.
        child = pulumi.ResourceOptions(parent=self, providers={"databricks": self.provider})
        applied: dict[str, GrantList] = {}

        c = spec.catalog
        applied[c.name] = grant_list("catalog", c.name, c.grants, deployer=deployer, owner=c.owner)
        self.catalog = Catalog(
            f"{name}-catalog",
            CatalogArgs(
                catalog_name=c.name,
                comment=c.comment,
                owner=c.owner,
                isolation_mode=c.isolation_mode,
                properties=c.properties,
                adopt=c.adopt,
                grants=applied[c.name],
                protect=spec.protect,
            ),
            child,
        )

        self.schemas = {}
        for s in spec.schemas:
            applied[s.full_name] = grant_list(
                "schema", s.full_name, s.grants, deployer=deployer, owner=s.owner
            )
            self.schemas[s.name] = Schema(
                f"{name}-schema-{s.name}",
                SchemaArgs(
                    catalog_name=c.name,
                    schema_name=s.name,
                    comment=s.comment,
                    owner=s.owner,
                    properties=s.properties,
                    grants=applied[s.full_name],
                    protect=spec.protect,
                ),
                child,
                depends_on=[self.catalog.catalog],
            )

        self.models = {}
        for m in spec.models:
            applied[m.full_name] = grant_list(
                "model", m.full_name, m.grants, deployer=deployer, owner=m.owner
            )
            if m.aliases and deployer and m.owner and m.owner != deployer:
                # Unity Catalog lets only the owner (or a metastore admin) set an alias:
                # https://docs.databricks.com/api/uc-registered-models/v1/set-registered-model-alias
                pulumi.log.warn(
                    f"stack {spec.stack!r}: model {m.name!r} is owned by {m.owner!r}, not the deployer "
                    f"{deployer!r}; setting its aliases fails unless the deployer belongs to that owner"
                )
            schema = self.schemas.get(m.schema_name)
            self.models[m.name] = RegisteredModel(
                f"{name}-model-{m.name}",
                RegisteredModelArgs(
                    m,
                    grants=applied[m.full_name],
                    adopt=m.name in args.adopt_models,
                    protect=spec.protect,
                ),
                child,
                registry=self.registry,
                depends_on=[schema.schema] if schema else [self.catalog.catalog],
            )

        # Each model's deployment job and its link (components/databricks/deployment_job.py).
        self.deployment_jobs = {}
        for m in spec.models:
            found = deployment_job(
                f"{name}-model-{m.name}", self.models[m.name].model, self.registry, m, stack=spec.stack
            )
            if found is not None:
                self.deployment_jobs[m.name] = found

        self.model_names = pulumi.Output.from_input({m.name: m.full_name for m in spec.models})
        # Same shape as the MLflow target's outputs: models without entries are left out.
        self.alias_uris = pulumi.Output.all(**{k: m.alias_uris for k, m in self.models.items()}).apply(
            _non_empty
        )
        self.grants = pulumi.Output.from_input(
            {k: holders_by_privilege(v) for k, v in sorted(applied.items())}
        )
        self.unmanaged_aliases = pulumi.Output.all(
            **{k: m.unmanaged_aliases for k, m in self.models.items()}
        ).apply(_non_empty)
        self.latest_versions = lineage.by_model({k: m.latest_version for k, m in self.models.items()})
        self.lineage = lineage.by_model({k: m.lineage for k, m in self.models.items()})
        self.register_outputs(
            {
                "model_names": self.model_names,
                "alias_uris": self.alias_uris,
                "grants": self.grants,
                "unmanaged_aliases": self.unmanaged_aliases,
                "latest_versions": self.latest_versions,
                "lineage": self.lineage,
            }
        )


def _non_empty(by_model: Mapping[str, dict[str, str]] | list[Any]) -> dict[str, dict[str, str]]:
    # Output.all() of no outputs gives a list, not a mapping.
    return {model: entries for model, entries in dict(by_model).items() if entries}

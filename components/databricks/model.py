"""RegisteredModel: a Unity Catalog registered model with its grants, and what it declares about itself.

The model itself (owner, comment) is a `databricks.RegisteredModel`. Its `aliases` field is never set:
the provider does not apply it (terraform-provider-databricks PR 5448, databricks/cli issue 4012).
Aliases, tags and version descriptions are one `mrgov:registry:ModelMetadata`
(components/model_layout.py), the same resource the MLflow target uses, sent through MLflow's
`databricks-uc` registry by the mrgov provider, which reads DATABRICKS_HOST / DATABRICKS_TOKEN (or the
profile named in the registry URI) at call time, so no credential reaches the state.

Only the aliases and tag keys the stack declares are managed. Which other aliases the model carries (a
`Challenger` set by a training job) is read, never written, and reported as `unmanaged_aliases`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from components import lineage
from components.databricks.grants import GrantList, SecurableGrantsArgs, securable_grants
from components.model_layout import model_metadata
from components.spec import ModelSpec
from provider import sdk
from provider.limits import alias_uri


@dataclass(frozen=True)
class RegisteredModelArgs:
    """Inputs for one registered model: its resolved spec, and what the stack decides around it.

    `model` is the model as the spec resolved it (components/spec/model.py): its name, owner,
    description (the model's comment), `retain_on_delete` and everything its ModelMetadata carries are
    read from there, as on the MLflow target, so a new per-model setting needs nothing here.
    `grants` come from grants.grant_list (the deployer's MANAGE folded in, the lock-out checked).
    `adopt`: the model exists already (a training pipeline registered it); the stack imports it on the
    first `up` instead of failing on "already exists". The declared owner and comment must match the
    model's for that first `up` (Pulumi refuses an import whose inputs differ). `protect`: the stack's.
    """

    model: ModelSpec
    grants: GrantList = ()
    adopt: bool = False
    protect: bool = False


class RegisteredModel(pulumi.ComponentResource):
    """One registered model and everything the stack declares about it.

    Children: `{name}-model` (databricks.RegisteredModel, parent=self); under the model
    (parent=model): `{name}-grants` (databricks.Grants) and `{name}-metadata` (ModelMetadata, through
    the `registry` provider: the mrgov provider on `databricks-uc`).

    The grants are `deleted_with` the model and share its `retain_on_delete`, like the metadata.
    `depends_on` names what must exist first (the schema); it is not the caller's opts.
    """

    model: databricks.RegisteredModel
    grants: databricks.Grants | None
    metadata: sdk.ModelMetadata
    full_name: pulumi.Output[str]
    alias_uris: pulumi.Output[dict[str, str]]
    unmanaged_aliases: pulumi.Output[dict[str, str]]
    latest_version: pulumi.Output[dict[str, str]]
    lineage: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(
        self,
        name: str,
        args: RegisteredModelArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        registry: pulumi.ProviderResource,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__("mrgov:databricks:RegisteredModel", name, None, opts)
        spec = args.model
        full_name = spec.full_name
        self.model = databricks.RegisteredModel(
            f"{name}-model",
            catalog_name=spec.catalog_name,
            schema_name=spec.schema_name,
            name=spec.name,
            comment=spec.description or None,
            owner=spec.owner,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(depends_on),
                protect=args.protect,
                retain_on_delete=spec.retain_on_delete,
                # A registered model's id is its full name.
                import_=full_name if args.adopt else None,
            ),
        )
        self.grants = securable_grants(
            f"{name}-grants",
            SecurableGrantsArgs("model", full_name, args.grants),
            parent=self.model,
            depends_on=[self.model],
            deleted_with=self.model,
            retain_on_delete=spec.retain_on_delete,
        )
        self.metadata = model_metadata(name, self.model, registry, spec)

        self.full_name = pulumi.Output.from_input(full_name)
        self.alias_uris = pulumi.Output.from_input(
            {alias: alias_uri(full_name, alias) for alias in sorted(spec.aliases)}
        )
        self.unmanaged_aliases = self.metadata.other_aliases.apply(
            lambda seen: dict(sorted((seen or {}).items()))
        )
        self.latest_version = lineage.latest_version(full_name, self.metadata)
        self.lineage = lineage.lineage(self.metadata)
        self.register_outputs(
            {
                "full_name": self.full_name,
                "alias_uris": self.alias_uris,
                "unmanaged_aliases": self.unmanaged_aliases,
                "latest_version": self.latest_version,
                "lineage": self.lineage,
            }
        )

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_databricks as databricks

from components import lineage
from components.databricks.grants import GrantList, SecurableGrantsArgs, securable_grants
from components.model_layout import model_metadata
from components.spec import ArchiveSpec, GateSpec
from provider import sdk
from provider.limits import alias_uri


@dataclass(frozen=True)
class RegisteredModelArgs:
    """Inputs for one registered model. `grants` come from grants.grant_list.

    `aliases` maps alias -> version; `version_descriptions` maps version -> description;
    `version_tags` version -> tags; `archive`, `gates` and `overrides` are the model's retention, its
    promotion gates by alias and their break-glass reasons (components/spec/, provider/registry/).
    `adopt`: the model exists already (a training pipeline registered it); the stack imports it on the
    first `up` instead of failing on "already exists". The declared owner and comment must match the
    model's for that first `up` (Pulumi refuses an import whose inputs differ).
    """

    catalog_name: str
    schema_name: str
    model_name: str
    comment: str = ""
    owner: str | None = None
    grants: GrantList = ()
    aliases: Mapping[str, int] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    version_descriptions: Mapping[int, str] = field(default_factory=dict)
    version_tags: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    archive: ArchiveSpec | None = None
    gates: Mapping[str, GateSpec] = field(default_factory=dict)
    overrides: Mapping[str, str] = field(default_factory=dict)
    adopt: bool = False
    protect: bool = False
    retain_on_delete: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.catalog_name}.{self.schema_name}.{self.model_name}"


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
        full_name = args.full_name
        self.model = databricks.RegisteredModel(
            f"{name}-model",
            catalog_name=args.catalog_name,
            schema_name=args.schema_name,
            name=args.model_name,
            comment=args.comment or None,
            owner=args.owner,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(depends_on),
                protect=args.protect,
                retain_on_delete=args.retain_on_delete,
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
            retain_on_delete=args.retain_on_delete,
        )
        self.metadata = model_metadata(name, self.model, registry, args)

        self.full_name = pulumi.Output.from_input(full_name)
        self.alias_uris = pulumi.Output.from_input(
            {alias: alias_uri(full_name, alias) for alias in sorted(args.aliases)}
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

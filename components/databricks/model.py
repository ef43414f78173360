"""RegisteredModel: a Unity Catalog registered model with its grants, aliases, tags and version descriptions.

The model itself (owner, comment) is a `databricks.RegisteredModel`. Its `aliases` field is never set:
the provider does not apply it (terraform-provider-databricks PR 5448, databricks/cli 4012). Aliases,
tags and version descriptions go through the shared MLflow dynamic providers with registry
`databricks-uc`, the same code the MLflow target runs; they read DATABRICKS_HOST / DATABRICKS_TOKEN (or
the profile named in the registry URI) at call time, so no credential reaches the state.

Only the aliases and tag keys the stack declares are managed. Which other aliases the model carries (a
`Challenger` set by a training job) is read, never written, and reported as `unmanaged_aliases`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_databricks as databricks

from components.databricks.grants import GrantList, SecurableGrantsArgs, securable_grants
from components.mlflow import (
    ModelAlias,
    ModelAliasArgs,
    ModelTags,
    ModelTagsArgs,
    VersionDescription,
    VersionDescriptionArgs,
)

UC_REGISTRY = "databricks-uc"


def alias_uri(full_name: str, alias: str) -> str:
    """How jobs load a model by alias: `models:/catalog.schema.model@Alias`."""
    return f"models:/{full_name}@{alias}"


@dataclass(frozen=True)
class RegisteredModelArgs:
    """Inputs for one registered model. `grants` come from grants.grant_list.

    `aliases` maps alias -> version; `version_descriptions` maps version -> description.
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
    adopt: bool = False
    protect: bool = False
    retain_on_delete: bool = False
    registry_uri: str = UC_REGISTRY

    @property
    def full_name(self) -> str:
        return f"{self.catalog_name}.{self.schema_name}.{self.model_name}"


class RegisteredModel(pulumi.ComponentResource):
    """One registered model and everything the stack declares about it.

    Children: `{name}-model` (databricks.RegisteredModel, parent=self); under the model
    (parent=model): `{name}-grants` (databricks.Grants), `{name}-alias-<Alias>` (ModelAlias),
    `{name}-tags` (ModelTags), `{name}-v<N>-description` (VersionDescription).

    The model's children are `deleted_with` the model (deleting a model deletes its aliases, tags and
    grants; no calls on a dead object) and share its `retain_on_delete`: a model that leaves the stack
    but stays in the registry keeps its aliases, so jobs loading `@Production` keep working.
    `depends_on` names what must exist first (the schema); it is not the caller's opts.
    """

    model: databricks.RegisteredModel
    grants: databricks.Grants | None
    aliases: dict[str, ModelAlias]
    tags: ModelTags | None
    version_descriptions: dict[int, VersionDescription]
    full_name: pulumi.Output[str]
    alias_uris: pulumi.Output[dict[str, str]]
    unmanaged_aliases: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        args: RegisteredModelArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
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

        def under_model(*after: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self.model,
                depends_on=[self.model, *after],
                deleted_with=self.model,
                # Never protected, even in prod: moving or dropping an alias is ordinary work.
                protect=False,
                retain_on_delete=args.retain_on_delete,
            )

        uri = args.registry_uri
        self.version_descriptions = {
            version: VersionDescription(
                f"{name}-v{version}-description",
                VersionDescriptionArgs(
                    registry_uri=uri, model=full_name, version=str(version), description=text
                ),
                under_model(),
            )
            for version, text in sorted(args.version_descriptions.items())
        }
        self.tags = (
            ModelTags(
                f"{name}-tags",
                ModelTagsArgs(registry_uri=uri, model=full_name, tags=dict(sorted(args.tags.items()))),
                under_model(),
            )
            if args.tags
            else None
        )
        self.aliases = {
            alias: ModelAlias(
                f"{name}-alias-{alias}",
                ModelAliasArgs(registry_uri=uri, model=full_name, alias=alias, version=str(version)),
                under_model(),
            )
            for alias, version in sorted(args.aliases.items())
        }

        self.full_name = pulumi.Output.from_input(full_name)
        self.alias_uris = pulumi.Output.from_input(
            {alias: alias_uri(full_name, alias) for alias in sorted(args.aliases)}
        )
        self.unmanaged_aliases = self._unmanaged_aliases(full_name, set(args.aliases))
        self.register_outputs(
            {
                "full_name": self.full_name,
                "alias_uris": self.alias_uris,
                "unmanaged_aliases": self.unmanaged_aliases,
            }
        )

    def _unmanaged_aliases(self, full_name: str, managed: set[str]) -> pulumi.Output[dict[str, str]]:
        """{alias: version} of the aliases on the model that this stack does not declare.

        Read with the provider's data source, after the model and our aliases exist (`include_aliases`:
        the registered-models API leaves aliases out unless asked). While the model is still to be
        created, preview cannot know them and shows the value as unknown.
        """
        found = databricks.get_registered_model_output(
            full_name=full_name,
            include_aliases=True,
            opts=pulumi.InvokeOutputOptions(
                parent=self.model, depends_on=[self.model, *self.aliases.values()]
            ),
        )

        def unmanaged(result: Any) -> dict[str, str]:
            out: dict[str, str] = {}
            for info in result.model_infos or []:
                for alias in info.aliases or []:
                    if alias.alias_name and alias.alias_name not in managed:
                        out[alias.alias_name] = str(alias.version_num)
            return dict(sorted(out.items()))

        return found.apply(unmanaged)

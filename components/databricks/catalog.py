"""Catalog: a Unity Catalog catalog, created or adopted, with its authoritative grants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_databricks as databricks

from components.databricks.grants import GrantList, SecurableGrantsArgs, securable_grants


@dataclass(frozen=True)
class CatalogArgs:
    """Inputs for one catalog. `grants` come from grants.grant_list.

    `adopt`: the catalog exists already (another team or a workspace template made it). The stack
    imports it on its first `up` and manages its comment, owner, properties, isolation mode and grants
    from then on, but never deletes it. Pulumi refuses the import while the declared values differ
    from the catalog's, so declare what it has for the first `up`, then change it.
    """

    catalog_name: str
    comment: str = ""
    owner: str | None = None
    isolation_mode: Literal["OPEN", "ISOLATED"] | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    adopt: bool = False
    grants: GrantList = ()
    protect: bool = False
    retain_on_delete: bool = False


class Catalog(pulumi.ComponentResource):
    """One catalog and the grants on it.

    Children: `{name}-catalog` (databricks.Catalog) and `{name}-grants` (databricks.Grants).
    `force_destroy` is never set: destroying a catalog that still holds schemas fails, on purpose.
    """

    catalog: databricks.Catalog
    grants: databricks.Grants | None
    catalog_name: pulumi.Output[str]

    def __init__(self, name: str, args: CatalogArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mrgov:databricks:Catalog", name, None, opts)
        # An adopted catalog was not ours to create, so it is not ours to delete either.
        retain = args.retain_on_delete or args.adopt
        self.catalog = databricks.Catalog(
            f"{name}-catalog",
            name=args.catalog_name,
            comment=args.comment or None,
            owner=args.owner,
            isolation_mode=args.isolation_mode,
            properties=dict(args.properties) or None,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                retain_on_delete=retain,
                # A catalog's id is its name, so an existing one is adopted by importing that id.
                import_=args.catalog_name if args.adopt else None,
            ),
        )
        self.grants = securable_grants(
            f"{name}-grants",
            SecurableGrantsArgs("catalog", args.catalog_name, args.grants),
            parent=self,
            depends_on=[self.catalog],
            deleted_with=self.catalog,
            # A catalog left in place keeps its grants too: leaving the stack unbinds it, nothing more.
            retain_on_delete=retain,
        )
        self.catalog_name = pulumi.Output.from_input(args.catalog_name)
        self.register_outputs({"catalog_name": self.catalog_name})

"""Catalog: a Unity Catalog catalog, created or adopted, with its authoritative grants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_databricks as databricks

from components.databricks.grants import GrantList, SecurableGrantsArgs, securable_grants

# create: the stack creates the catalog.
# adopt: the catalog already exists; the stack imports it on the first `up` and manages it from then on
#        (the declared comment, owner, properties and isolation mode must match what exists at import).
CatalogMode = Literal["create", "adopt"]


@dataclass(frozen=True)
class CatalogArgs:
    """Inputs for one catalog. `grants` is already normalized (see grants.normalized_grants)."""

    catalog_name: str
    comment: str = ""
    owner: str | None = None
    isolation_mode: Literal["OPEN", "ISOLATED"] | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    mode: CatalogMode = "create"
    grants: GrantList = ()
    protect: bool = False
    retain_on_delete: bool = False
    # Lets `pulumi destroy` drop a catalog that still holds schemas. Refused together with protect:
    # prod catalogs are never force-destroyed.
    force_destroy: bool = False

    def __post_init__(self) -> None:
        if self.force_destroy and self.protect:
            raise ValueError(
                f"catalog {self.catalog_name!r}: force_destroy cannot be set on a protected (prod) catalog"
            )


class Catalog(pulumi.ComponentResource):
    """One catalog and the grants on it.

    Children: `{name}-catalog` (databricks.Catalog) and `{name}-grants` (databricks.Grants).
    """

    catalog: databricks.Catalog
    grants: databricks.Grants | None
    catalog_name: pulumi.Output[str]

    def __init__(self, name: str, args: CatalogArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mrgov:databricks:Catalog", name, None, opts)
        self.catalog = databricks.Catalog(
            f"{name}-catalog",
            name=args.catalog_name,
            comment=args.comment or None,
            owner=args.owner,
            isolation_mode=args.isolation_mode,
            properties=dict(args.properties) or None,
            force_destroy=True if args.force_destroy else None,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                retain_on_delete=args.retain_on_delete,
                # A catalog's id is its name, so an existing one is adopted by importing that id.
                import_=args.catalog_name if args.mode == "adopt" else None,
            ),
        )
        self.grants = securable_grants(
            f"{name}-grants",
            SecurableGrantsArgs("catalog", args.catalog_name, args.grants),
            parent=self,
            depends_on=[self.catalog],
            deleted_with=self.catalog,
            # A catalog left in place keeps its grants too: removing it from the stack unbinds it.
            retain_on_delete=args.retain_on_delete,
        )
        self.catalog_name = pulumi.Output.from_input(args.catalog_name)
        self.register_outputs({"catalog_name": self.catalog_name})

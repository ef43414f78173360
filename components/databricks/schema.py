"""Schema: a Unity Catalog schema inside the stack's catalog, with its authoritative grants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_databricks as databricks

from components.databricks.grants import GrantList, SecurableGrantsArgs, securable_grants


@dataclass(frozen=True)
class SchemaArgs:
    """Inputs for one schema. `grants` come from grants.grant_list."""

    catalog_name: str
    schema_name: str
    comment: str = ""
    owner: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    grants: GrantList = ()
    protect: bool = False
    retain_on_delete: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.catalog_name}.{self.schema_name}"


class Schema(pulumi.ComponentResource):
    """One schema and the grants on it.

    Children: `{name}-schema` (databricks.Schema) and `{name}-grants` (databricks.Grants).
    `depends_on` names what must exist first (the catalog); it is not the caller's opts.
    """

    schema: databricks.Schema
    grants: databricks.Grants | None
    full_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: SchemaArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__("mrgov:databricks:Schema", name, None, opts)
        self.schema = databricks.Schema(
            f"{name}-schema",
            catalog_name=args.catalog_name,
            name=args.schema_name,
            comment=args.comment or None,
            owner=args.owner,
            properties=dict(args.properties) or None,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(depends_on),
                protect=args.protect,
                retain_on_delete=args.retain_on_delete,
            ),
        )
        self.grants = securable_grants(
            f"{name}-grants",
            SecurableGrantsArgs("schema", args.full_name, args.grants),
            parent=self,
            depends_on=[self.schema],
            deleted_with=self.schema,
            retain_on_delete=args.retain_on_delete,
        )
        self.full_name = pulumi.Output.from_input(args.full_name)
        self.register_outputs({"full_name": self.full_name})

"""Authoritative Unity Catalog grants: one `databricks.Grants` per securable, in a stable order.

`databricks.Grants` replaces every grant on its securable, including grants made by hand
and the deploying identity's own. Two things follow:

- the grant list is sorted (principals, then privileges) so the provider's stored order
  never shows a permanent diff in preview;
- the deployer principal is always given what it needs to keep governing the securable
  (MANAGE, plus the USE_* privilege that lets it reach what lies below), unless it is the
  declared owner, who holds every privilege anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_databricks as databricks

Securable = Literal["catalog", "schema", "model"]

# What the deployer keeps on each kind of securable. MANAGE lets it change grants and ownership;
# USE_CATALOG / USE_SCHEMA let it reach the schemas and models it governs below.
DEPLOYER_PRIVILEGES: Mapping[Securable, tuple[str, ...]] = {
    "catalog": ("MANAGE", "USE_CATALOG"),
    "schema": ("MANAGE", "USE_SCHEMA"),
    "model": ("MANAGE",),
}

GrantList = tuple[tuple[str, tuple[str, ...]], ...]


def normalized_grants(
    securable: Securable,
    grants: Mapping[str, Iterable[str]],
    *,
    deployer: str | None,
    owner: str | None,
) -> GrantList:
    """The grant list to apply: deployer guard added, empty entries dropped, everything sorted.

    Privileges are expected to be valid for `securable` already (the spec checks them);
    this function only decides what is applied and in which order.
    """
    merged: dict[str, set[str]] = {}
    for principal, privileges in grants.items():
        merged.setdefault(principal, set()).update(privileges)
    if deployer and deployer != owner:
        merged.setdefault(deployer, set()).update(DEPLOYER_PRIVILEGES[securable])
    return tuple((p, tuple(sorted(privs))) for p, privs in sorted(merged.items()) if privs)


def holders_by_privilege(grants: GrantList) -> dict[str, list[str]]:
    """Invert a grant list: privilege -> sorted principals holding it (a stack output)."""
    out: dict[str, list[str]] = {}
    for principal, privileges in grants:
        for privilege in privileges:
            out.setdefault(privilege, []).append(principal)
    return {k: sorted(v) for k, v in sorted(out.items())}


@dataclass(frozen=True)
class SecurableGrantsArgs:
    """Inputs for the grants on one securable."""

    securable: Securable
    full_name: str
    grants: GrantList


def securable_grants(
    resource_name: str,
    args: SecurableGrantsArgs,
    *,
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource] | None = None,
    deleted_with: pulumi.Resource | None = None,
    retain_on_delete: bool = False,
) -> databricks.Grants | None:
    """Register the authoritative `databricks.Grants` for one securable, or nothing if it has none.

    With no grant at all the securable's grants are left unmanaged: an empty authoritative
    list would revoke every grant, and the provider needs at least one grant block anyway.
    """
    if not args.grants:
        return None
    grant_blocks = [
        databricks.GrantsGrantArgs(principal=principal, privileges=list(privileges))
        for principal, privileges in args.grants
    ]
    opts = pulumi.ResourceOptions(
        parent=parent,
        depends_on=depends_on,
        deleted_with=deleted_with,
        # Grants are never protected: they must follow the stack, even in prod. Set
        # explicitly, or a protected parent would pass its protection down.
        protect=False,
        retain_on_delete=retain_on_delete,
    )
    return databricks.Grants(
        resource_name,
        grants=grant_blocks,
        catalog=args.full_name if args.securable == "catalog" else None,
        schema=args.full_name if args.securable == "schema" else None,
        # A UC registered model is a `function` securable in the grants API; the provider's
        # `model` attribute is the one that maps to it.
        model=args.full_name if args.securable == "model" else None,
        opts=opts,
    )

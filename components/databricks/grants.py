"""Authoritative Unity Catalog grants: one `databricks.Grants` per securable, in a stable order.

`databricks.Grants` replaces every grant on its securable, including grants made by hand
and the deploying identity's own. The spec resolves the grant list (roles to principals,
privileges normalised, the deployer's MANAGE folded in); this module applies it:

- in a stable order (principals, then privileges) so that the provider never shows a
  permanent diff in preview;
- after checking that the deployer kept what it needs (spec.DEPLOYER_PRIVILEGES), so a
  hand-built spec cannot make `pulumi up` lock itself out either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from components.rules import Securable
from components.spec import DEPLOYER_PRIVILEGES, Grant

GrantList = tuple[tuple[str, tuple[str, ...]], ...]
"""((principal, (privilege, ...)), ...), sorted at both levels."""


def grant_list(
    securable: Securable,
    full_name: str,
    grants: Iterable[Grant],
    *,
    deployer: str | None,
    owner: str | None,
) -> GrantList:
    """The spec's grants in apply order, after the lock-out check.

    Raises ValueError naming the securable if the deployer (when it is not the owner) would lose
    any of DEPLOYER_PRIVILEGES: applying such a list would revoke the deployer's own MANAGE.
    """
    merged: dict[str, set[str]] = {}
    for grant in grants:
        merged.setdefault(grant.principal, set()).update(grant.privileges)
    if deployer and deployer != owner:
        missing = sorted(set(DEPLOYER_PRIVILEGES[securable]) - merged.get(deployer, set()))
        if missing:
            raise ValueError(
                f"{securable} {full_name!r}: the grants would take {', '.join(missing)} away from the "
                f"deployer {deployer!r}, which would lock `pulumi up` out; build grants with the spec "
                "(components.spec.build), which keeps them"
            )
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
        # When the securable itself is deleted its grants go with it: no revoke calls on a dead object.
        deleted_with=deleted_with,
        # Grants are never protected: they must follow the stack, even in prod. Set explicitly,
        # or a protected parent would pass its protection down.
        protect=False,
        retain_on_delete=retain_on_delete,
    )
    return databricks.Grants(
        resource_name,
        grants=grant_blocks,
        catalog=args.full_name if args.securable == "catalog" else None,
        schema=args.full_name if args.securable == "schema" else None,
        # A UC registered model is a `function` securable in the grants API; the provider's `model`
        # attribute is the one that maps to it.
        model=args.full_name if args.securable == "model" else None,
        opts=opts,
    )

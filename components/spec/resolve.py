"""Resolution: a validated config document into the resolved spec (`StackSpec`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components import rules
from components.spec.document import (
    DeploymentJobConfig,
    GrantConfig,
    OwnedJobConfig,
    PrincipalConfig,
    PrincipalKind,
    StackConfig,
)
from components.spec.model import (
    ArchiveSpec,
    CatalogSpec,
    DeploymentJobSpec,
    GateSpec,
    GovernanceSpec,
    Grant,
    ModelSpec,
    Principal,
    RoleSpec,
    SchemaSpec,
    StackSpec,
    WebhookSpec,
)
from provider.limits import normalise_privilege

# --------------------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------------------
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def principal_of(ref: PrincipalConfig) -> Principal:
    """A principal with its kind: explicit, else inferred (email: user, UUID: service principal, or group)."""
    if ref.kind is not None:
        kind: PrincipalKind = ref.kind
    elif "@" in ref.name:
        kind = "user"
    elif _UUID.match(ref.name):
        kind = "service_principal"
    else:
        kind = "group"
    return Principal(name=ref.name, kind=kind)


# What the deploying identity keeps on each securable, so authoritative grants never lock it out: MANAGE to
# change grants and ownership, USE_* to reach what lies below. Same policy as components/databricks/grants.py.
DEPLOYER_PRIVILEGES: Mapping[rules.Securable, tuple[str, ...]] = {
    "catalog": ("MANAGE", "USE_CATALOG"),
    "schema": ("MANAGE", "USE_SCHEMA"),
    "model": ("MANAGE",),
}


def _resolve_grants(
    securable: rules.Securable,
    entries: tuple[GrantConfig, ...],
    roles: Mapping[str, RoleSpec],
    deployer: Principal | None,
    owner: str | None,
) -> tuple[Grant, ...]:
    acc: dict[str, tuple[PrincipalKind, set[str]]] = {}
    for entry in entries:
        principals = [p for r in entry.roles for p in roles[r].principals] + [
            principal_of(p) for p in entry.principals
        ]
        for p in principals:
            acc.setdefault(p.name, (p.kind, set()))[1].update(
                normalise_privilege(x) for x in entry.privileges
            )
    if deployer is not None and deployer.name != owner:
        # Grants are authoritative per securable: without this the deployer would revoke its own MANAGE.
        # An owner holds every privilege already.
        acc.setdefault(deployer.name, (deployer.kind, set()))[1].update(DEPLOYER_PRIVILEGES[securable])
    return tuple(
        Grant(principal=name, principal_kind=kind, privileges=tuple(sorted(privs)))
        for name, (kind, privs) in sorted(acc.items())
    )


def resolve_spec(stack: str, cfg: StackConfig, warnings: tuple[str, ...]) -> StackSpec:
    """The resolved spec of a validated document (webhooks and deployment jobs: `with_events`)."""
    deployer = principal_of(cfg.deployer) if cfg.deployer is not None else None
    roles = {
        name: RoleSpec(
            name=name,
            description=role.description,
            model_creator=role.model_creator,
            principals=tuple(principal_of(p) for p in role.principals),
        )
        for name, role in cfg.roles.items()
    }
    catalog = cfg.catalog.name
    default_schema = next(iter(cfg.schemas), "")
    models = []
    for name, m in cfg.models.items():
        schema = m.schema_name or default_schema
        models.append(
            ModelSpec(
                name=name,
                schema_name=schema,
                full_name=f"{catalog}.{schema}.{name}",
                description=m.description.strip(),
                owner=m.owner,
                owner_principal=principal_of(PrincipalConfig(name=m.owner)) if m.owner else None,
                tags=dict(sorted(m.tags.items())),
                version_descriptions={
                    int(k): v.strip() for k, v in sorted(m.version_descriptions.items(), key=_num)
                },
                aliases={a: int(v) for a, v in sorted(m.aliases.items())},
                retain_on_delete=m.retain_on_delete,
                served=m.served,
                adopt=m.adopt,
                grants=_resolve_grants("model", m.grants, roles, deployer, m.owner),
                version_tags={
                    int(k): dict(sorted(tags.items())) for k, tags in sorted(m.version_tags.items(), key=_num)
                },
                archive=(
                    ArchiveSpec(after_days=int(m.archive.after_days), keep_latest=int(m.archive.keep_latest))
                    if m.archive is not None
                    else None
                ),
                # A gate guards an alias this stack pins; the others apply in the stacks that pin them.
                gates={
                    alias: GateSpec(
                        metric=g.metric.strip(),
                        higher_is_better=g.higher_is_better,
                        against="none" if g.against == "none" else "current",
                        min_delta=float(g.min_delta),
                        min=None if g.min is None else float(g.min),
                        max=None if g.max is None else float(g.max),
                    )
                    for alias, g in sorted(m.gates.items())
                    if alias in m.aliases
                },
                overrides={alias: o.reason.strip() for alias, o in sorted(m.overrides.items())},
            )
        )
    g = cfg.governance
    return StackSpec(
        stack=stack,
        environment=cfg.environment,
        is_production=cfg.is_production,
        target=cfg.target,
        catalog=CatalogSpec(
            name=catalog,
            comment=cfg.catalog.comment.strip(),
            owner=cfg.catalog.owner,
            isolation_mode=cfg.catalog.isolation_mode,
            properties=dict(sorted(cfg.catalog.properties.items())),
            adopt=cfg.catalog.adopt,
            grants=_resolve_grants("catalog", cfg.catalog.grants, roles, deployer, cfg.catalog.owner),
        ),
        schemas=tuple(
            SchemaSpec(
                name=name,
                full_name=f"{catalog}.{name}",
                comment=s.comment.strip(),
                owner=s.owner,
                properties=dict(sorted(s.properties.items())),
                grants=_resolve_grants("schema", s.grants, roles, deployer, s.owner),
            )
            for name, s in cfg.schemas.items()
        ),
        roles=tuple(roles.values()),
        models=tuple(models),
        protect=cfg.is_production if cfg.protect is None else cfg.protect,
        deployer=deployer,
        governance=GovernanceSpec(
            model_name_pattern=g.model_name_pattern,
            model_name_hint=g.model_name_hint,
            required_tags=g.required_tags,
            broad_principals=g.broad_principals,
            production_environments=g.production_environments,
        ),
        warnings=warnings,
    )


def _num(item: tuple[str, Any]) -> int:
    return int(item[0])


# --------------------------------------------------------------------------------------------------------
# Registry events: the stack's webhooks (MLflow target), each model's deployment job (Databricks target)
# --------------------------------------------------------------------------------------------------------
def with_events(cfg: StackConfig, spec: StackSpec) -> StackSpec:
    """`spec` with its webhooks and its models' deployment jobs, resolved from the validated document."""
    webhooks = tuple(
        WebhookSpec(
            name=name,
            url=hook.url.strip(),
            events=tuple(dict.fromkeys(hook.events)),
            description=hook.description.strip(),
            status=hook.status.upper(),
            secret_key=hook.secret or "",
        )
        for name, hook in sorted(cfg.webhooks.items())
    )
    models = tuple(
        m.model_copy(update={"deployment_job": _deployment_job(job)})
        if (job := cfg.models[m.name].deployment_job) is not None
        else m
        for m in spec.models
    )
    return spec.model_copy(update={"webhooks": webhooks, "models": models})


def _deployment_job(job: DeploymentJobConfig) -> DeploymentJobSpec:
    if job.job_id is not None:
        return DeploymentJobSpec(job_id=str(int(job.job_id)))
    owned = job.job or OwnedJobConfig()
    return DeploymentJobSpec(
        name=owned.name.strip(),
        notebook_path=owned.notebook_path.strip(),
        parameters=dict(sorted(owned.parameters.items())),
        trigger_aliases=tuple(dict.fromkeys(owned.trigger_aliases)),
    )

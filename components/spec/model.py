"""The resolved spec: what components consume, frozen.

Roles are already resolved to principals, privileges are normalised and sorted, model defaults are applied,
the deployer's MANAGE is folded into every grant list, owners carry their principal kind. Components need
no logic of their own to use it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from components.spec.document import IsolationMode, PrincipalKind, Target


# --------------------------------------------------------------------------------------------------------
# The resolved spec: what components consume.
# --------------------------------------------------------------------------------------------------------
class _Resolved(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Principal(_Resolved):
    """A user, group or service principal. On MLflow, groups are roles and users are users."""

    name: str
    kind: PrincipalKind


class Grant(_Resolved):
    """All privileges one principal holds on one securable; privileges are API spelling, sorted."""

    principal: str
    principal_kind: PrincipalKind
    privileges: tuple[str, ...]


class RoleSpec(_Resolved):
    """A logical role (for example `ml_engineers`) resolved to this environment's principals."""

    name: str
    description: str
    model_creator: bool
    principals: tuple[Principal, ...]


class _Securable(_Resolved):
    grants: tuple[Grant, ...]

    @property
    def grants_by_principal(self) -> dict[str, tuple[str, ...]]:
        """{principal: sorted privileges}, in principal order."""
        return {g.principal: g.privileges for g in self.grants}


class CatalogSpec(_Securable):
    """The stack's catalog. `adopt=True`: it exists already; the stack must not create or delete it."""

    name: str
    comment: str
    owner: str | None
    isolation_mode: IsolationMode | None
    properties: dict[str, str]
    adopt: bool
    grants: tuple[Grant, ...]

    @property
    def mode(self) -> Literal["create", "adopt"]:
        return "adopt" if self.adopt else "create"


class SchemaSpec(_Securable):
    """A schema in the stack's catalog; `full_name` is `catalog.schema`."""

    name: str
    full_name: str
    comment: str
    owner: str | None
    properties: dict[str, str]
    grants: tuple[Grant, ...]


class ArchiveSpec(_Resolved):
    """Retention: versions older than `after_days` are archived, except the newest `keep_latest` and
    those an alias points at (provider/registry/retention.py)."""

    after_days: int
    keep_latest: int = 0


class GateSpec(_Resolved):
    """A promotion gate on one alias (provider/registry/gates.py): the run metric a new version must pass."""

    metric: str
    higher_is_better: bool = True
    against: Literal["current", "none"] = "current"
    min_delta: float = 0.0
    min: float | None = None
    max: float | None = None


class WebhookSpec(_Resolved):
    """An MLflow webhook of the stack (`webhooks.<name>`). `secret_key` names the secret config key
    holding its signing secret (`mrgov:deployHookSecret`); the value is never part of the spec:
    `webhook_secrets` reads it as a Pulumi secret."""

    name: str
    url: str
    events: tuple[str, ...]
    description: str
    status: str
    secret_key: str


class DeploymentJobSpec(_Resolved):
    """A Unity Catalog model's deployment job (`models.<model>.deploymentJob`): a job that exists
    (`job_id`), or one the stack owns (`name`, `notebook_path`, `parameters`, and `trigger_aliases`, the
    aliases whose moves start a run)."""

    job_id: str | None = None
    name: str = ""
    notebook_path: str = ""
    parameters: dict[str, str] = {}
    trigger_aliases: tuple[str, ...] = ()

    @property
    def owned(self) -> bool:
        """True when the stack creates the job (`job:`), False for an existing one (`jobId:`)."""
        return self.job_id is None


class ModelSpec(_Securable):
    """One registered model, with defaults applied.

    `aliases` are the aliases this stack manages ({alias: version}); any other alias on the model (a
    `Challenger` set by a training job) is left alone. `name` is the short model part; `full_name` is
    `catalog.schema.model`. `gates` hold the gates of the aliases this stack pins (a gate declared for
    an alias the stack does not pin applies in the stacks that do); `overrides` are break-glass reasons
    by alias.
    """

    name: str
    schema_name: str
    full_name: str
    description: str
    owner: str | None
    tags: dict[str, str]
    version_descriptions: dict[int, str]
    aliases: dict[str, int]
    retain_on_delete: bool
    served: bool
    adopt: bool
    grants: tuple[Grant, ...]
    version_tags: dict[int, dict[str, str]] = {}
    archive: ArchiveSpec | None = None
    gates: dict[str, GateSpec] = {}
    overrides: dict[str, str] = {}
    deployment_job: DeploymentJobSpec | None = None
    owner_principal: Principal | None = None
    """`owner` with its kind, resolved like any principal (None when the model names no owner)."""

    @property
    def catalog_name(self) -> str:
        """The catalog part of `full_name`."""
        return self.full_name.removesuffix(f".{self.schema_name}.{self.name}")

    @property
    def managed_aliases(self) -> tuple[str, ...]:
        return tuple(sorted(self.aliases))


class GovernanceSpec(_Resolved):
    """The knobs of the governance rules (see components/rules.py)."""

    model_name_pattern: str
    model_name_hint: str
    required_tags: tuple[str, ...]
    broad_principals: tuple[str, ...]
    production_environments: tuple[str, ...]


class StackSpec(_Resolved):
    """Everything one stack declares, resolved and validated."""

    stack: str
    environment: str
    is_production: bool
    target: Target
    catalog: CatalogSpec
    schemas: tuple[SchemaSpec, ...]
    roles: tuple[RoleSpec, ...]
    models: tuple[ModelSpec, ...]
    protect: bool
    deployer: Principal | None
    governance: GovernanceSpec
    warnings: tuple[str, ...] = ()
    webhooks: tuple[WebhookSpec, ...] = ()

    def full_name(self, model: ModelSpec) -> str:
        return f"{self.catalog.name}.{model.schema_name}.{model.name}"

    def model_by_name(self, name: str) -> ModelSpec:
        return next(m for m in self.models if m.name == name)

    def schema_by_name(self, name: str) -> SchemaSpec:
        return next(s for s in self.schemas if s.name == name)

    def role_by_name(self, name: str) -> RoleSpec:
        return next(r for r in self.roles if r.name == name)

"""The config document: the shape people write, as pydantic models.

CamelCase keys, roles by name, merged from the shared `registry.yaml` and the stack's `Pulumi.<stack>.yaml`
(`mrgov:*` keys). Loosely typed where a governance rule (components/rules.py) reports a bad value with its
key path. The targets are shared with the resolved spec (same shape, camelCase in config).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from components.aliases import PRODUCTION_ALIAS
from components.namespace import NAMESPACE as NAMESPACE  # re-exported: the spec's modules import it here
from provider.limits import UC_SCHEME

SHARED_FILE = "registry.yaml"

PrincipalKind = Literal["user", "group", "service_principal"]
IsolationMode = Literal["OPEN", "ISOLATED"]
Path_ = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------------------
# Targets: shared by the config document and the resolved spec (same shape, camelCase in config).
# --------------------------------------------------------------------------------------------------------
class _Target(BaseModel):
    """What every target's config is, and what the rules and the spec ask of a target (not its kind).

    Each target overrides the capabilities it has; components/target.py is the rest of its contract.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)

    # The deployer-manage rule: grants on this target are authoritative, so the deploying identity
    # must be declared or its own MANAGE would be revoked.
    needs_deployer: ClassVar[bool] = False
    # The webhook-target rule: the target's registry calls webhooks (`webhooks`).
    supports_webhooks: ClassVar[bool] = False
    # The deployment-job-target rule: the target runs a deployment job per model (`deploymentJob`).
    supports_deployment_jobs: ClassVar[bool] = False

    @property
    def mlflow_server(self) -> MlflowTarget | None:
        """The MLflow tracking server this target is (its URI, username, password secret), or None."""
        return None


class MlflowTarget(_Target):
    """Any MLflow tracking server.

    Credentials never live here: the providers read MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD
    (or MLFLOW_TRACKING_TOKEN) from the environment at call time, or the Pulumi *secret* config key named
    by `password_secret` (for example `mrgov:mlflowPassword`), which only names the key, never the value.
    """

    kind: Literal["mlflow"]
    tracking_uri: str
    username: str | None = None
    password_secret: str | None = None

    supports_webhooks: ClassVar[bool] = True

    @property
    def mlflow_server(self) -> MlflowTarget:
        return self


class DatabricksTarget(_Target):
    """A Databricks workspace with Unity Catalog; credentials come from Databricks' env vars or profile."""

    kind: Literal["databricks"]
    host: str | None = None
    profile: str | None = None
    # The MLflow registry URI for what the provider lacks (aliases, tags, version descriptions).
    registry_uri: str = UC_SCHEME

    needs_deployer: ClassVar[bool] = True
    supports_deployment_jobs: ClassVar[bool] = True


Target = Annotated[MlflowTarget | DatabricksTarget, Field(discriminator="kind")]
TARGET_MODELS: dict[str, type[_Target]] = {
    kind: model
    for model in (MlflowTarget, DatabricksTarget)
    for kind in get_args(model.model_fields["kind"].annotation)
}
"""Each target's config model by its `kind`, for checks on the raw document before it is typed."""


# --------------------------------------------------------------------------------------------------------
# The config document: the shape people write (merged registry.yaml + stack config).
# --------------------------------------------------------------------------------------------------------
class _Config(BaseModel):
    # Numbers in YAML (`version: 2` as a tag value) are accepted as text, as Unity Catalog stores them.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=False,
        coerce_numbers_to_str=True,
    )


class PrincipalConfig(_Config):
    """`name` or `{name, kind}`. Without kind: an email is a user, a UUID a service principal, or a group."""

    name: str
    kind: PrincipalKind | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class GrantConfig(_Config):
    """Privileges given to roles (by logical name) and/or principals (by name) on one securable."""

    roles: tuple[str, ...] = ()
    principals: tuple[PrincipalConfig, ...] = ()
    privileges: tuple[str, ...] = ()


class RoleConfig(_Config):
    description: str = ""
    model_creator: bool = False
    principals: tuple[PrincipalConfig, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"principals": value} if isinstance(value, list | tuple) else value


class CatalogConfig(_Config):
    name: str
    comment: str = ""
    owner: str | None = None
    isolation_mode: IsolationMode | None = None
    properties: dict[str, str] = {}
    adopt: bool = False
    grants: tuple[GrantConfig, ...] = ()


class SchemaConfig(_Config):
    comment: str = ""
    owner: str | None = None
    properties: dict[str, str] = {}
    grants: tuple[GrantConfig, ...] = ()


class ArchiveConfig(_Config):
    # Loosely typed: the `retention` rule says what is allowed, with the key path.
    after_days: Any = None
    keep_latest: Any = 0


class GateConfig(_Config):
    # Numbers stay loosely typed: the `promotion-gate` rule says what is allowed, with the key path.
    metric: str = ""
    higher_is_better: bool = True
    against: str = "current"
    min_delta: Any = 0
    min: Any = None
    max: Any = None


class OverrideConfig(_Config):
    reason: str = ""


class WebhookConfig(_Config):
    # `url` and `secret` may be missing here: the rules report them with their key path.
    url: str = ""
    events: tuple[str, ...] = ()
    secret: str | None = None
    description: str = ""
    status: str = "ACTIVE"


class OwnedJobConfig(_Config):
    name: str = ""
    notebook_path: str = ""
    parameters: dict[str, str] = {}
    trigger_aliases: tuple[str, ...] = (PRODUCTION_ALIAS,)


class DeploymentJobConfig(_Config):
    # `jobId` stays loosely typed (a YAML number or text): the `deployment-job` rule checks it.
    job_id: Any = None
    job: OwnedJobConfig | None = None


class ModelConfig(_Config):
    # Aliases pins and version keys stay loosely typed here: the rules report bad ones with their key path.
    schema_name: str | None = Field(None, alias="schema")
    description: str = ""
    owner: str | None = None
    tags: dict[str, str] = {}
    version_descriptions: dict[str, str] = {}
    aliases: dict[str, Any] = {}
    retain_on_delete: bool = False
    served: bool = False
    adopt: bool = False
    grants: tuple[GrantConfig, ...] = ()
    version_tags: dict[str, dict[str, str]] = {}
    archive: ArchiveConfig | None = None
    gates: dict[str, GateConfig] = {}
    overrides: dict[str, OverrideConfig] = {}
    deployment_job: DeploymentJobConfig | None = None


class GovernanceConfig(_Config):
    # Default: lowercase snake_case with at least two words, the shape of `{domain}_{use_case}_{type}`.
    model_name_pattern: str = r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$"
    model_name_hint: str = "lowercase snake_case of at least two words, like {domain}_{use_case}_{type}"
    required_tags: tuple[str, ...] = ("domain", "algorithm", "model_type")
    broad_principals: tuple[str, ...] = ("account users", "users", "all users")
    production_environments: tuple[str, ...] = ("prod",)


class StackConfig(_Config):
    """The merged config document of one stack, as validated before rules run."""

    environment: str
    target: Target
    catalog: CatalogConfig
    schemas: dict[str, SchemaConfig] = {}
    roles: dict[str, RoleConfig] = {}
    models: dict[str, ModelConfig] = {}
    protect: bool | None = None
    deployer: PrincipalConfig | None = None
    governance: GovernanceConfig = GovernanceConfig()
    webhooks: dict[str, WebhookConfig] = {}

    @property
    def is_production(self) -> bool:
        return self.environment in self.governance.production_environments

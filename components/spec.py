"""The typed stack spec: one description of the registry, merged per stack, validated before anything exists.

Two layers live here:

* the *config document* (`StackConfig` and friends): the shape people write, camelCase keys, roles by
  name, merged from the shared `registry.yaml` and the stack's `Pulumi.<stack>.yaml` (`mrgov:*` keys);
* the *resolved spec* (`StackSpec` and friends): what components consume. Roles are already resolved to
  principals, privileges are normalised and sorted, model defaults are applied, the deployer's MANAGE is
  folded into every grant list. Components need no logic of their own to use it.

`load_from_pulumi()` is the only place in the program that reads `pulumi.Config`. `build()` is the pure
equivalent (no Pulumi runtime) for unit tests and the policy pack. The merge rules and every key are
documented in docs/config.md.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import types
import typing
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml  # type: ignore[import-untyped]  # no stubs in the pinned venv
from pulumi.errors import RunError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from components import rules
from components.rules import Violation

NAMESPACE = "mrgov"
SHARED_FILE = "registry.yaml"
# Keys read from stack config; each may also appear (without the namespace) in registry.yaml.
CONFIG_KEYS = (
    "environment",
    "target",
    "catalog",
    "schemas",
    "roles",
    "modelDefaults",
    "models",
    "protect",
    "deployer",
    "governance",
    "webhooks",
)

PrincipalKind = Literal["user", "group", "service_principal"]
IsolationMode = Literal["OPEN", "ISOLATED"]
Path_ = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------------------
# Targets: shared by the config document and the resolved spec (same shape, camelCase in config).
# --------------------------------------------------------------------------------------------------------
class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


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


class DatabricksTarget(_Target):
    """A Databricks workspace with Unity Catalog; credentials come from Databricks' env vars or profile."""

    kind: Literal["databricks"]
    host: str | None = None
    profile: str | None = None
    # The MLflow registry URI for what the provider lacks (aliases, tags, version descriptions).
    registry_uri: str = "databricks-uc"


Target = Annotated[MlflowTarget | DatabricksTarget, Field(discriminator="kind")]


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
    trigger_aliases: tuple[str, ...] = (rules.PRODUCTION_ALIAS,)


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


# --------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One located problem: the file it comes from, the key path as written there, and the message."""

    rule_id: str
    severity: rules.Severity
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} {self.key}: {self.message} [{self.rule_id}]"


class SpecError(ValueError, RunError):
    """Bad stack config. The message lists every problem: file, key path, what was wrong, what is allowed.

    A RunError, so Pulumi shows the message alone, without a Python traceback in front of it.
    """

    def __init__(self, stack: str, problems: tuple[Problem, ...]) -> None:
        self.stack = stack
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"stack {stack!r} has {len(problems)} config problem(s); nothing was created:\n{lines}"
        )


# --------------------------------------------------------------------------------------------------------
# Reading and merging
# --------------------------------------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that refuses duplicate keys, which plain YAML silently resolves to the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1}); each name may appear once",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return dict(loader.construct_mapping(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file, refusing duplicate keys (a duplicate model would otherwise vanish silently)."""
    try:
        return yaml.load(path.read_text(), Loader=_StrictLoader)  # SafeLoader subclass: no objects
    except yaml.YAMLError as exc:
        raise SpecError(
            path.stem, (Problem("yaml", "mandatory", path.name, "(file)", f"is not valid YAML: {exc}"),)
        ) from None


def load_shared(project_dir: Path) -> dict[str, Any]:
    """The shared description (registry.yaml) of a project; empty if the project has none."""
    path = project_dir / SHARED_FILE
    if not path.exists():
        return {}
    data = load_yaml(path)
    return dict(data) if isinstance(data, Mapping) else {}


def load_stack_file(project_dir: Path, stack: str) -> dict[str, Any]:
    """The `mrgov:*` values of Pulumi.<stack>.yaml, without the namespace (secure values are skipped)."""
    data = load_yaml(project_dir / f"Pulumi.{stack}.yaml") or {}
    config = data.get("config") or {}
    return {
        key.split(":", 1)[1]: value
        for key, value in config.items()
        if key.startswith(f"{NAMESPACE}:") and not (isinstance(value, Mapping) and "secure" in value)
    }


def _normalise(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Shorthands to their full form, so both sources merge key by key."""
    out = {str(k): v for k, v in doc.items()}
    if isinstance(out.get("catalog"), str):
        out["catalog"] = {"name": out["catalog"]}
    roles = out.get("roles")
    if isinstance(roles, Mapping):
        out["roles"] = {k: {"principals": v} if isinstance(v, list) else v for k, v in roles.items()}
    return out


def merge(base: Any, override: Any, *, keep_nulls: bool = False) -> Any:
    """Deep merge: mappings merge key by key, anything else (lists too) is replaced; `null` deletes a key.

    With `keep_nulls` a `null` stays in the result as a marker, so it can still delete a key that a later
    merge (model defaults) would bring in.
    """
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = {str(k): v for k, v in base.items()}
        for key, value in override.items():
            key = str(key)
            if value is None and not keep_nulls:
                out.pop(key, None)
            elif key in out and value is not None:
                out[key] = merge(out[key], value, keep_nulls=keep_nulls)
            else:
                out[key] = value
        return out
    return override


def _stringify_keys(value: Any) -> Any:
    # YAML reads `1:` as an int key; Pulumi config (JSON) always has text keys. One spelling for both.
    if isinstance(value, Mapping):
        return {str(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    return value


def _drop_nulls(value: Any) -> Any:
    # After the merge a remaining `null` (say `owner: null` in registry.yaml) just means "not set".
    if isinstance(value, Mapping):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------------
# Locating problems in the two files
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Sources:
    stack: str
    stack_doc: Mapping[str, Any]
    shared_doc: Mapping[str, Any]

    @property
    def stack_file(self) -> str:
        return f"Pulumi.{self.stack}.yaml"

    def locate(self, path: Path_) -> tuple[str, str]:
        """(file, key) for a path in the merged document: where it was written, or its enclosing object."""
        candidates: list[tuple[Path_, bool]] = [(path, True), (path, False)]
        if len(path) >= 3 and path[0] == "models" and not self._model_overrides(path):
            # Values a model inherits from modelDefaults are reported where they are written.
            candidates += [(("modelDefaults", *path[2:]), True), (("modelDefaults", *path[2:]), False)]
        if (
            _per_stack(path)
            and _depth(self.stack_doc, path) < len(path)
            and _depth(self.shared_doc, path) < len(path)
        ):
            return self._render(path, True)  # missing, and it is each stack's to set
        best: tuple[int, Path_, bool] = (-1, path, True)
        for cand, in_stack in candidates:
            depth = _depth(self.stack_doc if in_stack else self.shared_doc, cand)
            if depth == len(cand):
                return self._render(cand, in_stack)
            # Deeper enclosing object wins; on a tie the shared file (where the object is declared),
            # except when neither has any of it: then it is the stack's to set.
            if cand == path and (depth > best[0] or (depth == best[0] and depth > 0 and not in_stack)):
                best = (depth, cand, in_stack)
        return self._render(best[1], best[2])

    def _model_overrides(self, path: Path_) -> bool:
        """Does the model itself set a list or value along `path`, replacing what modelDefaults says?"""
        for doc in (self.stack_doc, self.shared_doc):
            depth = _depth(doc, path)
            # Mappings merge with the defaults; a list or value met on the way replaces them.
            if any(not isinstance(_node(doc, path[:d]), Mapping) for d in range(3, depth + 1)):
                return True
        return False

    def _render(self, path: Path_, in_stack: bool) -> tuple[str, str]:
        key = format_path(path)
        return (self.stack_file, f"{NAMESPACE}:{key}") if in_stack else (SHARED_FILE, key)


def _per_stack(path: Path_) -> bool:
    """Keys that differ per environment and so belong in the stack file when they are missing."""
    return (
        path[:1] in (("target",), ("deployer",), ("environment",))
        or path[:2] == ("catalog", "name")
        or (path[:1] == ("roles",) and path[-1:] == ("principals",))
    )


def _node(doc: Any, path: Path_) -> Any:
    for seg in path:
        doc = doc[int(seg)] if isinstance(doc, list) else doc[str(seg)]
    return doc


def _depth(doc: Any, path: Path_) -> int:
    node = doc
    for i, seg in enumerate(path):
        if isinstance(node, Mapping) and str(seg) in node:
            node = node[str(seg)]
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        else:
            return i
    return len(path)


def format_path(path: Path_) -> str:
    """`models.cost_anomaly_detector.grants[0].privileges[1]`: the form `pulumi config set --path` takes."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else seg
    return out


# --------------------------------------------------------------------------------------------------------
# Pydantic errors into located problems
# --------------------------------------------------------------------------------------------------------
def _explain(err: Mapping[str, Any], loc: tuple[Any, ...]) -> tuple[Path_, str, Any]:
    """A document path (union tags removed), a message that says what is allowed, the expected type."""
    path: list[str | int] = []
    tp: Any = StackConfig
    allowed: list[str] = []
    for seg in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(f.alias or n): f for n, f in tp.model_fields.items()}
            allowed = sorted(fields)
            path.append(seg)
            tp = fields[seg].annotation if seg in fields else None
        elif _is_tagged_union(tp):
            tp = next((m for m in _union_members(tp) if _tag_of(m) == seg), None)  # the tag: not shown
        elif typing.get_origin(tp) in (dict, Mapping):
            path.append(seg)
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) in (tuple, list):
            path.append(seg)
            tp = typing.get_args(tp)[0]
        else:
            path.append(seg)
            tp = None
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "missing":
        msg = "is required"
    elif kind == "extra_forbidden":
        msg = f"unknown key; allowed keys: {', '.join(allowed)}"
    elif kind == "union_tag_invalid":
        msg = f"unknown kind {ctx.get('tag')!r}; allowed: {ctx.get('expected_tags')}"
    elif kind == "union_tag_not_found":
        msg = "kind is required; allowed: 'mlflow', 'databricks'"
    elif kind == "literal_error":
        msg = f"got {err.get('input')!r}; allowed: {ctx.get('expected')}"
    elif kind in ("model_attributes_type", "model_type", "dict_type"):
        msg = f"must be a mapping, got {err.get('input')!r}"
    elif kind in ("tuple_type", "list_type"):
        msg = f"must be a list, got {err.get('input')!r}"
    elif kind == "string_type":
        msg = f"must be text, got {err.get('input')!r}"
    elif kind in ("bool_type", "bool_parsing"):
        msg = f"must be true or false, got {err.get('input')!r}"
    elif kind in ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing"):
        msg = f"must be a number, got {err.get('input')!r}"
    else:
        msg = f"{err['msg']}, got {err.get('input')!r}"
    return tuple(path), msg, tp


_PLACEHOLDER_TARGET = {"kind": "mlflow", "trackingUri": "http://placeholder.invalid"}


def _validate(doc: Mapping[str, Any]) -> tuple[StackConfig | None, list[tuple[Path_, str]]]:
    """Validate the document; on structural errors, patch the bad parts and validate again.

    The patched document is only used so the governance rules can still run and every problem of the
    stack is reported at once; the structural errors themselves are what the first pass found.
    """
    work: dict[str, Any] = copy.deepcopy(dict(doc))
    found: list[tuple[Path_, str]] = []
    for attempt in range(6):
        try:
            return StackConfig.model_validate(work), found
        except ValidationError as exc:
            for err in exc.errors():
                path, msg, tp = _explain(err, tuple(err["loc"]))
                if attempt == 0:
                    found.append((path, msg))
                _patch(work, path, str(err["type"]), tp)
    return None, found


def _touches(path: Path_, patched: list[Path_]) -> bool:
    """Does a rule's finding concern a patched part: inside it, or the list item that holds it?"""
    for bad in patched:
        if path[: len(bad)] == bad:
            return True
        if path and isinstance(path[-1], int) and bad[: len(path)] == path:
            return True
    return False


def _patch(doc: dict[str, Any], path: Path_, kind: str, tp: Any) -> None:
    if path[:1] == ("target",) and (kind.startswith("union_tag") or len(path) == 1):
        doc["target"] = dict(_PLACEHOLDER_TARGET)
    elif kind == "missing":
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if (isinstance(tp, type) and issubclass(tp, BaseModel)) or origin in (dict, Mapping):
            placeholder: Any = {}
        elif origin in (tuple, list):
            placeholder = []
        elif tp is bool:
            placeholder = False
        else:
            placeholder = "placeholder"
        _set(doc, path, placeholder)
    elif path and isinstance(path[-1], int):
        # A bad list item is replaced, not removed, so the indexes of the items after it keep meaning.
        tp = _unwrap(tp)
        _set(doc, path, {} if isinstance(tp, type) and issubclass(tp, BaseModel) else "placeholder")
    else:
        _drop(doc, path)  # a required key comes back as "missing" next round and gets a placeholder


def _set(doc: dict[str, Any], path: Path_, value: Any) -> None:
    node: Any = doc
    for seg in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(str(seg), {})
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        node[str(last)] = value
    elif isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
        node[last] = value


def _unwrap(tp: Any) -> Any:
    # Optional[X] -> X; Annotated[X, ...] stays (the tagged union lives in it).
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_tagged_union(tp: Any) -> bool:
    # Pydantic keeps the bare union as the field annotation and the discriminator aside.
    return bool(_union_members(tp)) and all(_tag_of(m) is not None for m in _union_members(tp))


def _union_members(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()


def _tag_of(member: Any) -> str | None:
    field = getattr(member, "model_fields", {}).get("kind")
    args = typing.get_args(field.annotation) if field is not None else ()
    return str(args[0]) if args else None


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
                rules.normalise_privilege(x) for x in entry.privileges
            )
    if deployer is not None and deployer.name != owner:
        # Grants are authoritative per securable: without this the deployer would revoke its own MANAGE.
        # An owner holds every privilege already.
        acc.setdefault(deployer.name, (deployer.kind, set()))[1].update(DEPLOYER_PRIVILEGES[securable])
    return tuple(
        Grant(principal=name, principal_kind=kind, privileges=tuple(sorted(privs)))
        for name, (kind, privs) in sorted(acc.items())
    )


def _resolve(stack: str, cfg: StackConfig, warnings: tuple[str, ...]) -> StackSpec:
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
# Entry points
# --------------------------------------------------------------------------------------------------------
def build(
    stack: str,
    raw: Mapping[str, Any],
    project_dir: Path | None = None,
    *,
    shared: Mapping[str, Any] | None = None,
    secret_keys: Collection[str] | None = None,
) -> StackSpec:
    """Merge the shared description with one stack's raw config, validate it all, resolve it.

    `raw` holds the stack's config values, keys with or without the `mrgov:` prefix (other namespaces are
    ignored), values already parsed (not JSON text). The shared description is `shared` if given, else
    `project_dir/registry.yaml` if it exists. `secret_keys`, when known, lets the spec check that a
    password key it names really is a secret. Raises SpecError listing every mandatory problem; advisory
    ones come back in `StackSpec.warnings`. Needs no Pulumi runtime.
    """
    stack_doc = _stringify_keys(
        _normalise({k.split(":", 1)[1] if ":" in k else k: v for k, v in raw.items() if _ours(k)})
    )
    shared_doc = _stringify_keys(
        _normalise(shared if shared is not None else load_shared(project_dir) if project_dir else {})
    )
    sources = _Sources(stack, stack_doc, shared_doc)
    doc: dict[str, Any] = merge(shared_doc, stack_doc, keep_nulls=True)
    # Defaults every model inherits; a model's own keys win (mappings merge, lists replace).
    defaults = _drop_nulls(doc.pop("modelDefaults", None) or {})
    if isinstance(doc.get("models"), Mapping):
        doc["models"] = {
            name: merge(defaults, m) if isinstance(m, Mapping) else m for name, m in doc["models"].items()
        }
    doc = _drop_nulls(doc)
    doc.setdefault("environment", stack)

    violations: list[Violation] = list(rules.check_raw(doc, secret_keys))
    for v in violations:
        _drop(doc, v.path)  # reported already; keep pydantic from repeating it as "unknown key"
    cfg, structural = _validate(doc)
    problems: list[Problem] = []
    for path, msg in structural:
        file, key = sources.locate(path)
        problems.append(Problem("structure", "mandatory", file, key, msg))
    if cfg is not None:
        # Rules see a patched document when the structure was bad; what they say about patched parts
        # would only repeat the structural error, so it is left out.
        violations += [v for v in rules.evaluate(cfg) if not _touches(v.path, [p for p, _ in structural])]
    for v in violations:
        file, key = sources.locate(v.path)
        if v.written_in != "anywhere":
            in_stack_model = file == sources.stack_file and key.startswith(f"{NAMESPACE}:models.")
            if in_stack_model != (v.written_in == "stack-model"):
                continue  # the rule counts the value only where it is written elsewhere
        problems.append(Problem(v.rule_id, v.severity, file, key, v.message))
    problems = list(dict.fromkeys(problems))  # inherited defaults report once
    errors = tuple(p for p in problems if p.severity == "mandatory")
    if errors:
        raise SpecError(stack, errors)
    assert cfg is not None
    return _with_events(
        cfg, _resolve(stack, cfg, tuple(str(p) for p in problems if p.severity == "advisory"))
    )


def build_from_files(project_dir: Path, stack: str) -> StackSpec:
    """`build()` from the files on disk: Pulumi.<stack>.yaml and registry.yaml (for tests and tooling)."""
    return build(stack, load_stack_file(project_dir, stack), project_dir)


def _ours(key: str) -> bool:
    return ":" not in key or key.startswith(f"{NAMESPACE}:")


def _drop(doc: dict[str, Any], path: Path_) -> None:
    if not path:
        return
    node: Any = doc
    for seg in path[:-1]:
        if isinstance(node, Mapping):
            node = node.get(str(seg))
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        else:
            return
    if isinstance(node, dict):
        node.pop(str(path[-1]), None)


def _config_keys_in_runtime() -> Iterator[str]:
    # The SDK has no public "list all keys"; its config map lets us report misspelt mrgov:* keys too.
    try:
        from pulumi.runtime import config as runtime_config

        yield from runtime_config.CONFIG.get()
    except (ImportError, AttributeError, LookupError):
        return


def decode_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """Pulumi hands config values over as text: objects, lists and booleans as JSON. Decode those.

    For callers that hold the raw config map of a stack (the policy pack, scripts) before `build()`.
    Values that are not text, or text that is not JSON (`mrgov:catalog: dev_catalog`), pass unchanged.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[key] = value
        if isinstance(value, str) and (value[:1] in ("{", "[") or value in ("true", "false")):
            # Text that is not JSON stays text; validation names the key if text is wrong there.
            with contextlib.suppress(json.JSONDecodeError):
                out[key] = json.loads(value)
    return out


def load_from_pulumi() -> StackSpec:
    """Read this stack's config through pulumi.Config, merge registry.yaml, validate, log warnings."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    cfg = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    keys = set(CONFIG_KEYS) | {
        k.split(":", 1)[1] for k in _config_keys_in_runtime() if k.startswith(f"{NAMESPACE}:")
    }
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | {
        k for k in _config_keys_in_runtime() if runtime_config.is_config_secret(k)
    }
    for key in sorted(keys):
        if f"{NAMESPACE}:{key}" in secret_keys:
            continue  # secret values are never part of the spec; only their key names are
        value = cfg.get(key)
        if value is not None:
            raw[key] = value
    spec = build(pulumi.get_stack(), decode_config(raw), _project_dir(), secret_keys=secret_keys)
    for warning in spec.warnings:
        pulumi.log.warn(warning)
    return spec


def mlflow_password(spec: StackSpec) -> Any:
    """The MLflow password from the secret config key the stack's target names, as a Pulumi secret.

    None when the target names none: the provider then reads MLFLOW_TRACKING_PASSWORD from the
    environment at call time, and nothing about the password reaches the state.
    """
    import pulumi

    target = spec.target
    if not isinstance(target, MlflowTarget) or not target.password_secret:
        return None
    namespace, _, key = target.password_secret.rpartition(":")
    return pulumi.Config(namespace or NAMESPACE).require_secret(key)


# --------------------------------------------------------------------------------------------------------
# Registry events: the stack's webhooks (MLflow target), each model's deployment job (Databricks target)
# --------------------------------------------------------------------------------------------------------
def _with_events(cfg: StackConfig, spec: StackSpec) -> StackSpec:
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


def webhook_secrets(spec: StackSpec) -> dict[str, Any]:
    """Each webhook's signing secret, from the secret config key its `secret` names, as a Pulumi secret.

    The same way as `mlflow_password`: the spec only names the key (validation checked that Pulumi
    holds it as a secret), the value goes to the provider as a secret input and is encrypted in the
    state.
    """
    import pulumi

    out: dict[str, Any] = {}
    for hook in spec.webhooks:
        namespace, _, key = hook.secret_key.rpartition(":")
        out[hook.name] = pulumi.Config(namespace or NAMESPACE).require_secret(key)
    return out


def _project_dir() -> Path:
    import pulumi

    try:
        root = Path(pulumi.get_root_directory())
    except Exception:  # noqa: BLE001 - older engines have no root directory
        return Path.cwd()
    # Under mocks the "root directory" is a placeholder string, not a folder.
    return root if (root / "Pulumi.yaml").exists() else Path.cwd()

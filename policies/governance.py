"""The governance rules of components/rules.py, applied to the resources of any Pulumi program.

The stack spec checks a stack's *config* before anything is registered; this module checks *resources*,
so the same rules hold for programs that never use our spec (a notebook job that registers a model with
pulumi_databricks, a team's own Pulumi program on the mrgov provider). It is pure: resources come in as
`Res` values (type, name, URN, plain inputs, protect, and the provider resource they use), findings go
out as `Finding` values. `policies/pack.py` wraps it in a pulumi-policy PolicyPack; unit tests call it
directly.

One implementation of each rule: every check here calls the value-level core of components/rules.py
that the spec's rule calls too (`privilege_problem`, `tag_limit_problems`, `undescribed_pins`, ...),
with the values it reads from the resources' inputs. So the ids, severities and messages are the
spec's, word for word; the pack only says where (which resource, which input). What only a resource
graph can show (the same model declared by two resources, grants that take MANAGE from the deployer) is
checked here, under the rule id it belongs to.

The mrgov resources are those of our provider (provider/), by the type tokens of their declarations:
`mrgov:registry:RegisteredModel`, `mrgov:registry:ModelMetadata` (one per model: tags, alias pins,
version descriptions and version tags as maps), `mrgov:auth:ModelPermissions` (one per model: user and
role levels as maps), `mrgov:auth:Role`, and the provider resource `pulumi:providers:mrgov`, which holds
the registry URI (`registryUri: databricks-uc` for Unity Catalog) and the credentials.

Rules that only make sense on the spec's own config (`model-schema`, `unknown-role`,
`create-model-creators`: they need the spec's roles and schema declarations) are listed in
`SPEC_ONLY`, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from components import rules
from components.spec import DEPLOYER_PRIVILEGES, GovernanceConfig
from provider.auth.model_permissions import ModelPermissionsProps
from provider.auth.role import RoleProps
from provider.auth.snapshot import DEFAULT_WORKSPACE
from provider.config import ProviderConfig
from provider.declare import specs
from provider.limits import is_uc, normalise_privilege
from provider.registry.model_metadata import ModelMetadataProps
from provider.registry.registered_model import RegisteredModelProps

PACK_NAME = "mrgov"

Kind = Literal[
    "catalog",
    "schema",
    "uc_model",
    "grants",
    "grant",
    "databricks_provider",
    "mrgov_provider",
    "mlflow_model",
    "model_metadata",
    "model_permissions",
    "mlflow_role",
]

TYPES: Mapping[str, Kind] = {
    "databricks:index/catalog:Catalog": "catalog",
    "databricks:index/schema:Schema": "schema",
    "databricks:index/registeredModel:RegisteredModel": "uc_model",
    "databricks:index/grants:Grants": "grants",
    "databricks:index/grant:Grant": "grant",
    "pulumi:providers:databricks": "databricks_provider",
    # The mrgov provider's own resources (provider/), by the tokens their declarations carry.
    ProviderConfig.TOKEN: "mrgov_provider",
    RegisteredModelProps.TOKEN: "mlflow_model",
    ModelMetadataProps.TOKEN: "model_metadata",
    ModelPermissionsProps.TOKEN: "model_permissions",
    RoleProps.TOKEN: "mlflow_role",
}

KIND_LABEL: Mapping[Kind, str] = {
    "catalog": "databricks.Catalog",
    "schema": "databricks.Schema",
    "uc_model": "databricks.RegisteredModel",
    "grants": "databricks.Grants",
    "grant": "databricks.Grant",
    "databricks_provider": "databricks provider",
    "mrgov_provider": "mrgov provider",
    "mlflow_model": "mrgov RegisteredModel",
    "model_metadata": "mrgov ModelMetadata",
    "model_permissions": "mrgov ModelPermissions",
    "mlflow_role": "mrgov Role",
}

DATABRICKS_KINDS: frozenset[Kind] = frozenset(
    ("catalog", "schema", "uc_model", "grants", "grant", "databricks_provider")
)
"""The pulumi-databricks resources we know: a stack that has any of them targets Unity Catalog."""

PROVIDER_SECRET_INPUTS: frozenset[str] = frozenset(s.name for s in specs(ProviderConfig) if s.role.secret)
"""The mrgov provider's credential inputs (`password`, `token`). It declares them secret, and its SDK
(provider/sdk.py) always sends them as Pulumi secrets, so they are encrypted in the state and masked in
previews: that is how a stack's secret config (`target.passwordSecret`) reaches the provider."""

# The securables a Grants/Grant resource can name that our rules know the privileges of.
GRANT_SECURABLES: tuple[tuple[str, rules.Securable], ...] = (
    ("catalog", "catalog"),
    ("schema", "schema"),
    ("model", "model"),
)


class _Unknown:
    """A value the engine does not know yet (preview of something that depends on a new resource)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()


def known(value: Any) -> bool:
    return value is not UNKNOWN


@dataclass(frozen=True)
class Res:
    """One resource as a policy sees it: its type, logical name, URN, inputs and `protect` option.

    `props` holds plain values (dicts, lists, text, numbers); a value unknown during preview is UNKNOWN.
    `provider` is the provider resource it is registered with (its type, name, URN and inputs), when
    the engine says; None when it does not.
    """

    type: str
    name: str
    urn: str = ""
    props: Mapping[str, Any] = field(default_factory=dict)
    protect: bool = False
    provider: Res | None = None

    @property
    def stack(self) -> str:
        """The stack name, from the URN (`urn:pulumi:<stack>::<project>::<type>::<name>`)."""
        head = self.urn.split("::", 1)[0]
        return head.split(":", 2)[2] if head.count(":") >= 2 else ""

    @property
    def kind(self) -> Kind | None:
        return kind_of(self.type)

    def get(self, key: str, default: Any = None) -> Any:
        return self.props.get(key, default)

    def text(self, key: str) -> str | None:
        """The input as text; None if it is missing, unknown or not text."""
        value = self.props.get(key)
        return value if isinstance(value, str) else None

    def mapping(self, key: str) -> Mapping[str, Any] | None:
        """A map input (`{}` when it is missing or null); None when it is unknown or not a map."""
        value = self.props.get(key)
        if value is None:
            return {}
        return value if isinstance(value, Mapping) else None

    @property
    def label(self) -> str:
        """How messages name the resource: its kind and logical name, and the model it is about."""
        kind = self.kind
        text = f"{KIND_LABEL[kind] if kind else self.type} {self.name!r}"
        model = model_full_name(self)
        return f"{text} (model {model!r})" if model else text


@dataclass(frozen=True)
class Finding:
    """A rule broken by a resource (or by the stack as a whole): what the policy engine reports."""

    rule_id: str
    severity: rules.Severity
    message: str
    urn: str = ""


def kind_of(type_: str) -> Kind | None:
    """Which of the resources we govern this type token is, or None for anything else."""
    return TYPES.get(type_)


# --------------------------------------------------------------------------------------------------------
# The rules' ids, severities and titles, and what a finding says
# --------------------------------------------------------------------------------------------------------
SEVERITY: Mapping[str, rules.Severity] = {
    **{r.id: r.severity for r in rules.RULES},
    **{rid: sev for rid, sev, _title in rules.RAW_RULES},
}
TITLE: Mapping[str, str] = {
    **{r.id: r.title for r in rules.RULES},
    **{rid: title for rid, _sev, title in rules.RAW_RULES},
}
_DEFAULTS = GovernanceConfig()


def _finding(rule_id: str, res: Res, message: str) -> Finding:
    return Finding(rule_id, SEVERITY[rule_id], f"{res.label}: {message}", res.urn)


def _plain_map(value: Any) -> dict[str, str] | None:
    """A {text: text} map of known values (`{}` for null), or None when it is unknown or not a map."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return None
    return {str(k): str(v) for k, v in value.items() if known(v) and v is not None}


def _model_parts(full_name: str) -> tuple[str | None, str | None, str]:
    """(catalog, schema, model) of `catalog.schema.model`; a shorter name is just the model."""
    parts = full_name.split(".")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return None, None, full_name


def model_full_name(res: Res) -> str | None:
    """The registered model a resource is about, as `catalog.schema.model` (or the MLflow name)."""
    kind = res.kind
    if kind == "uc_model":
        parts = [res.text("catalogName"), res.text("schemaName"), res.text("name")]
        return ".".join(p for p in parts if p) if all(parts) else None
    if kind == "mlflow_model":
        return res.text("name")
    if kind in ("model_metadata", "model_permissions"):
        return res.text("model")
    return None


def provider_registry(provider: Res | None) -> str | None:
    """The registry a mrgov provider resource's inputs name, or None when they do not say.

    As the provider resolves it (provider/config.py `connect`): `registryUri`, else the tracking server
    itself. A `databricks` tracking URI without a `registryUri` does not say (MLflow reads the registry
    from MLFLOW_REGISTRY_URI, often `databricks-uc`), nor does a provider configured from the
    environment, nor a value unknown during preview.
    """
    if provider is None or provider.kind != "mrgov_provider":
        return None
    registry, tracking = provider.get("registryUri"), provider.get("trackingUri")
    if isinstance(registry, str) and registry:
        return registry
    if registry in (None, "") and isinstance(tracking, str) and re.match(r"^https?://", tracking):
        return tracking
    return None


def on_unity_catalog(res: Res, resources: Sequence[Res]) -> bool:
    """True when `res` (a ModelMetadata) goes to a Unity Catalog registry: its provider's `registryUri`
    is `databricks-uc`.

    Stack policies get each resource with its provider resource (the engine sends it, default
    providers too). When the provider's inputs do not name the registry (see `provider_registry`), or
    no provider came with the resource, the answer is whether the stack has pulumi-databricks resources,
    as the stacks of this project's Databricks target do and its MLflow target never does.
    """
    registry = provider_registry(res.provider)
    if registry is not None:
        return is_uc(registry)
    return any(r.kind in DATABRICKS_KINDS for r in resources)


# --------------------------------------------------------------------------------------------------------
# Resource rules
# --------------------------------------------------------------------------------------------------------
Config = Mapping[str, Any]


def check_securable_name(res: Res, _config: Config) -> Iterator[Finding]:
    names: list[tuple[str, str | None]] = []
    if res.kind == "catalog":
        names = [("catalog", res.text("name"))]
    elif res.kind == "schema":
        names = [("catalog", res.text("catalogName")), ("schema", res.text("name"))]
    elif res.kind == "uc_model":
        names = [("catalog", res.text("catalogName")), ("schema", res.text("schemaName"))]
    elif res.kind == "mlflow_model" and res.text("name"):
        catalog, schema, _model = _model_parts(res.text("name") or "")
        if catalog is not None:
            names = [("catalog", catalog), ("schema", schema)]
    for what, name in names:
        problem = rules.identifier_problem(what, name) if name is not None else None
        if problem:
            yield _finding("securable-name", res, problem)


def check_model_name(res: Res, config: Config) -> Iterator[Finding]:
    if res.kind not in ("uc_model", "mlflow_model"):
        return
    name = res.text("name")
    if name is None:
        return
    model = _model_parts(name)[2] if res.kind == "mlflow_model" else name
    pattern = str(config.get("modelNamePattern") or _DEFAULTS.model_name_pattern)
    hint = str(config.get("modelNameHint") or _DEFAULTS.model_name_hint)
    problem = rules.model_name_problem(model, pattern, hint)
    if problem:
        yield _finding("model-name", res, problem)


def check_model_description(res: Res, _config: Config) -> Iterator[Finding]:
    key = {"uc_model": "comment", "mlflow_model": "description"}.get(res.kind or "")
    if key is None or not known(res.get(key)):
        return
    text = res.get(key)
    if problem := rules.description_problem(text if isinstance(text, str) else ""):
        yield _finding("model-description", res, f"{key} {problem}")


def _resource_tags(res: Res) -> tuple[str, dict[str, str] | None] | None:
    """(input name, tags) of a resource that sets a model's tags; tags are None while unknown."""
    prop = {"model_metadata": "tags", "mlflow_model": "initialTags"}.get(res.kind or "")
    if prop is None:
        return None
    return prop, _plain_map(res.get(prop))


def _aliases_of(res: Res) -> Mapping[str, Any] | None:
    """A ModelMetadata's alias pins {alias: version}; None for other resources or while unknown."""
    return res.mapping("aliases") if res.kind == "model_metadata" else None


def check_alias_name(res: Res, _config: Config) -> Iterator[Finding]:
    for alias in _aliases_of(res) or {}:
        problem = rules.alias_problem(alias)
        if problem:
            yield _finding("alias-name", res, problem)


def check_alias_version(res: Res, _config: Config) -> Iterator[Finding]:
    for alias, version in (_aliases_of(res) or {}).items():
        problem = rules.version_problem(version) if known(version) else None
        if problem:
            yield _finding("alias-version", res, f"alias {alias!r}: {problem}")


def _version_texts(res: Res) -> dict[str, str]:
    """A ModelMetadata's known version descriptions {version key: text} (a text that is not text: "")."""
    described = res.mapping("versionDescriptions") if res.kind == "model_metadata" else None
    return {str(k): t if isinstance(t, str) else "" for k, t in (described or {}).items() if known(t)}


def check_version_description(res: Res, _config: Config) -> Iterator[Finding]:
    for version, text in _version_texts(res).items():
        if problem := rules.version_description_problem(version, text):
            yield _finding("version-description", res, f"version {version}: {problem}")


@dataclass(frozen=True)
class _GrantBlock:
    principal: Any
    privileges: list[Any]


def grant_target(res: Res) -> tuple[rules.Securable, str] | None:
    """(securable kind, full name) that a Grants/Grant resource is about, when our rules know it."""
    for key, securable in GRANT_SECURABLES:
        value = res.get(key)
        if isinstance(value, str):
            return securable, value
    return None


def grant_blocks(res: Res) -> list[_GrantBlock]:
    """The principal/privileges pairs of a Grants (a list) or a Grant (one)."""
    if res.kind == "grant":
        privileges = res.get("privileges")
        return [_GrantBlock(res.get("principal"), list(privileges) if isinstance(privileges, list) else [])]
    if res.kind != "grants" or not isinstance(res.get("grants"), list):
        return []
    out = []
    for block in res.get("grants"):
        if isinstance(block, Mapping):
            privileges = block.get("privileges")
            out.append(
                _GrantBlock(block.get("principal"), list(privileges) if isinstance(privileges, list) else [])
            )
    return out


@dataclass(frozen=True)
class _Grant:
    """One grant block with known values: its principal ("" when not text) and privileges as text."""

    principal: str
    privileges: list[str]


def _grants_on(res: Res) -> tuple[rules.Securable, str, list[_Grant]] | None:
    """(securable kind, full name, grants) of a Grants/Grant resource on a securable our rules know;
    None for any other resource, or while a principal or privilege is unknown."""
    target = grant_target(res)
    blocks = grant_blocks(res)
    if target is None or not all(known(b.principal) and all(known(p) for p in b.privileges) for b in blocks):
        return None
    grants = [
        _Grant(b.principal if isinstance(b.principal, str) else "", [str(p) for p in b.privileges])
        for b in blocks
    ]
    return target[0], target[1], grants


def _grant_findings(
    rule_id: str, res: Res, problems: Callable[[rules.Securable, _Grant], Iterable[str | None]]
) -> Iterator[Finding]:
    """A finding for each problem (None: fine) of each grant of `res`, saying on what and to whom."""
    found = _grants_on(res)
    if found is None:
        return
    securable, full_name, grants = found
    for grant in grants:
        who = f" to {grant.principal!r}" if grant.principal else ""
        for problem in problems(securable, grant):
            if problem:
                yield _finding(rule_id, res, f"grant on {securable} {full_name!r}{who}: {problem}")


def check_privilege(res: Res, _config: Config) -> Iterator[Finding]:
    yield from _grant_findings(
        "privilege", res, lambda securable, g: [rules.privilege_problem(securable, p) for p in g.privileges]
    )


def check_grant_shape(res: Res, _config: Config) -> Iterator[Finding]:
    # A grant block names one principal: it never lacks a grantee, only privileges.
    yield from _grant_findings(
        "grant-shape", res, lambda _s, g: [p for _where, p in rules.grant_shape_problems(1, g.privileges)]
    )


def check_broad_all_privileges(res: Res, config: Config) -> Iterator[Finding]:
    configured = config.get("broadPrincipals")
    broad = [str(b) for b in (configured if configured is not None else _DEFAULTS.broad_principals)]
    yield from _grant_findings(
        "broad-all-privileges",
        res,
        lambda _s, g: [rules.broad_all_privileges_problem(g.privileges, [g.principal], broad)],
    )


def check_principal_name(res: Res, _config: Config) -> Iterator[Finding]:
    if res.kind in ("grants", "grant"):
        yield from _grant_findings(
            "principal-name", res, lambda _s, g: [rules.principal_name_problem(g.principal)]
        )
        return
    names: list[tuple[str, Any]] = []
    if res.kind == "model_permissions":
        # Each user and role a ModelPermissions gives a level to.
        names = [(f"{prop} key", name) for prop in ("users", "roles") for name in res.mapping(prop) or {}]
    elif res.kind == "mlflow_role" and known(res.get("name")):
        names = [("name", res.get("name"))]
    for where, name in names:
        if problem := rules.principal_name_problem(name if isinstance(name, str) else ""):
            shown = f"{where} {name!r}" if where != "name" else where
            yield _finding("principal-name", res, f"{shown} {problem}")


_DATABRICKS_TRACKING = re.compile(r"^databricks(://\S+)?$")
"""The Databricks workspace as MLflow's tracking URI (`databricks`, `databricks://<profile>`)."""


def check_tracking_uri(res: Res, _config: Config) -> Iterator[Finding]:
    # The registry a mrgov resource speaks to is its provider's: the check is on the provider resource.
    if res.kind != "mrgov_provider":
        return
    registry = res.text("registryUri")
    uc = registry is not None and is_uc(registry)
    for key in ("registryUri", "trackingUri"):
        uri = res.text(key)
        if not uri or (key == "registryUri" and uc):
            continue
        if key == "trackingUri" and uc and _DATABRICKS_TRACKING.match(uri):
            continue  # Unity Catalog's registry with its workspace as the tracking server
        if problem := rules.tracking_uri_problem(uri):
            yield _finding("tracking-uri", res, f"{key} {problem}")


def check_plaintext_credentials(res: Res, _config: Config) -> Iterator[Finding]:
    if res.kind is None:
        return
    # Credentials in resource inputs end up in the state (and, unless secret, in clear in previews).
    # The mrgov provider's own credential inputs are declared secret and always sent as secrets by its
    # SDK (PROVIDER_SECRET_INPUTS); the pack is given inputs with the secret marker taken off, so it
    # cannot tell those apart from clear text, and lets them be. Any other credential input is refused.
    exempt = PROVIDER_SECRET_INPUTS if res.kind == "mrgov_provider" else frozenset()
    present = {
        k: v
        for k, v in res.props.items()
        if v not in (None, "") and k not in exempt and k.replace("_", "").lower() in rules.CREDENTIAL_KEYS
    }
    for v in rules.check_raw({"target": present}):
        yield _finding("no-plaintext-credentials", res, f"input {v.path[-1]!r}: {v.message}")


def _production_stacks(config: Config) -> set[str]:
    stacks = config.get("productionStacks")
    return set(stacks if stacks is not None else _DEFAULTS.production_environments)


def check_protect_production(res: Res, config: Config) -> Iterator[Finding]:
    if res.kind not in ("catalog", "schema", "uc_model", "mlflow_model") or res.protect:
        return
    if res.stack not in _production_stacks(config):
        return
    yield _finding("protect-production", res, rules.unprotected_problem(res.stack, "is not set"))


# --------------------------------------------------------------------------------------------------------
# Stack rules: they need several resources at once
# --------------------------------------------------------------------------------------------------------
def _models(resources: Sequence[Res]) -> dict[str, list[Res]]:
    """{model full name: the resources that declare the model itself}."""
    out: dict[str, list[Res]] = {}
    for res in resources:
        if res.kind in ("uc_model", "mlflow_model"):
            name = model_full_name(res)
            if name:
                out.setdefault(name, []).append(res)
    return out


def check_required_tags(resources: Sequence[Res], config: Config) -> Iterator[Finding]:
    required = config.get("requiredTags")
    required_tags = list(required if required is not None else _DEFAULTS.required_tags)
    tags_of: dict[str, dict[str, str]] = {}
    unknown: set[str] = set()
    for res in resources:
        found = _resource_tags(res)
        name = model_full_name(res)
        if name is None or found is None:
            continue
        if found[1] is None:
            unknown.add(name)  # tags computed from something not known yet: nothing to say in preview
        else:
            tags_of.setdefault(name, {}).update(found[1])
    for name, declared_by in sorted(_models(resources).items()):
        if name in unknown:
            continue
        for _tag, problem in rules.missing_tags(tags_of.get(name, {}), required_tags):
            yield _finding("required-tags", declared_by[0], problem)


def _tag_limit_findings(
    res: Res, prop: str, value: Any, per: Literal["model", "version"]
) -> Iterator[Finding]:
    tags = _plain_map(value)
    if tags is None:
        return  # not known yet in preview
    for key, problem in rules.tag_limit_problems(tags, per):
        where = prop if key is None else f"{prop}.{key}"
        yield _finding("tag-limits", res, f"{where}: {problem}")


def check_tag_limits(resources: Sequence[Res], _config: Config) -> Iterator[Finding]:
    # Unity Catalog's limits, so they apply to the ModelMetadata that goes to Unity Catalog: its model's
    # tags and its versions' tags. A stack rule, not a resource rule: when the provider's inputs do not
    # name the registry (a provider configured from the environment) or no provider came with the
    # resource, a resource policy could not look further, while a stack policy falls back to whether
    # the stack has databricks resources (`on_unity_catalog`).
    for res in resources:
        if res.kind != "model_metadata" or not on_unity_catalog(res, resources):
            continue
        yield from _tag_limit_findings(res, "tags", res.get("tags"), "model")
        for version, tags in sorted((res.mapping("versionTags") or {}).items()):
            if known(tags):
                yield from _tag_limit_findings(res, f"versionTags.{version}", tags, "version")


def _declared_names(res: Res) -> Iterator[tuple[str, str, str]]:
    """(what, name as shown, key to compare) for each named thing a resource declares."""
    name = model_full_name(res)
    if res.kind in ("uc_model", "mlflow_model") and name:
        yield "model", name, name.lower()
    if res.kind == "model_metadata" and name:
        seen: set[str] = set()  # within one resource, the spec's own check reports it
        for alias in _aliases_of(res) or {}:
            shown = f"{name}@{alias}"
            if shown.lower() not in seen:
                seen.add(shown.lower())
                yield "alias", shown, shown.lower()
    if res.kind == "catalog" and res.text("name"):
        yield "catalog", res.text("name") or "", (res.text("name") or "").lower()
    if res.kind == "schema" and res.text("catalogName") and res.text("name"):
        shown = f"{res.text('catalogName')}.{res.text('name')}"
        yield "schema", shown, shown.lower()


def _alias_duplicates(res: Res) -> Iterator[Finding]:
    """Two pins of one ModelMetadata whose aliases differ only in case."""
    for alias, problem in rules.duplicate_aliases(_aliases_of(res) or {}):
        yield _finding("unique-names", res, f"aliases.{alias}: {problem}")


def _grant_list_duplicates(res: Res) -> Iterator[Finding]:
    """A principal in two blocks of one Grants, or a privilege twice in one block."""
    target = grant_target(res)
    blocks = grant_blocks(res)
    if target is None or not all(isinstance(b.principal, str) for b in blocks):
        return
    on = f"grants on {target[0]} {target[1]!r}"
    # The principals of all blocks are one list, as a grant's are in the spec; each block's privileges
    # another, in the spelling the spec compares (`execute` is EXECUTE).
    for _j, problem in rules.duplicate_names([b.principal for b in blocks]):
        yield _finding("unique-names", res, f"{on}, principals: {problem}")
    for b in blocks:
        privileges = [normalise_privilege(str(p)) for p in b.privileges if known(p)]
        for _j, problem in rules.duplicate_names(privileges):
            yield _finding("unique-names", res, f"{on}, privileges of {b.principal!r}: {problem}")


def check_unique_names(resources: Sequence[Res], _config: Config) -> Iterator[Finding]:
    # Unity Catalog names are case-insensitive, so `Budget_Forecaster` and `budget_forecaster` collide;
    # two resources that manage one model (or one alias) fight over it on every `up`.
    groups: dict[tuple[str, str], list[tuple[str, Res]]] = {}
    for res in resources:
        for what, shown, key in _declared_names(res):
            groups.setdefault((what, key), []).append((shown, res))
    for (what, _key), found in sorted(groups.items()):
        if len(found) < 2:
            continue
        names = ", ".join(repr(r.name) for _shown, r in found)
        for shown, res in found[1:]:
            yield _finding(
                "unique-names",
                res,
                f"{what} {shown!r} is declared by {len(found)} resources ({names}); names are "
                f"case-insensitive; allowed: each {what} once",
            )
    # `Grants` is authoritative for every principal on its securable, `Grant` for one principal
    # (https://www.pulumi.com/registry/packages/databricks/api-docs/grants/): a second Grants, or a
    # Grant next to it, is revoked again on every `up`.
    on_securable: dict[tuple[str, str], list[Res]] = {}
    for res in resources:
        target = grant_target(res) if res.kind in ("grants", "grant") else None
        if target is not None:
            on_securable.setdefault((target[0], target[1].lower()), []).append(res)
    for (securable, _name), managers in sorted(on_securable.items()):
        if len(managers) < 2 or not any(r.kind == "grants" for r in managers):
            continue
        names = ", ".join(repr(r.name) for r in managers)
        for res in managers[1:]:
            yield _finding(
                "unique-names",
                res,
                f"{len(managers)} resources ({names}) manage the grants on {securable} "
                f"{(grant_target(res) or ('', ''))[1]!r}, and databricks.Grants revokes what the others "
                "grant; allowed: one Grants per securable, or only Grant resources",
            )
    for res in resources:
        if res.kind in ("grants", "grant"):
            yield from _grant_list_duplicates(res)
        yield from _alias_duplicates(res)


def _aliases(resources: Sequence[Res]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """({model full name: {alias: version}} from ModelMetadata pins, models whose pins are unknown)."""
    out: dict[str, dict[str, Any]] = {}
    unknown: set[str] = set()
    for res in resources:
        name = model_full_name(res)
        if res.kind != "model_metadata" or not name:
            continue
        aliases = _aliases_of(res)
        if aliases is None:
            unknown.add(name)
        else:
            out.setdefault(name, {}).update(aliases)
    return out, unknown


def check_production_alias(resources: Sequence[Res], config: Config) -> Iterator[Finding]:
    served = config.get("servedModels")
    aliases, unknown = _aliases(resources)
    for name, declared_by in sorted(_models(resources).items()):
        res = declared_by[0]
        if res.stack not in _production_stacks(config) or name in unknown:
            continue
        if served is not None and name not in served and _model_parts(name)[2] not in served:
            continue
        if problem := rules.production_alias_problem(res.stack, aliases.get(name, {})):
            yield _finding("production-alias", res, problem)


def check_pinned_version_described(resources: Sequence[Res], _config: Config) -> Iterator[Finding]:
    # A model's versions may be described by any of its ModelMetadata (there should be one).
    described: dict[str, dict[str, str]] = {}
    for res in resources:
        name = model_full_name(res)
        if name and res.kind == "model_metadata":
            described.setdefault(name, {}).update(_version_texts(res))
    for res in resources:
        name = model_full_name(res)
        pins = {alias: version for alias, version in (_aliases_of(res) or {}).items() if known(version)}
        if not name or not pins:
            continue
        for problem in rules.undescribed_pins(pins, described.get(name, {})):
            yield _finding("pinned-version-described", res, problem)


def _registry_key(res: Res) -> str:
    """Which registry a resource is on, as far as its provider says: the URI, else the provider's URN."""
    registry = provider_registry(res.provider)
    if registry is not None:
        return registry.rstrip("/")
    return res.provider.urn if res.provider is not None else ""


def _workspace(res: Res) -> str:
    return res.text("workspace") or DEFAULT_WORKSPACE


def check_role_principals(resources: Sequence[Res], _config: Config) -> Iterator[Finding]:
    granted = {
        (_registry_key(r), _workspace(r), role)
        for r in resources
        if r.kind == "model_permissions"
        for role in r.mapping("roles") or {}
    }
    for res in resources:
        # `members: None` leaves membership to an admin; an explicit empty list says "nobody".
        if (
            res.kind != "mlflow_role"
            or res.get("members") != []
            or (_registry_key(res), _workspace(res), res.text("name")) not in granted
        ):
            continue
        # The stack is the environment: every resource the engine sends has a URN that names it.
        yield _finding("role-principals", res, rules.empty_role_problem(res.text("name") or "", res.stack))


def check_deployer_manage(resources: Sequence[Res], config: Config) -> Iterator[Finding]:
    deployer = config.get("deployer")
    if not isinstance(deployer, str) or not deployer:
        return  # which identity deploys is known only from the pack's config
    owners: dict[tuple[str, str], str | None] = {}
    for res in resources:
        if res.kind == "catalog" and res.text("name"):
            owners[("catalog", res.text("name") or "")] = res.text("owner")
        elif res.kind == "schema" and res.text("catalogName") and res.text("name"):
            owners[("schema", f"{res.text('catalogName')}.{res.text('name')}")] = res.text("owner")
        elif res.kind == "uc_model" and model_full_name(res):
            owners[("model", model_full_name(res) or "")] = res.text("owner")
    for res in resources:
        target = grant_target(res) if res.kind == "grants" else None
        if target is None or owners.get(target) == deployer:
            continue
        held = {
            normalise_privilege(str(p))
            for b in grant_blocks(res)
            if b.principal == deployer
            for p in b.privileges
            if known(p)
        }
        missing = sorted(set(DEPLOYER_PRIVILEGES[target[0]]) - held)
        if missing and all(known(b.principal) for b in grant_blocks(res)):
            yield _finding(
                "deployer-manage",
                res,
                f"the authoritative grants on {target[0]} {target[1]!r} would take {', '.join(missing)} "
                f"away from the deployer {deployer!r}, which would lock `pulumi up` out; allowed: grants "
                f"that keep {', '.join(DEPLOYER_PRIVILEGES[target[0]])} for the deployer (the spec adds "
                "them), or the deployer as the securable's owner",
            )


# --------------------------------------------------------------------------------------------------------
# The rule table: what the pack enforces, and on what
# --------------------------------------------------------------------------------------------------------
ResourceCheck = Callable[[Res, Config], Iterable[Finding]]
StackCheck = Callable[[Sequence[Res], Config], Iterable[Finding]]


@dataclass(frozen=True)
class PolicyRule:
    """One rule of the pack: a rules.py id, where it applies, and its configuration knobs."""

    id: str
    scope: Literal["resource", "stack"]
    applies_to: str
    check: ResourceCheck | StackCheck
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def severity(self) -> rules.Severity:
        return SEVERITY[self.id]

    @property
    def title(self) -> str:
        return TITLE[self.id]


_PRODUCTION_STACKS = {
    "productionStacks": {
        "type": "array",
        "items": {"type": "string"},
        "description": "stacks that are production (default: governance.productionEnvironments, [prod])",
    }
}

POLICY_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        "securable-name",
        "resource",
        "databricks Catalog, Schema, RegisteredModel (catalog/schema names); mrgov RegisteredModel "
        "(the catalog and schema parts of `catalog.schema.model`)",
        check_securable_name,
    ),
    PolicyRule(
        "model-name",
        "resource",
        "databricks RegisteredModel `name`; mrgov RegisteredModel (the last part of `name`)",
        check_model_name,
        {
            "modelNamePattern": {"type": "string", "description": "regular expression for model names"},
            "modelNameHint": {"type": "string", "description": "what the pattern means, in words"},
        },
    ),
    PolicyRule(
        "model-description",
        "resource",
        "databricks RegisteredModel `comment`; mrgov RegisteredModel `description`",
        check_model_description,
    ),
    PolicyRule(
        "required-tags",
        "stack",
        "every registered model: the `tags` of its mrgov ModelMetadata plus the mrgov RegisteredModel's "
        "`initialTags`",
        check_required_tags,
        {
            "requiredTags": {
                "type": "array",
                "items": {"type": "string"},
                "description": "tag keys every model has",
            }
        },
    ),
    PolicyRule(
        "tag-limits",
        "stack",
        "mrgov ModelMetadata `tags` and `versionTags` on Unity Catalog: its provider's `registryUri` is "
        "`databricks-uc` (when the provider's inputs do not say: the stack has databricks resources)",
        check_tag_limits,
    ),
    PolicyRule("alias-name", "resource", "mrgov ModelMetadata: each key of `aliases`", check_alias_name),
    PolicyRule(
        "alias-version", "resource", "mrgov ModelMetadata: each value of `aliases`", check_alias_version
    ),
    PolicyRule(
        "version-description",
        "resource",
        "mrgov ModelMetadata: each key (version) and text of `versionDescriptions`",
        check_version_description,
    ),
    PolicyRule(
        "privilege",
        "resource",
        "databricks Grants and Grant on a catalog, schema or model (`USE_MODEL` gets the EXECUTE hint)",
        check_privilege,
    ),
    PolicyRule(
        "grant-shape", "resource", "databricks Grants and Grant: privileges not empty", check_grant_shape
    ),
    PolicyRule(
        "principal-name",
        "resource",
        "databricks Grants and Grant `principal`; mrgov ModelPermissions: each key of `users` and `roles`; "
        "mrgov Role `name`",
        check_principal_name,
    ),
    PolicyRule(
        "unique-names",
        "stack",
        "one resource per model, alias (the keys of mrgov ModelMetadata `aliases`), catalog and schema "
        "(case-insensitive); each alias once per ModelMetadata; one authoritative Grants per securable, not "
        "mixed with Grant; each principal once per Grants, each privilege once per grant",
        check_unique_names,
    ),
    PolicyRule(
        "broad-all-privileges",
        "resource",
        "databricks Grants and Grant: no ALL_PRIVILEGES to a broad principal",
        check_broad_all_privileges,
        {
            "broadPrincipals": {
                "type": "array",
                "items": {"type": "string"},
                "description": "principals never granted ALL_PRIVILEGES "
                "(default: account users, users, all users)",
            }
        },
    ),
    PolicyRule(
        "production-alias",
        "stack",
        "in a production stack, every registered model (or those in `servedModels`) has a `Production` key "
        "in its mrgov ModelMetadata `aliases`",
        check_production_alias,
        {
            **_PRODUCTION_STACKS,
            "servedModels": {
                "type": "array",
                "items": {"type": "string"},
                "description": "models (short or full names) that are served; default: every model",
            },
        },
    ),
    PolicyRule(
        "deployer-manage",
        "stack",
        "databricks Grants keep MANAGE (and USE_CATALOG / USE_SCHEMA) for the configured `deployer`, unless "
        "it owns the securable",
        check_deployer_manage,
        {"deployer": {"type": "string", "description": "the identity that runs pulumi up"}},
    ),
    PolicyRule(
        "tracking-uri",
        "resource",
        "mrgov provider: `registryUri` and `trackingUri` are http(s) URLs, or `databricks-uc` (with a "
        "`databricks` tracking URI)",
        check_tracking_uri,
    ),
    PolicyRule(
        "no-plaintext-credentials",
        "resource",
        "databricks provider, mrgov provider and resources: no password, token, secret, clientSecret, "
        "accessToken or apiKey input (but the mrgov provider's secret `password` and `token`)",
        check_plaintext_credentials,
    ),
    PolicyRule(
        "protect-production",
        "resource",
        "in a production stack: databricks Catalog, Schema, RegisteredModel and mrgov RegisteredModel have "
        "`protect`",
        check_protect_production,
        dict(_PRODUCTION_STACKS),
    ),
    PolicyRule(
        "role-principals",
        "stack",
        "a mrgov Role with `members: []` that a mrgov ModelPermissions lists in `roles` (same registry and "
        "workspace)",
        check_role_principals,
    ),
    PolicyRule(
        "pinned-version-described",
        "stack",
        "each version a mrgov ModelMetadata pins in `aliases` has a text in the model's "
        "`versionDescriptions`",
        check_pinned_version_described,
    ),
)

SPEC_ONLY: Mapping[str, str] = {
    "model-schema": "schemas are declared in the spec; a program may use schemas that another stack manages",
    "unknown-role": "roles are a spec concept; resources name principals",
    "create-model-creators": "roles are a spec concept; in resources every grant names a principal directly",
    "structure": "the shape of the config files",
    # The mrgov provider's own check refuses the same ModelMetadata inputs in every program
    # (provider/registry/model_metadata.py `lifecycle_problems`, retention.py `reserved_key_failures`).
    "version-tags": "the mrgov provider's check refuses non-version keys and reserved tags in `versionTags`",
    "retention": "the mrgov provider's check refuses a bad `archiveAfterDays` or `archiveKeepLatest`",
    "promotion-gate": "the mrgov provider's check refuses bad `gates`, and gates are evaluated in its check",
    "gate-override": "which file an override is written in is a spec concept; the provider checks the reason",
    # Registry events: the provider's own check applies the same limits to any program's resources
    # (provider/events/limits.py for mrgov:events:Webhook; DeploymentJobLink's check on its job id).
    "webhook-secret": "a spec key naming a secret config key; in resources the secret is a secret input",
    "webhook-target": "the provider refuses a Webhook on Unity Catalog in its check",
    "webhook-name": "the provider checks a Webhook's name with the same rule",
    "webhook-url": "the provider checks a Webhook's URL with the same rule",
    "webhook-events": "the provider checks a Webhook's events against the same list",
    "webhook-status": "the provider checks a Webhook's status with the same rule",
    "deployment-job-target": "the provider refuses a DeploymentJobLink outside Unity Catalog in its check",
    "deployment-job": "a spec shape (jobId or job); the provider checks a DeploymentJobLink's job id",
}
"""Rules the pack does not apply, and why: they are about the spec's config, not about resources."""


def evaluate(resources: Sequence[Res], config: Mapping[str, Config] | None = None) -> list[Finding]:
    """Every finding of every rule: resource rules on each resource, then stack rules on all of them.

    `config` is the pack's configuration by rule id, as in `--policy-pack-config`.
    """
    config = config or {}
    out: list[Finding] = []
    for rule in POLICY_RULES:
        rule_config = config.get(rule.id) or {}
        if rule.scope == "resource":
            for res in resources:
                out.extend(rule.check(res, rule_config))  # type: ignore[arg-type]
        else:
            out.extend(rule.check(resources, rule_config))  # type: ignore[arg-type]
    return out

"""Governance rules for a model registry: pure functions, no Pulumi runtime.

Each rule has an id and a severity. `mandatory` violations stop a preview; `advisory` ones are warnings.
The spec runs them on the merged config document of a stack (`evaluate`). Each rule's judgement is a
public value-level core (`alias_problem`, `tag_limit_problems`, `undescribed_pins`, ...) that takes plain
values and returns the problem in words: the spec's rule calls it and adds the key path, and the policy
pack (policies/governance.py) calls it on the inputs of any program's resources.

Sources: the registry limits (alias names, Unity Catalog tags) live in provider/limits.py, which cites
MLflow's `_validate_model_alias_name` (mlflow/utils/validation.py) and
https://docs.databricks.com/aws/en/resources/limits; the privileges per securable are Unity Catalog's
(https://docs.databricks.com/aws/en/data-governance/unity-catalog/manage-privileges/privileges).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from components.aliases import PRODUCTION_ALIAS as PRODUCTION_ALIAS  # re-exported: its old home
from components.namespace import NAMESPACE
from provider.events.limits import (
    WEBHOOK_EVENTS,
    WEBHOOK_STATUSES,
    event_problem,
    webhook_name_problem,
    webhook_url_problem,
)
from provider.limits import (
    ALIAS_MAX,
    ALIAS_PATTERN,
    RESERVED_ALIAS,
    RESERVED_VERSION_TAGS,
    UC_TAG_KEY_FORBIDDEN,
    UC_TAG_KEY_MAX,
    UC_TAG_VALUE_MAX,
    UC_TAGS_PER_OBJECT,
    normalise_privilege,
)

if TYPE_CHECKING:
    from components.spec.document import GrantConfig, StackConfig

Severity = Literal["mandatory", "advisory"]
Securable = Literal["catalog", "schema", "model"]
KeyPath = tuple[str | int, ...]
WrittenIn = Literal["anywhere", "stack-model", "elsewhere"]


@dataclass(frozen=True)
class Violation:
    """A rule broken at a key path of the merged config document. The message says what is allowed.

    `written_in` narrows where the offending value counts: `stack-model` only when it is written in
    the stack file under `models` (not `modelDefaults`), `elsewhere` only when it is not (registry.yaml
    or `modelDefaults`). The spec, which knows where each value was written, drops the others.
    """

    rule_id: str
    severity: Severity
    path: KeyPath
    message: str
    written_in: WrittenIn = "anywhere"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    check: Callable[[StackConfig], Iterable[Violation]]


# --------------------------------------------------------------------------------------------------------
# Single-value checks: each returns None when fine, else what is wrong and what is allowed.
# --------------------------------------------------------------------------------------------------------
_PRIV_CATALOG_OWN = ("ALL_PRIVILEGES", "APPLY_TAG", "BROWSE", "CREATE_CONNECTION", "CREATE_SCHEMA", "MANAGE")
_PRIV_INHERITED = ("EXECUTE", "MODIFY", "SELECT", "READ_VOLUME", "WRITE_VOLUME")
_PRIV_SCHEMA_OWN = (
    "ALL_PRIVILEGES",
    "APPLY_TAG",
    "CREATE_FUNCTION",
    "CREATE_TABLE",
    "CREATE_VOLUME",
    "CREATE_MODEL",
    "CREATE_MODEL_VERSION",
    "MANAGE",
    "USE_SCHEMA",
)
VALID_PRIVILEGES: Mapping[Securable, frozenset[str]] = {
    # A catalog also takes the privileges its schemas and models inherit from it.
    "catalog": frozenset((*_PRIV_CATALOG_OWN, "USE_CATALOG", *_PRIV_SCHEMA_OWN, *_PRIV_INHERITED)),
    "schema": frozenset(_PRIV_SCHEMA_OWN + _PRIV_INHERITED),
    "model": frozenset(("ALL_PRIVILEGES", "APPLY_TAG", "CREATE_MODEL_VERSION", "EXECUTE", "MANAGE")),
}

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,254}$")
CREDENTIAL_KEYS = frozenset({"password", "token", "secret", "clientsecret", "accesstoken", "apikey"})


def privilege_problem(securable: Securable, privilege: str) -> str | None:
    p = normalise_privilege(privilege)
    if p in VALID_PRIVILEGES[securable]:
        return None
    allowed = ", ".join(sorted(VALID_PRIVILEGES[securable]))
    if p == "USE_MODEL":
        return f"there is no {privilege!r} privilege in Unity Catalog; use EXECUTE (load, download, serve)"
    return f"{privilege!r} is not a privilege on a {securable}; allowed: {allowed}"


def alias_problem(alias: str) -> str | None:
    """MLflow's alias rule (provider/limits.py, as the provider checks it), in the spec's words."""
    if RESERVED_ALIAS.match(alias):
        return (
            f"alias {alias!r} is reserved by MLflow; allowed: any name but 'latest' (any case) and v<digits>"
        )
    if not ALIAS_PATTERN.match(alias) or len(alias) > ALIAS_MAX:
        return (
            f"alias {alias!r} is not a valid alias; allowed: 1 to {ALIAS_MAX} of letters, digits, '_' and '-'"
        )
    return None


def tag_key_problem(key: str) -> str | None:
    bad = sorted({c for c in key if c in UC_TAG_KEY_FORBIDDEN})
    if bad:
        forbidden = " ".join(UC_TAG_KEY_FORBIDDEN)
        return f"tag key {key!r} contains {' '.join(bad)}; allowed: any characters except {forbidden}"
    if not key.strip():
        return f"tag key is empty; allowed: 1 to {UC_TAG_KEY_MAX} characters"
    if len(key) > UC_TAG_KEY_MAX:
        return f"tag key is {len(key)} characters long; allowed: at most {UC_TAG_KEY_MAX}"
    return None


def tag_value_problem(value: str) -> str | None:
    if len(value) > UC_TAG_VALUE_MAX:
        return f"tag value is {len(value)} characters long; allowed: at most {UC_TAG_VALUE_MAX}"
    return None


def version_problem(version: Any) -> str | None:
    """A model version is a positive integer (YAML int or its decimal text)."""
    ok = (isinstance(version, int) and not isinstance(version, bool) and version > 0) or (
        isinstance(version, str) and re.fullmatch(r"[1-9][0-9]*", version) is not None
    )
    return (
        None if ok else f"version {version!r} is not a model version; allowed: a positive integer such as 3"
    )


def whole_number(value: Any) -> int | None:
    """A YAML int or its decimal text (`30`, `"30"`, `-1`) as an int; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    return None


def number(value: Any) -> float | None:
    """A YAML number or its text (`0.8`, `"0.8"`) as a float; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def reserved_version_tag_problem(key: str) -> str | None:
    """Version tags the mrgov provider writes itself (provider/limits.py) cannot be declared."""
    owner = RESERVED_VERSION_TAGS.get(key)
    if owner is None:
        return None
    return f"tag {key!r} is reserved for {owner}; allowed: any other key"


def identifier_problem(what: str, name: str) -> str | None:
    if IDENTIFIER.match(name):
        return None
    return (
        f"{what} name {name!r} is not a valid name; allowed: lowercase letters, digits and '_', "
        "starting with a letter, at most 255 characters"
    )


def model_name_problem(name: str, pattern: str, hint: str) -> str | None:
    if re.fullmatch(pattern, name):
        return None
    return f"model name {name!r} does not follow the naming convention; allowed: {hint} (pattern {pattern})"


# --------------------------------------------------------------------------------------------------------
# Rules over a whole stack
# --------------------------------------------------------------------------------------------------------
def _grant_sites(cfg: StackConfig) -> Iterator[tuple[Securable, KeyPath, tuple[GrantConfig, ...]]]:
    yield "catalog", ("catalog",), cfg.catalog.grants
    for name, schema in cfg.schemas.items():
        yield "schema", ("schemas", name), schema.grants
    for name, model in cfg.models.items():
        yield "model", ("models", name), model.grants


def _securable_names(cfg: StackConfig) -> Iterator[Violation]:
    problem = identifier_problem("catalog", cfg.catalog.name)
    if problem:
        yield Violation("securable-name", "mandatory", ("catalog", "name"), problem)
    for name in cfg.schemas:
        problem = identifier_problem("schema", name)
        if problem:
            yield Violation("securable-name", "mandatory", ("schemas", name), problem)


def _model_names(cfg: StackConfig) -> Iterator[Violation]:
    g = cfg.governance
    for name in cfg.models:
        problem = model_name_problem(name, g.model_name_pattern, g.model_name_hint)
        if problem:
            yield Violation("model-name", "mandatory", ("models", name), problem)


def _model_schema(cfg: StackConfig) -> Iterator[Violation]:
    declared = ", ".join(cfg.schemas) or "(none declared)"
    for name, model in cfg.models.items():
        if not cfg.schemas:
            yield Violation(
                "model-schema",
                "mandatory",
                ("schemas",),
                "no schema is declared; allowed: at least one schema",
            )
            return
        if model.schema_name is not None and model.schema_name not in cfg.schemas:
            yield Violation(
                "model-schema",
                "mandatory",
                ("models", name, "schema"),
                f"schema {model.schema_name!r} is not declared under schemas; allowed: {declared}",
            )


def description_problem(text: str) -> str | None:
    """The model-description rule on one model's description (the spec's and the policy pack's core)."""
    if text.strip():
        return None
    return "is missing or empty; allowed: a text saying what the model does, how and for whom"


def _descriptions(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        if problem := description_problem(model.description):
            yield Violation("model-description", "mandatory", ("models", name, "description"), problem)


def missing_tags(tags: Mapping[str, str], required: Sequence[str]) -> Iterator[tuple[str, str]]:
    """The required-tags rule on one model's tags: (tag, problem) for each required tag it lacks."""
    for tag in required:
        if not tags.get(tag, "").strip():
            carried = ", ".join(required)
            yield tag, f"required tag {tag!r} is missing or empty; allowed: every model carries {carried}"


def _required_tags(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        for tag, problem in missing_tags(model.tags, cfg.governance.required_tags):
            yield Violation("required-tags", "mandatory", ("models", name, "tags", tag), problem)


def tag_limit_problems(
    tags: Mapping[str, str], per: Literal["model", "version"]
) -> Iterator[tuple[str | None, str]]:
    """The tag-limits rule on the tags of one model or one version: (None, problem) when there are too
    many, (key, problem) for each key or value Unity Catalog refuses."""
    if len(tags) > UC_TAGS_PER_OBJECT:
        yield None, f"{len(tags)} tags; allowed: at most {UC_TAGS_PER_OBJECT} per {per}"
    for key, value in tags.items():
        if problem := tag_key_problem(key) or tag_value_problem(value):
            yield key, problem


def _tag_limits(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        path: KeyPath = ("models", name, "tags")
        for key, problem in tag_limit_problems(model.tags, "model"):
            yield Violation("tag-limits", "mandatory", path if key is None else (*path, key), problem)
        for version, tags in model.version_tags.items():
            path = ("models", name, "versionTags", version)
            for key, problem in tag_limit_problems(tags, "version"):
                yield Violation("tag-limits", "mandatory", path if key is None else (*path, key), problem)


def _alias_names(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        for alias in model.aliases:
            problem = alias_problem(alias)
            if problem:
                yield Violation("alias-name", "mandatory", ("models", name, "aliases", alias), problem)


def _alias_versions(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        for alias, version in model.aliases.items():
            problem = version_problem(version)
            if problem:
                yield Violation("alias-version", "mandatory", ("models", name, "aliases", alias), problem)


def version_description_problem(version: Any, text: str) -> str | None:
    """The version-description rule on one entry of a model's version descriptions: keyed by a version,
    with a text."""
    if problem := version_problem(version):
        return problem
    return None if text.strip() else "is empty; allowed: a text saying what changed"


def _version_descriptions(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        for key, text in model.version_descriptions.items():
            if problem := version_description_problem(key, text):
                path = ("models", name, "versionDescriptions", key)
                yield Violation("version-description", "mandatory", path, problem)


def _version_tags(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        for key, tags in model.version_tags.items():
            path = ("models", name, "versionTags", key)
            problem = version_problem(key)
            if problem:
                yield Violation("version-tags", "mandatory", path, problem)
                continue
            for tag in tags:
                problem = reserved_version_tag_problem(tag)
                if problem:
                    yield Violation("version-tags", "mandatory", (*path, tag), problem)


_DAYS = "allowed: a whole number of days, at least 1"
_KEEP = "allowed: a whole number, 0 or more (how many of the newest versions are never archived)"


def _retention(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        archive = model.archive
        if archive is None:
            continue
        path = ("models", name, "archive")
        days, keep = whole_number(archive.after_days), whole_number(archive.keep_latest)
        if archive.after_days is None:
            yield _retention_problem(path, "afterDays", f"is required; {_DAYS}")
        elif days is None:
            yield _retention_problem(
                path, "afterDays", f"{archive.after_days!r} is not a number of days; {_DAYS}"
            )
        elif days < 1:
            yield _retention_problem(path, "afterDays", f"is {days}; {_DAYS}")
        if keep is None:
            yield _retention_problem(
                path, "keepLatest", f"{archive.keep_latest!r} is not a whole number; {_KEEP}"
            )
        elif keep < 0:
            yield _retention_problem(path, "keepLatest", f"is {keep}; {_KEEP}")


def _retention_problem(path: tuple[str, ...], key: str, message: str) -> Violation:
    return Violation("retention", "mandatory", (*path, key), message)


def _promotion_gates(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        pinned = ", ".join(sorted(model.aliases)) or "none"
        for alias, gate in model.gates.items():
            path = ("models", name, "gates", alias)
            if alias not in model.aliases:
                yield Violation(
                    "promotion-gate",
                    "mandatory",
                    path,
                    f"gate for alias {alias!r}, which this stack does not pin on the model; allowed: a gate "
                    f"for a pinned alias ({pinned}), or the gate in registry.yaml, where it applies in the "
                    f"stacks that pin {alias!r}",
                    written_in="stack-model",
                )
            if not gate.metric.strip():
                yield Violation(
                    "promotion-gate",
                    "mandatory",
                    (*path, "metric"),
                    "is missing or empty; allowed: the name of a metric the training run logs, "
                    "such as val_f1",
                )
            if gate.against not in ("current", "none"):
                yield Violation(
                    "promotion-gate",
                    "mandatory",
                    (*path, "against"),
                    f"{gate.against!r} is not a comparison; allowed: current (the version the alias points "
                    "at now) or none (min and max only)",
                )
            values: dict[str, float | None] = {}
            for key, raw in (("minDelta", gate.min_delta), ("min", gate.min), ("max", gate.max)):
                values[key] = number(raw) if raw is not None else None
                if raw is not None and values[key] is None:
                    yield Violation(
                        "promotion-gate",
                        "mandatory",
                        (*path, key),
                        f"{raw!r} is not a number; allowed: a number such as 0.8",
                    )
            delta, low, high = values["minDelta"], values["min"], values["max"]
            if delta is not None and delta < 0:
                yield Violation(
                    "promotion-gate",
                    "mandatory",
                    (*path, "minDelta"),
                    f"is {gate.min_delta!r}; allowed: 0 or more (how much better than the current version)",
                )
            if low is not None and high is not None and low > high:
                yield Violation(
                    "promotion-gate",
                    "mandatory",
                    path,
                    f"min {gate.min!r} is above max {gate.max!r}, so no version could pass; "
                    "allowed: min <= max",
                )
            if gate.against == "none" and gate.min is None and gate.max is None:
                yield Violation(
                    "promotion-gate",
                    "mandatory",
                    path,
                    "checks nothing; allowed: against: current, or a min or a max",
                )


def _gate_overrides(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        gated = ", ".join(sorted(a for a in model.gates if a in model.aliases)) or "none"
        for alias, override in model.overrides.items():
            path = ("models", name, "overrides", alias)
            reason = override.reason.strip()
            if not reason:
                yield Violation(
                    "gate-override",
                    "mandatory",
                    (*path, "reason"),
                    "is missing or empty; allowed: why the gate is bypassed, such as 'INC-123: rollback'",
                )
            elif problem := tag_value_problem(reason):
                yield Violation("gate-override", "mandatory", (*path, "reason"), problem)
            if alias not in model.gates or alias not in model.aliases:
                yield Violation(
                    "gate-override",
                    "mandatory",
                    path,
                    f"alias {alias!r} has no promotion gate in this stack; allowed: an override of a gated "
                    f"alias the stack pins ({gated})",
                )
            yield Violation(
                "gate-override",
                "mandatory",
                path,
                "a break-glass override belongs to one stack; allowed: "
                f"mrgov:models.{name}.overrides.{alias}.reason in the stack file",
                written_in="elsewhere",
            )


def undescribed_pins(aliases: Mapping[str, Any], descriptions: Mapping[str, str]) -> Iterator[str]:
    """The pinned-version-described rule on one model: a problem for each alias that pins a version
    (an int or its decimal text) without a text in `descriptions` (keyed by the version's decimal text).
    A pin that is not a version is alias-version's to report."""
    described = {k for k, v in descriptions.items() if v.strip()}
    for alias, version in sorted(aliases.items()):
        if version_problem(version) is None and str(version) not in described:
            yield (
                f"version {version} is pinned by alias {alias!r} but has no description; "
                f"allowed: versionDescriptions: {{'{version}': <what changed>}}"
            )


def _pinned_versions_described(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        for problem in undescribed_pins(model.aliases, model.version_descriptions):
            yield Violation(
                "pinned-version-described", "advisory", ("models", name, "versionDescriptions"), problem
            )


def _privileges(cfg: StackConfig) -> Iterator[Violation]:
    for securable, prefix, grants in _grant_sites(cfg):
        for i, grant in enumerate(grants):
            for j, privilege in enumerate(grant.privileges):
                problem = privilege_problem(securable, privilege)
                if problem:
                    path = (*prefix, "grants", i, "privileges", j)
                    yield Violation("privilege", "mandatory", path, problem)


def grant_shape_problems(grantees: int, privileges: Collection[str]) -> Iterator[tuple[KeyPath, str]]:
    """The grant-shape rule on one grant of privileges to `grantees` roles and principals: (key path
    inside the grant, problem) when it names nobody or no privilege."""
    if not grantees:
        yield (), "names no grantee; allowed: roles: [<role>, ...] and/or principals: [<principal>, ...]"
    if not privileges:
        yield ("privileges",), "is missing or empty; allowed: one or more privileges, such as [EXECUTE]"


def _grant_shape(cfg: StackConfig) -> Iterator[Violation]:
    for _securable, prefix, grants in _grant_sites(cfg):
        for i, grant in enumerate(grants):
            for where, problem in grant_shape_problems(
                len(grant.roles) + len(grant.principals), grant.privileges
            ):
                yield Violation("grant-shape", "mandatory", (*prefix, "grants", i, *where), problem)


def _unknown_roles(cfg: StackConfig) -> Iterator[Violation]:
    known = ", ".join(sorted(cfg.roles)) or "(no roles declared)"
    for _securable, prefix, grants in _grant_sites(cfg):
        for i, grant in enumerate(grants):
            for j, role in enumerate(grant.roles):
                if role not in cfg.roles:
                    yield Violation(
                        "unknown-role",
                        "mandatory",
                        (*prefix, "grants", i, "roles", j),
                        f"role {role!r} is not declared under roles; allowed: {known}",
                    )


def _name_lists(cfg: StackConfig) -> Iterator[tuple[KeyPath, list[str]]]:
    """Every list of principal, role or privilege names, with its key path."""
    for name, role in cfg.roles.items():
        yield ("roles", name, "principals"), [p.name for p in role.principals]
    for _securable, prefix, grants in _grant_sites(cfg):
        for i, grant in enumerate(grants):
            yield (*prefix, "grants", i, "principals"), [p.name for p in grant.principals]
            yield (*prefix, "grants", i, "roles"), list(grant.roles)
            yield (*prefix, "grants", i, "privileges"), [normalise_privilege(p) for p in grant.privileges]


def principal_name_problem(name: str) -> str | None:
    """The principal-name rule on one principal or role name."""
    return None if name.strip() else "is empty; allowed: a name"


def _principal_names(cfg: StackConfig) -> Iterator[Violation]:
    for path, names in _name_lists(cfg):
        if path[-1] != "privileges":
            for j, item in enumerate(names):
                if problem := principal_name_problem(item):
                    yield Violation("principal-name", "mandatory", (*path, j), problem)


def duplicate_aliases(aliases: Iterable[str]) -> Iterator[tuple[str, str]]:
    """The unique-names rule on one model's aliases: (alias, problem) for each alias that another one
    equals but for case (aliases are case-insensitive)."""
    names = list(aliases)
    lowered = Counter(a.lower() for a in names)
    for alias in names:
        if lowered[alias.lower()] > 1:
            yield (
                alias,
                f"alias {alias!r} is declared more than once (aliases are case-insensitive); "
                "allowed: each alias once",
            )


def duplicate_names(names: Sequence[str]) -> Iterator[tuple[int, str]]:
    """The unique-names rule on one list of principal, role or privilege names: (index, problem) for
    each name that an earlier one equals but for case."""
    seen: set[str] = set()
    for j, name in enumerate(names):
        if name.strip() and name.lower() in seen:
            yield j, f"{name!r} appears more than once in this list; allowed: each name once"
        seen.add(name.lower())


def _unique_names(cfg: StackConfig) -> Iterator[Violation]:
    # Unity Catalog names are case-insensitive: `Budget_Forecaster` and `budget_forecaster` collide.
    for section, names in (("models", list(cfg.models)), ("schemas", list(cfg.schemas))):
        first: dict[str, str] = {}
        for name in names:
            if name.lower() in first:
                yield Violation(
                    "unique-names",
                    "mandatory",
                    (section, name),
                    f"duplicates {first[name.lower()]!r} (Unity Catalog names are case-insensitive); "
                    f"allowed: each {section[:-1]} once",
                )
            else:
                first[name.lower()] = name
    for name, model in cfg.models.items():
        for alias, problem in duplicate_aliases(model.aliases):
            yield Violation("unique-names", "mandatory", ("models", name, "aliases", alias), problem)
    for path, items in _name_lists(cfg):
        for j, problem in duplicate_names(items):
            yield Violation("unique-names", "mandatory", (*path, j), problem)


def broad_all_privileges_problem(
    privileges: Iterable[str], principals: Iterable[str], broad: Sequence[str], role: str | None = None
) -> str | None:
    """The broad-all-privileges rule on one grantee of a grant: a principal (`principals` is its name)
    or `role` (`principals` are its members). A problem when the grant has ALL_PRIVILEGES and one of
    them is a broad principal (case-insensitive)."""
    if "ALL_PRIVILEGES" not in {normalise_privilege(p) for p in privileges}:
        return None
    lowered = {b.lower() for b in broad}
    hit = next((p for p in principals if p.lower() in lowered), None)
    if hit is None:
        return None
    to = f"role {role!r}, which includes the broad principal" if role is not None else "the broad principal"
    shown = ", ".join(repr(b) for b in broad)
    return f"ALL_PRIVILEGES to {to} {hit!r}; allowed: narrower privileges (such as EXECUTE) for {shown}"


def _broad_all_privileges(cfg: StackConfig) -> Iterator[Violation]:
    broad = cfg.governance.broad_principals
    for _securable, prefix, grants in _grant_sites(cfg):
        for i, grant in enumerate(grants):
            path = (*prefix, "grants", i)
            for j, p in enumerate(grant.principals):
                if problem := broad_all_privileges_problem(grant.privileges, [p.name], broad):
                    yield Violation("broad-all-privileges", "mandatory", (*path, "principals", j), problem)
            for j, role in enumerate(grant.roles):
                members = [p.name for p in cfg.roles[role].principals] if role in cfg.roles else []
                if problem := broad_all_privileges_problem(grant.privileges, members, broad, role):
                    yield Violation("broad-all-privileges", "mandatory", (*path, "roles", j), problem)


def _create_model_creators(cfg: StackConfig) -> Iterator[Violation]:
    creators = ", ".join(sorted(n for n, r in cfg.roles.items() if r.model_creator)) or "(none marked)"
    for _securable, prefix, grants in _grant_sites(cfg):
        for i, grant in enumerate(grants):
            if "CREATE_MODEL" not in {normalise_privilege(p) for p in grant.privileges}:
                continue
            for j, role in enumerate(grant.roles):
                if role in cfg.roles and not cfg.roles[role].model_creator:
                    yield Violation(
                        "create-model-creators",
                        "mandatory",
                        (*prefix, "grants", i, "roles", j),
                        f"CREATE_MODEL to role {role!r}, which is not marked modelCreator; "
                        f"allowed: roles with modelCreator: true ({creators})",
                    )
            for j, p in enumerate(grant.principals):
                yield Violation(
                    "create-model-creators",
                    "mandatory",
                    (*prefix, "grants", i, "principals", j),
                    f"CREATE_MODEL directly to principal {p.name!r}; allowed: roles with modelCreator: true "
                    f"({creators})",
                )


def production_alias_problem(environment: str, aliases: Collection[str]) -> str | None:
    """The production-alias rule on the aliases of a model served in a production environment."""
    if PRODUCTION_ALIAS in aliases:
        return None
    return (
        f"model is served in production environment {environment!r} but pins no "
        f"{PRODUCTION_ALIAS!r} alias; allowed: aliases: {{{PRODUCTION_ALIAS}: <version>}}"
    )


def _served_in_production(cfg: StackConfig) -> Iterator[Violation]:
    if not cfg.is_production:
        return
    for name, model in cfg.models.items():
        if model.served and (problem := production_alias_problem(cfg.environment, model.aliases)):
            yield Violation("production-alias", "mandatory", ("models", name, "aliases"), problem)


def unprotected_problem(environment: str, how: str) -> str:
    """The protect-production rule's advice for a production environment whose resources are
    unprotected; `how` says how (`is false` in a stack file, `is not set` on a resource)."""
    return (
        f"protect {how} in production environment {environment!r}; "
        "allowed: true (the default there), so a stray change cannot delete the registry"
    )


def _protect_production(cfg: StackConfig) -> Iterator[Violation]:
    if cfg.is_production and cfg.protect is False:
        yield Violation(
            "protect-production", "advisory", ("protect",), unprotected_problem(cfg.environment, "is false")
        )


def _deployer(cfg: StackConfig) -> Iterator[Violation]:
    if cfg.target.needs_deployer and cfg.deployer is None:
        yield Violation(
            "deployer-manage",
            "mandatory",
            ("deployer",),
            f"is required for the {cfg.target.kind} target: grants are authoritative and would revoke the "
            "deploying identity's own MANAGE; allowed: the user, group or service principal that runs "
            "pulumi up",
        )


def tracking_uri_problem(uri: str) -> str | None:
    """The tracking-uri rule on one MLflow server URI (the spec's and the policy pack's core)."""
    if re.match(r"^https?://[^/\s]+", uri):
        return None
    return f"{uri!r} is not a server URL; allowed: http://host:port or https://host"


def _target_uri(cfg: StackConfig) -> Iterator[Violation]:
    server = cfg.target.mlflow_server
    if server is not None and (problem := tracking_uri_problem(server.tracking_uri)):
        yield Violation("tracking-uri", "mandatory", ("target", "trackingUri"), problem)


def empty_role_problem(role: str, environment: str) -> str:
    """The role-principals rule's advice for a role that is granted privileges but has no principals."""
    return (
        f"role {role!r} is granted privileges but has no principals in environment {environment!r}, so "
        "its grants do nothing; allowed: a list of principals"
    )


def _roles_have_principals(cfg: StackConfig) -> Iterator[Violation]:
    used = {r for _s, _p, grants in _grant_sites(cfg) for g in grants for r in g.roles}
    for name in sorted(used):
        role = cfg.roles.get(name)
        if role is not None and not role.principals:
            yield Violation(
                "role-principals",
                "advisory",
                ("roles", name, "principals"),
                empty_role_problem(name, cfg.environment),
            )


# --------------------------------------------------------------------------------------------------------
# Registry events: webhooks (MLflow target) and deployment jobs (Databricks target)
# --------------------------------------------------------------------------------------------------------
EVENTS_HOW_TO = "docs/how-to/notify-deployment-pipeline.md"
# A Databricks model update trigger watches at most 10 aliases
# (https://docs.databricks.com/aws/en/jobs/model-update-triggers).
TRIGGER_ALIASES_MAX = 10
# The parameters of a deployment job, which the stack sets: the model, and the version a run deploys
# (https://docs.databricks.com/aws/en/mlflow/deployment-job; Unity Catalog reports a job without them
# as REQUIRED_PARAMETERS_CHANGED).
DEPLOYMENT_JOB_PARAMETERS = ("model_name", "model_version")
_CONFIG_KEY = re.compile(r"[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+")
_SECRET_HOW = "`pulumi config set --secret mrgov:deployHookSecret <value>`"


def _webhooks(cfg: StackConfig) -> Iterator[Violation]:
    if cfg.webhooks and not cfg.target.supports_webhooks:
        for name in cfg.webhooks:
            yield Violation(
                "webhook-target",
                "mandatory",
                ("webhooks", name),
                "webhooks are an MLflow tracking server feature and Unity Catalog has none; allowed: on "
                "the databricks target, a deployment job per model "
                f"(models.<model>.deploymentJob, {EVENTS_HOW_TO})",
            )
        return
    for name, hook in cfg.webhooks.items():
        path = ("webhooks", name)
        if problem := webhook_name_problem(name):
            yield Violation("webhook-name", "mandatory", path, problem)
        if not hook.url.strip():
            yield Violation(
                "webhook-url",
                "mandatory",
                (*path, "url"),
                "is required; allowed: the URL MLflow POSTs each event to, such as https://ci.example/hooks/mlflow",
            )
        elif problem := webhook_url_problem(hook.url):
            yield Violation("webhook-url", "mandatory", (*path, "url"), problem)
        if not hook.events:
            yield Violation(
                "webhook-events",
                "mandatory",
                (*path, "events"),
                f"is missing or empty; allowed: one or more of {', '.join(WEBHOOK_EVENTS)}",
            )
        seen: set[str] = set()
        for i, event in enumerate(hook.events):
            if problem := event_problem(event):
                yield Violation("webhook-events", "mandatory", (*path, "events", i), problem)
            elif event in seen:
                yield Violation(
                    "webhook-events",
                    "mandatory",
                    (*path, "events", i),
                    f"{event!r} appears more than once in this list; allowed: each event once",
                )
            seen.add(event)
        if hook.status.upper() not in WEBHOOK_STATUSES:
            yield Violation(
                "webhook-status",
                "mandatory",
                (*path, "status"),
                f"got {hook.status!r}; allowed: {' or '.join(WEBHOOK_STATUSES)}",
            )


def _job_id(value: Any) -> int | None:
    """A Databricks job id (a positive YAML int, or its digits) as an int; None for anything else."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _deployment_jobs(cfg: StackConfig) -> Iterator[Violation]:
    for name, model in cfg.models.items():
        job = model.deployment_job
        if job is None:
            continue
        path: KeyPath = ("models", name, "deploymentJob")
        if not cfg.target.supports_deployment_jobs:
            yield Violation(
                "deployment-job-target",
                "mandatory",
                path,
                "deployment jobs are a Unity Catalog feature; allowed: on the mlflow target, a webhook under "
                f"webhooks, which MLflow calls when an alias moves ({EVENTS_HOW_TO})",
            )
            continue
        if job.job_id is not None and job.job is not None:
            yield Violation(
                "deployment-job",
                "mandatory",
                path,
                "names both jobId and job; allowed: one of jobId (a job that exists) or job (a job the "
                "stack creates)",
            )
        elif job.job_id is None and job.job is None:
            yield Violation(
                "deployment-job",
                "mandatory",
                path,
                "names no job; allowed: jobId: <the id of a job that exists> or job: {name, notebookPath}",
            )
        if job.job_id is not None and _job_id(job.job_id) is None:
            yield Violation(
                "deployment-job",
                "mandatory",
                (*path, "jobId"),
                f"{job.job_id!r} is not a Databricks job id; allowed: the job's numeric id, such as 123456",
            )
        owned = job.job
        if owned is None:
            continue
        where = (*path, "job")
        if not owned.name.strip():
            yield Violation(
                "deployment-job",
                "mandatory",
                (*where, "name"),
                "is missing or empty; allowed: the job's name, such as deploy-cost-anomaly-detector",
            )
        notebook = owned.notebook_path.strip()
        if not notebook.startswith("/"):
            yield Violation(
                "deployment-job",
                "mandatory",
                (*where, "notebookPath"),
                (f"{owned.notebook_path!r} is not an absolute workspace path" if notebook else "is missing")
                + "; allowed: the deployment notebook's workspace path, such as /Workspace/Shared/deploy",
            )
        for key in owned.parameters:
            if key in DEPLOYMENT_JOB_PARAMETERS:
                yield Violation(
                    "deployment-job",
                    "mandatory",
                    (*where, "parameters", key),
                    f"parameter {key!r} is set by the stack (the model's full name, and the version a run "
                    "deploys); allowed: any other parameter name",
                )
        if len(owned.trigger_aliases) > TRIGGER_ALIASES_MAX:
            yield Violation(
                "deployment-job",
                "mandatory",
                (*where, "triggerAliases"),
                f"{len(owned.trigger_aliases)} aliases; allowed: at most {TRIGGER_ALIASES_MAX} (what a "
                "Databricks model trigger watches)",
            )
        for i, alias in enumerate(owned.trigger_aliases):
            if problem := alias_problem(alias):
                yield Violation("deployment-job", "mandatory", (*where, "triggerAliases", i), problem)


def _only(
    rule_id: str, check: Callable[[StackConfig], Iterable[Violation]]
) -> Callable[[StackConfig], Iterator[Violation]]:
    """The violations of one rule id, from a check that finds several (one pass over webhooks or jobs)."""
    return lambda cfg: (v for v in check(cfg) if v.rule_id == rule_id)


def webhook_secret_violations(doc: Mapping[str, Any], secret_keys: Collection[str] | None) -> list[Violation]:
    """Each webhook's `secret` names a config key that Pulumi holds as a secret (on the raw document).

    Messages never show what `secret` holds: a user who wrote the secret itself there would see it in
    every preview log otherwise.
    """
    out: list[Violation] = []
    if secret_keys is not None and f"{NAMESPACE}:webhooks" in secret_keys:
        out.append(
            Violation(
                "webhook-secret",
                "mandatory",
                ("webhooks",),
                "holds a secret value, so Pulumi hides all of it from the program; allowed: webhooks in "
                f"clear, each with secret: <the name of a secret config key>, set with {_SECRET_HOW}",
            )
        )
    hooks = doc.get("webhooks")
    if not isinstance(hooks, Mapping):
        return out
    for name, hook in hooks.items():
        if not isinstance(hook, Mapping):
            continue  # the structure check reports it
        path = ("webhooks", str(name), "secret")
        named = hook.get("secret")
        if named is None:
            message = (
                "is required: MLflow signs each delivery with it, so the receiver can tell MLflow's calls "
                "from anyone else's; allowed: the name of a secret config key, such as "
                f"mrgov:deployHookSecret, set with {_SECRET_HOW}"
            )
        elif not isinstance(named, str) or not _CONFIG_KEY.fullmatch(named):
            message = (
                "is not the name of a config key (what it holds is not shown: it may be the secret itself); "
                f"allowed: <namespace>:<key>, such as mrgov:deployHookSecret, set with {_SECRET_HOW}"
            )
        elif named.startswith(f"{NAMESPACE}:") and named.split(":", 1)[1] in doc:
            # Set in clear: reported at that key, which then is not also an unknown key.
            out.append(
                Violation(
                    "webhook-secret",
                    "mandatory",
                    (named.split(":", 1)[1],),
                    f"is set in clear, and webhooks.{name}.secret names it as a signing secret; allowed: "
                    f"`pulumi config set --secret {named} <value>`",
                )
            )
            continue
        elif secret_keys is not None and named not in secret_keys:
            message = (
                f"names {named!r}, which is not set as a secret; allowed: "
                f"`pulumi config set --secret {named} <value>`"
            )
        else:
            continue
        out.append(Violation("webhook-secret", "mandatory", path, message))
    return out


RULES: tuple[Rule, ...] = (
    Rule("securable-name", "mandatory", "catalog and schema names are identifiers", _securable_names),
    Rule("model-name", "mandatory", "model names follow the configured convention", _model_names),
    Rule("model-schema", "mandatory", "every model lives in a declared schema", _model_schema),
    Rule("model-description", "mandatory", "every model has a description", _descriptions),
    Rule("required-tags", "mandatory", "every model carries the required tags", _required_tags),
    Rule("tag-limits", "mandatory", "tags keep Unity Catalog's limits and characters", _tag_limits),
    Rule("alias-name", "mandatory", "aliases are valid and not reserved", _alias_names),
    Rule("alias-version", "mandatory", "aliases pin positive integer versions", _alias_versions),
    Rule("version-description", "mandatory", "version descriptions keyed by version", _version_descriptions),
    Rule("version-tags", "mandatory", "version tags keyed by version, no reserved keys", _version_tags),
    Rule("retention", "mandatory", "archive settings are whole numbers of days and versions", _retention),
    Rule(
        "promotion-gate",
        "mandatory",
        "promotion gates name a metric and a valid comparison",
        _promotion_gates,
    ),
    Rule(
        "gate-override",
        "mandatory",
        "break-glass overrides give a reason, in the stack file",
        _gate_overrides,
    ),
    Rule("privilege", "mandatory", "privileges are valid for their securable", _privileges),
    Rule("grant-shape", "mandatory", "grants name a grantee and privileges", _grant_shape),
    Rule("unknown-role", "mandatory", "grants name declared roles", _unknown_roles),
    Rule("principal-name", "mandatory", "principal and role names are not empty", _principal_names),
    Rule("unique-names", "mandatory", "no duplicate models, schemas, aliases, principals", _unique_names),
    Rule("broad-all-privileges", "mandatory", "no ALL_PRIVILEGES to broad principals", _broad_all_privileges),
    Rule("create-model-creators", "mandatory", "CREATE_MODEL only to creator roles", _create_model_creators),
    Rule("production-alias", "mandatory", "served models pin Production", _served_in_production),
    Rule("deployer-manage", "mandatory", "the deployer keeps MANAGE on Databricks", _deployer),
    Rule("tracking-uri", "mandatory", "the MLflow target names a server URL", _target_uri),
    Rule("protect-production", "advisory", "production resources are protected", _protect_production),
    Rule("role-principals", "advisory", "granted roles have principals", _roles_have_principals),
    Rule("pinned-version-described", "advisory", "pinned versions described", _pinned_versions_described),
    Rule(
        "webhook-target", "mandatory", "webhooks only on an MLflow target", _only("webhook-target", _webhooks)
    ),
    Rule("webhook-name", "mandatory", "webhook names are MLflow's", _only("webhook-name", _webhooks)),
    Rule("webhook-url", "mandatory", "webhooks POST to an http(s) URL", _only("webhook-url", _webhooks)),
    Rule(
        "webhook-events",
        "mandatory",
        "webhooks take MLflow's events, each once",
        _only("webhook-events", _webhooks),
    ),
    Rule(
        "webhook-status", "mandatory", "webhooks are ACTIVE or DISABLED", _only("webhook-status", _webhooks)
    ),
    Rule(
        "deployment-job-target",
        "mandatory",
        "deployment jobs only on the Databricks target",
        _only("deployment-job-target", _deployment_jobs),
    ),
    Rule(
        "deployment-job",
        "mandatory",
        "a deployment job names one job",
        _only("deployment-job", _deployment_jobs),
    ),
)

# Checked on the merged document before it is typed (see check_raw).
RAW_RULES: tuple[tuple[str, Severity, str], ...] = (
    ("no-plaintext-credentials", "mandatory", "credentials come from the environment or secret config"),
    ("webhook-secret", "mandatory", "a webhook's secret names a secret config key"),
)


def evaluate(cfg: StackConfig, rules: Iterable[Rule] = RULES) -> list[Violation]:
    """Every violation of every rule, in rule order."""
    return [v for rule in rules for v in rule.check(cfg)]


def check_raw(
    doc: Mapping[str, Any], secret_keys: Collection[str] | None = None, *, webhooks: bool = True
) -> list[Violation]:
    """Checks on the merged document before it is typed: credentials written in clear.

    `secret_keys` are the full config keys (`mrgov:mlflowPassword`) Pulumi holds as secrets, when known.
    `webhooks` is False when the document's target calls no webhooks: the webhook-target rule refuses
    them, so their secrets are not checked.
    """
    out: list[Violation] = []
    target = doc.get("target")
    if not isinstance(target, Mapping):
        return out
    for key in target:
        if key.replace("_", "").lower() in CREDENTIAL_KEYS:
            out.append(
                Violation(
                    "no-plaintext-credentials",
                    "mandatory",
                    ("target", key),
                    "credentials never go in config in clear; allowed: the environment "
                    "(MLFLOW_TRACKING_PASSWORD, DATABRICKS_TOKEN, a Databricks profile) or a secret "
                    "(`pulumi config set --secret mrgov:mlflowPassword ...` and target.passwordSecret)",
                )
            )
    named = target.get("passwordSecret")
    if isinstance(named, str):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+", named):
            out.append(
                Violation(
                    "no-plaintext-credentials",
                    "mandatory",
                    ("target", "passwordSecret"),
                    f"{named!r} is not a config key; "
                    "allowed: <namespace>:<key>, such as mrgov:mlflowPassword",
                )
            )
        elif secret_keys is not None and named not in secret_keys:
            out.append(
                Violation(
                    "no-plaintext-credentials",
                    "mandatory",
                    ("target", "passwordSecret"),
                    f"{named!r} is not set as a secret; allowed: `pulumi config set --secret {named} ...`",
                )
            )
    if webhooks:
        out += webhook_secret_violations(doc, secret_keys)
    return out

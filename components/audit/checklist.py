"""The seed's Validation Checklist, judged on what a registry holds: pure functions, no I/O.

`ITEMS` lists every item in the seed's order (Registration, Permissions, Lifecycle), with its id,
whether it is judged per model or per version, and whether a failure is mandatory (the audit exits
non-zero) or advisory. `evaluate()` turns a stack's spec and a `RegistrySnapshot` into one `Check`
per item, model and (for per-version items) version, each with the evidence it was judged on.
docs/audit.md describes every item.

One checklist for every target. What differs is the snapshot's `TargetTerms`, which each target's
reader writes down (components/mlflow/audit.py, components/databricks/audit.py): which grants give
CREATE MODEL and USE MODEL, and whether a READY version is known to have a signature.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from components.audit.snapshot import (
    Access,
    Column,
    ModelSnapshot,
    RegistrySnapshot,
    TargetTerms,
    VersionSnapshot,
    Wanted,
)
from components.rules import PRODUCTION_ALIAS, Severity
from components.spec import ModelSpec, RoleSpec, StackSpec
from provider.limits import ARCHIVED_TAG, alias_uri, version_uri
from provider.registry.retention import archive_set

Section = Literal["Registration", "Permissions", "Lifecycle"]
Status = Literal["pass", "fail", "skip"]
READY = "READY"


@dataclass(frozen=True)
class Item:
    """One checklist item: the seed's wording, what is judged, and how much a failure counts."""

    id: str
    section: Section
    title: str
    scope: Literal["model", "version"]
    severity: Severity
    passes_when: str


ITEMS: tuple[Item, ...] = (
    Item("signature", "Registration", "Model has input AND output signature", "version", "mandatory",
         "the version's MLmodel signature has input and output columns"),
    Item("input-example", "Registration", "Version has an input example", "version", "mandatory",
         "the version's MLmodel records a saved input example"),
    Item("name-convention", "Registration", "Model name follows convention", "model", "mandatory",
         "`catalog.schema.model`, the model part matching governance.modelNamePattern"),
    Item("description", "Registration", "Model has description", "model", "mandatory",
         "the model's description is not empty"),
    Item("required-tags", "Registration", "Model has tags (domain, algorithm, type)", "model", "mandatory",
         "every tag of governance.requiredTags is set and not empty"),
    Item("version-description", "Registration", "Version has description", "version", "mandatory",
         "the version's description is not empty"),
    Item("create-model", "Permissions", "CREATE MODEL granted to ML team", "model", "mandatory",
         "every principal of every `modelCreator: true` role holds CREATE_MODEL on the model's schema "
         "(Unity Catalog) or EDIT/MANAGE on the model (MLflow)"),
    Item("use-model-inference", "Permissions", "USE MODEL granted to inference jobs", "model", "mandatory",
         "every principal of the inference roles holds EXECUTE (Unity Catalog) or READ or more (MLflow)"),
    Item("use-model-dashboards", "Permissions", "USE MODEL granted to dashboards", "model", "mandatory",
         "every principal of the dashboard roles holds EXECUTE (Unity Catalog) or READ or more (MLflow)"),
    Item("production-alias", "Lifecycle", "Production alias set", "model", "mandatory",
         "`Production` points at a READY version; mandatory for served models of production stacks, "
         "advisory elsewhere"),
    Item("old-versions-archived", "Lifecycle", "Old versions archived", "model", "advisory",
         "with a retention rule `archive: {afterDays, keepLatest}`, every version it covers carries "
         '`archived: "true"` and no version an alias points at does; skipped without a rule'),
    Item("version-history", "Lifecycle", "Version history documented", "model", "advisory",
         "every version has a description, listed oldest first with its date"),
)  # fmt: skip
ITEM_BY_ID: Mapping[str, Item] = {i.id: i for i in ITEMS}


@dataclass(frozen=True)
class Check:
    """One item judged for one model (and one version, for per-version items)."""

    item: str
    status: Status
    severity: Severity
    evidence: str
    version: str | None = None

    @property
    def failed_mandatory(self) -> bool:
        return self.status == "fail" and self.severity == "mandatory"


@dataclass(frozen=True)
class Lineage:
    """Where a pinned version comes from: its run, its source and the run's logged input datasets."""

    version: str
    aliases: tuple[str, ...]
    run_id: str
    source: str
    datasets: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class ModelAudit:
    name: str  # the model's short name, as in the stack
    full_name: str
    exists: bool
    latest_version: str
    checks: tuple[Check, ...]
    lineage: tuple[Lineage, ...] = ()

    @property
    def latest_uri(self) -> str:
        return version_uri(self.full_name, self.latest_version) if self.latest_version else ""


@dataclass(frozen=True)
class Report:
    """The whole audit of one stack."""

    stack: str
    environment: str
    production: bool
    target: str
    registry: str
    generated_at: datetime
    models: tuple[ModelAudit, ...]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def checks(self) -> list[Check]:
        return [c for m in self.models for c in m.checks]

    @property
    def mandatory_failures(self) -> list[Check]:
        return [c for c in self.checks if c.failed_mandatory]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory_failures else 0


@dataclass(frozen=True)
class Options:
    """Which roles stand for the checklist's inference jobs and dashboards, and the audit's clock."""

    inference_roles: tuple[str, ...] = ("inference_jobs",)
    dashboard_roles: tuple[str, ...] = ("dashboards",)
    now: datetime | None = None


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------
def evaluate(spec: StackSpec, snapshot: RegistrySnapshot, options: Options | None = None) -> Report:
    """Every checklist item for every model the stack declares, and every version it has."""
    options = options or Options()
    now = options.now or datetime.now(UTC)
    by_name = {m.name: m for m in snapshot.models}
    audits = []
    for model in spec.models:
        held = by_name.get(model.full_name) or ModelSnapshot(model.full_name, exists=False)
        audits.append(_audit_model(spec, model, held, snapshot.terms, options, now))
    return Report(
        stack=spec.stack,
        environment=spec.environment,
        production=spec.is_production,
        target=snapshot.target,
        registry=snapshot.registry,
        generated_at=now,
        models=tuple(audits),
        options={
            "inferenceRoles": list(options.inference_roles),
            "dashboardRoles": list(options.dashboard_roles),
        },
    )


def _audit_model(
    spec: StackSpec,
    model: ModelSpec,
    held: ModelSnapshot,
    terms: TargetTerms,
    options: Options,
    now: datetime,
) -> ModelAudit:
    if not held.exists or held.error:
        why = held.error or f"the model {model.full_name!r} does not exist in the registry"
        failed = [Check(i.id, "fail", _severity(i, spec, model), why) for i in ITEMS]
        return ModelAudit(model.name, model.full_name, held.exists, "", tuple(failed))
    checks: list[Check] = []
    checks += _per_version(held, "signature", lambda v: _signature(v, terms))
    checks += _per_version(held, "input-example", _input_example)
    checks.append(_name_convention(spec, model, held))
    checks.append(_description(model, held))
    checks.append(_required_tags(spec, held))
    checks += _per_version(held, "version-description", lambda v: _version_description(model, v))
    creators = [r for r in spec.roles if r.model_creator]
    checks.append(_granted("create-model", spec, held.create_access, creators, terms.create_model))
    for item, names in (
        ("use-model-inference", options.inference_roles),
        ("use-model-dashboards", options.dashboard_roles),
    ):
        roles = [r for r in spec.roles if r.name in names]
        missing = [n for n in names if n not in {r.name for r in roles}]
        if missing:
            declared = ", ".join(r.name for r in spec.roles) or "none"
            checks.append(
                Check(
                    item,
                    "fail",
                    "mandatory",
                    f"no role {', '.join(missing)} in stack {spec.stack!r} "
                    f"(its roles: {declared}); name the right one with --inference-role/--dashboard-role",
                )
            )
            continue
        checks.append(_granted(item, spec, held.use_access, roles, terms.use_model))
    checks.append(_production_alias(spec, model, held))
    checks.append(_archived(model, held, now))
    checks.append(_history(held))
    order = {i.id: n for n, i in enumerate(ITEMS)}
    checks.sort(key=lambda c: (order[c.item], int(c.version) if c.version and c.version.isdigit() else 0))
    return ModelAudit(model.name, model.full_name, True, held.latest_version, tuple(checks), _lineage(held))


def _severity(item: Item, spec: StackSpec, model: ModelSpec) -> Severity:
    if item.id == "production-alias":
        return "mandatory" if spec.is_production and model.served else "advisory"
    return item.severity


def _per_version(held: ModelSnapshot, item: str, judge: Any) -> list[Check]:
    severity = ITEM_BY_ID[item].severity
    if not held.versions:
        return [Check(item, "fail", severity, "the model has no versions: nothing was registered yet")]
    out = []
    for v in held.versions:
        ok, evidence = judge(v)
        out.append(Check(item, "pass" if ok else "fail", severity, evidence, v.version))
    return out


def _columns(columns: Sequence[Column]) -> str:
    shown = ", ".join(f"{c.name} {c.type}" for c in columns[:8])
    return shown + (f", … ({len(columns)} columns)" if len(columns) > 8 else "")


def _signature(v: VersionSnapshot, terms: TargetTerms) -> tuple[bool, str]:
    if v.logged is None:
        if terms.ready_has_signature and v.status == READY:
            return True, (
                f"{terms.ready_has_signature}, and this one is READY (its MLmodel file was not read: "
                f"{v.logged_error or 'unknown reason'})"
            )
        return False, f"the version's MLmodel file could not be read: {v.logged_error or 'unknown reason'}"
    inputs, outputs = v.logged.inputs, v.logged.outputs
    if inputs and outputs:
        return True, f"inputs: {_columns(inputs)}; outputs: {_columns(outputs)}"
    if not inputs and not outputs:
        return False, "logged without a signature; log with signature=infer_signature(input, output)"
    missing = "outputs" if inputs else "inputs"
    present = _columns(inputs or outputs or ())
    return False, f"the signature has no {missing} (it has {'inputs' if inputs else 'outputs'}: {present})"


def _input_example(v: VersionSnapshot) -> tuple[bool, str]:
    if v.logged is None:
        return False, f"the version's MLmodel file could not be read: {v.logged_error or 'unknown reason'}"
    if v.logged.input_example:
        kind = f", {v.logged.example_type}" if v.logged.example_type else ""
        return True, f"saved as {v.logged.input_example}{kind}"
    return False, "logged without an input example; log the model with input_example=<a few rows>"


def _name_convention(spec: StackSpec, model: ModelSpec, held: ModelSnapshot) -> Check:
    g = spec.governance
    parts = held.name.split(".")
    expected = f"{spec.catalog.name}.{model.schema_name}"
    if len(parts) != 3:
        return Check("name-convention", "fail", "mandatory", f"{held.name!r} is not catalog.schema.model")
    if ".".join(parts[:2]) != expected:
        return Check(
            "name-convention",
            "fail",
            "mandatory",
            f"{held.name!r} is not in {expected}, where the stack declares it",
        )
    if not re.fullmatch(g.model_name_pattern, parts[2]):
        return Check(
            "name-convention",
            "fail",
            "mandatory",
            f"{parts[2]!r} does not match {g.model_name_pattern} ({g.model_name_hint})",
        )
    return Check(
        "name-convention", "pass", "mandatory", f"{held.name}: {parts[2]!r} matches {g.model_name_pattern}"
    )


def _first_line(text: str, limit: int = 80) -> str:
    line = next((x.strip() for x in text.strip().splitlines() if x.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _description(model: ModelSpec, held: ModelSnapshot) -> Check:
    text = held.description.strip()
    if not text:
        return Check("description", "fail", "mandatory", "the model has no description")
    lines = len(text.splitlines())
    evidence = f'"{_first_line(text)}" ({lines} line{"s" if lines != 1 else ""})'
    if model.description and text != model.description.strip():
        evidence += "; differs from the stack's description (`pulumi up` sets it back)"
    return Check("description", "pass", "mandatory", evidence)


def _required_tags(spec: StackSpec, held: ModelSnapshot) -> Check:
    required = spec.governance.required_tags
    missing = [t for t in required if not held.tags.get(t, "").strip()]
    shown = ", ".join(f"{t}={held.tags[t]}" for t in required if t not in missing)
    if missing:
        return Check(
            "required-tags",
            "fail",
            "mandatory",
            f"missing {', '.join(missing)}" + (f" (has {shown})" if shown else ""),
        )
    return Check("required-tags", "pass", "mandatory", shown or "no tags are required")


def _version_description(model: ModelSpec, v: VersionSnapshot) -> tuple[bool, str]:
    text = v.description.strip()
    if not text:
        return False, "the version has no description"
    evidence = f'"{_first_line(text)}"'
    declared = model.version_descriptions.get(int(v.version)) if v.version.isdigit() else None
    if declared is not None and declared.strip() != text:
        evidence += "; differs from the stack's versionDescriptions (`pulumi up` sets it back)"
    return True, evidence


def _granted(
    item: str, spec: StackSpec, access: Access | None, roles: Sequence[RoleSpec], wanted: Wanted
) -> Check:
    what, note = wanted.named, f" ({wanted.note})" if wanted.note else ""
    if not roles:
        return Check(item, "fail", "mandatory", "no role of the stack has `modelCreator: true`" + note)
    if access is None or access.error:
        why = access.error if access is not None else "not read"
        return Check(item, "fail", "mandatory", f"could not read the grants: {why}{note}")
    held, missing = [], []
    for role in roles:
        if not role.principals:
            missing.append(f"role {role.name} has no principals in stack {spec.stack!r}")
        for p in role.principals:
            who = p.name if p.name == role.name else f"{p.name} (role {role.name})"
            h = access.holdings.get(p.name)
            got = sorted(set(h.privileges) & wanted.privileges) if h else []
            if got:
                via = f" via {h.via}" if h and h.via else ""
                held.append(f"{who}: {', '.join(got)}{via}")
            else:
                has = ", ".join(h.privileges) if h and h.privileges else "nothing"
                missing.append(f"{who} holds {has}, not {what}")
    evidence = f"on {access.securable}: " + "; ".join(missing + held) + note
    return Check(item, "fail" if missing else "pass", "mandatory", evidence)


def _production_alias(spec: StackSpec, model: ModelSpec, held: ModelSnapshot) -> Check:
    severity = _severity(ITEM_BY_ID["production-alias"], spec, model)
    why_advisory = (
        ""
        if severity == "mandatory"
        else f" (advisory: stack {spec.stack!r} is not a production environment)"
        if not spec.is_production
        else " (advisory: the model is not `served`)"
    )
    version = held.aliases.get(PRODUCTION_ALIAS)
    if version is None:
        others = ", ".join(f"{a} -> {v}" for a, v in sorted(held.aliases.items())) or "none"
        return Check(
            "production-alias",
            "fail",
            severity,
            f"no {PRODUCTION_ALIAS} alias (aliases: {others})" + why_advisory,
        )
    found = next((v for v in held.versions if v.version == version), None)
    if found is None:
        return Check(
            "production-alias",
            "fail",
            severity,
            f"{PRODUCTION_ALIAS} -> {version}, a version that does not exist" + why_advisory,
        )
    if found.status != READY:
        return Check(
            "production-alias",
            "fail",
            severity,
            f"{PRODUCTION_ALIAS} -> {version}, whose status is {found.status}" + why_advisory,
        )
    return Check(
        "production-alias",
        "pass",
        severity,
        f"{PRODUCTION_ALIAS} -> {version} (READY), {alias_uri(held.name, PRODUCTION_ALIAS)}",
    )


def _archived(model: ModelSpec, held: ModelSnapshot, now: datetime) -> Check:
    # The retention rule is the spec's `archive` (ArchiveSpec: after_days, keep_latest) where the
    # spec has one; a spec without it has nothing to judge.
    rule = model.archive
    if rule is None:
        return Check("old-versions-archived", "skip", "advisory", "no retention rule declared")
    after_days, keep_latest = rule.after_days, rule.keep_latest
    protected = set(held.aliases.values())
    due = archive_set(
        [(v.version, v.created_ms) for v in held.versions],
        protected=protected,
        now=now,
        after_days=after_days,
        keep_latest=keep_latest,
    )
    archived = {v.version for v in held.versions if v.tags.get(ARCHIVED_TAG) == "true"}
    not_yet = [v for v in due if v not in archived]
    pinned = sorted(archived & protected, key=int)
    rule_text = f"archive after {after_days} days, keep the latest {keep_latest}"
    done = ", ".join(sorted(archived, key=int)) or "none"
    if not_yet or pinned:
        problems = []
        if not_yet:
            problems.append(f"due but not archived: {', '.join(not_yet)} (`pulumi up` archives them)")
        if pinned:
            problems.append(f"archived yet an alias points at it: {', '.join(pinned)}")
        return Check(
            "old-versions-archived",
            "fail",
            "advisory",
            f"{rule_text}; {'; '.join(problems)}; archived: {done}",
        )
    return Check(
        "old-versions-archived",
        "pass",
        "advisory",
        f"{rule_text}; archived: {done}; due now: {', '.join(due) or 'none'}",
    )


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d") if ms else "date unknown"


def _history(held: ModelSnapshot) -> Check:
    if not held.versions:
        return Check("version-history", "fail", "advisory", "the model has no versions")
    described = [v for v in held.versions if v.description.strip()]
    entries = "; ".join(
        f"{v.version} ({_date(v.created_ms)}) "
        + (f'"{_first_line(v.description, 50)}"' if v.description.strip() else "undocumented")
        for v in held.versions
    )
    n, total = len(described), len(held.versions)
    status: Status = "pass" if n == total else "fail"
    return Check("version-history", status, "advisory", f"{n} of {total} versions described: {entries}")


def _lineage(held: ModelSnapshot) -> tuple[Lineage, ...]:
    by_version: dict[str, list[str]] = {}
    for alias, version in sorted(held.aliases.items()):
        by_version.setdefault(version, []).append(alias)
    rows = []
    for version, aliases in sorted(by_version.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
        v = next((x for x in held.versions if x.version == version), None)
        if v is None:
            rows.append(Lineage(version, tuple(aliases), "", "", (), "the version does not exist"))
            continue
        run = v.run
        datasets = tuple(
            f"{d.name}@{d.digest}{f' [{d.context}]' if d.context else ''} ({d.source_type}: {d.source})"
            for d in (run.datasets if run else ())
        )
        note = run.error if run and run.error else "" if v.run_id else "registered without a run"
        rows.append(Lineage(version, tuple(aliases), v.run_id, v.source, datasets, note))
    return tuple(rows)

"""Preview every stack with the policy pack and write one Markdown summary: `make preview-all`.

For each `Pulumi.<stack>.yaml` in the project:

1. the stack spec is built (the governance rules on the config; a broken config fails here);
2. the stack's target must be reachable (its `preview_problem`, components/<kind>/target.py), or the
   stack is **skipped** with the reason, without failing the command: a Databricks stack needs
   credentials (DATABRICKS_HOST with a token or OAuth client, or a config profile) and the Databricks
   provider plugin; an MLflow stack needs its server to answer; and the stack must exist in the
   configured backend;
3. `pulumi preview --json --policy-pack policies` runs, with Pulumi's streaming JSON events, which carry
   both the resource steps (counted per operation) and the policy violations (plain `--json` output
   leaves policy events out).

The summary goes to `.state/preview-all.md` (or `--output`) and to stdout, ready to paste into a pull
request. The exit status is 1 if any previewed stack failed: a config problem, a preview error or a
mandatory policy violation; skipped stacks do not count.

    python -m localdev.preview_all [STACK ...] [--output FILE]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from components.spec import SpecError, build_from_files, load_stack_file
from components.targets import target_for
from components.validate import stacks_in

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
DEFAULT_OUTPUT = ROOT / ".state" / "preview-all.md"
OPS = ("create", "update", "replace", "delete")
# Pulumi's step operations, folded into the four a reviewer cares about.
OP_GROUP = {
    "create": "create",
    "update": "update",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "discard-replaced": "replace",
    "delete": "delete",
    "discard": "delete",
    "import": "create",
    "import-replacement": "replace",
}

Status = Literal["previewed", "failed", "skipped"]


@dataclass(frozen=True)
class PolicyResult:
    """One violation: a policy-pack finding from the preview, or a rule the stack spec reported."""

    level: str  # mandatory or advisory
    rule: str
    message: str
    resource: str = ""  # the resource's logical name, "" for the stack's config


@dataclass
class StackPreview:
    """What happened to one stack."""

    stack: str
    target: str
    status: Status
    reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (op, logical name, type)
    policy: list[PolicyResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mandatory(self) -> list[PolicyResult]:
        return [p for p in self.policy if p.level == "mandatory"]


@dataclass
class Pulumi:
    """How to run the Pulumi CLI: scripts/pulumi.sh (this project's settings) unless told otherwise."""

    command: Sequence[str]
    project: Path
    env: Mapping[str, str] | None = None

    def run(
        self, *args: str, extra_env: Mapping[str, str] | None = None, timeout: float = 1200
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env if self.env is not None else os.environ)
        env.update(extra_env or {})
        return subprocess.run(
            [*self.command, *args, "--cwd", str(self.project), "--non-interactive"],
            env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def stacks(self) -> set[str] | None:
        """The project's stacks in the backend, or None if the backend cannot be listed."""
        proc = self.run("stack", "ls", "--json")
        if proc.returncode != 0:
            return None
        # Cloud backends name stacks `org/project/stack`; the file backend just `stack`.
        return {str(s["name"]).rsplit("/", 1)[-1] for s in json.loads(proc.stdout or "[]")}

    def has_plugin(self, name: str, kind: str = "resource") -> bool:
        proc = self.run("plugin", "ls", "--json")
        if proc.returncode != 0:
            return False
        return any(p.get("name") == name and p.get("kind") == kind for p in json.loads(proc.stdout or "[]"))


# --------------------------------------------------------------------------------------------------------
# Reading the preview's events
# --------------------------------------------------------------------------------------------------------
def _name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _type_of(urn: str) -> str:
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) > 3 else ""


def read_events(lines: Iterable[str], preview: StackPreview) -> None:
    """Fill `preview` from Pulumi's streaming JSON events (one JSON object per line)."""
    ops: dict[str, str] = {}
    summary: Mapping[str, Any] | None = None
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "resourcePreEvent" in event:
            meta = event["resourcePreEvent"].get("metadata", {})
            op, urn = meta.get("op", ""), meta.get("urn", "")
            group = OP_GROUP.get(op)
            # A replacement shows as several steps on one URN; it is one replace.
            if group and ops.get(urn) != "replace":
                ops[urn] = group
        elif "policyEvent" in event:
            p = event["policyEvent"]
            lines_ = [x for x in str(p.get("message", "")).splitlines() if x.strip()]
            # pulumi-policy sends "<rule title>\n<message>"; the title is in the rule table already.
            message = lines_[-1] if lines_ else ""
            urn = p.get("resourceUrn", "")
            resource = "" if _type_of(urn) == "pulumi:pulumi:Stack" else _name_of(urn)
            preview.policy.append(
                PolicyResult(
                    p.get("enforcementLevel", "advisory"), p.get("policyName", ""), message, resource
                )
            )
        elif "diagnosticEvent" in event:
            d = event["diagnosticEvent"]
            if d.get("severity") == "error":
                message = str(d.get("message", "")).strip()
                if message and message != "preview failed":
                    preview.errors.append(message)
        elif "summaryEvent" in event:
            summary = event["summaryEvent"]
    preview.changes = sorted((op, _name_of(urn), _type_of(urn)) for urn, op in ops.items())
    counted = Counter(op for op, _n, _t in preview.changes)
    preview.counts = {op: counted.get(op, 0) for op in OPS}
    if summary is not None:
        preview.counts["same"] = int((summary.get("resourceChanges") or {}).get("same", 0))


# --------------------------------------------------------------------------------------------------------
# One stack, then all of them
# --------------------------------------------------------------------------------------------------------
def preview_stack(
    stack: str,
    pulumi: Pulumi,
    *,
    existing: set[str] | None,
    env: Mapping[str, str],
    policy_pack: Path = POLICIES,
    policy_config: Path | None = None,
    has_plugin: Callable[[str], bool] | None = None,
) -> StackPreview:
    """Preview one stack, or say why it failed or was skipped; `has_plugin` asks whether a Pulumi plugin
    is installed (None: do not check)."""
    started = time.monotonic()
    try:
        spec = build_from_files(pulumi.project, stack)
    except SpecError as exc:
        result = StackPreview(
            stack,
            _raw_target(pulumi.project, stack),
            "failed",
            reason="the stack config breaks the governance rules",
        )
        result.policy = [
            PolicyResult(p.severity, p.rule_id, f"{p.file} {p.key}: {p.message}") for p in exc.problems
        ]
        return result
    target = target_for(spec.target.kind)
    result = StackPreview(stack, target.label(spec), "skipped")
    result.policy = [PolicyResult("advisory", _rule_of(w), w) for w in spec.warnings]
    problem = target.preview_problem(spec, env, has_plugin)
    if problem is None and existing is not None and stack not in existing:
        problem = (
            f"stack {stack!r} does not exist in the backend yet; create it with `make up STACK={stack}` "
            f"or `scripts/pulumi.sh stack init {stack}`"
        )
    if problem is not None:
        result.reason = problem
        return result

    flags = ["--policy-pack", str(policy_pack)]
    if policy_config is not None:
        flags += ["--policy-pack-config", str(policy_config)]
    proc = pulumi.run(
        "preview", "--json", "--stack", stack, *flags, extra_env={"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "1"}
    )
    from_spec = result.policy
    result.policy = []
    read_events(proc.stdout.splitlines(), result)
    # The pack checks the same rules on the resources; the spec's own warnings are kept for the rules
    # the pack did not report (say, a role without principals, which has no resource to point at).
    reported = {p.rule for p in result.policy}
    result.policy += [p for p in from_spec if p.rule not in reported]
    result.seconds = time.monotonic() - started
    if proc.returncode == 0 and not result.mandatory:
        result.status = "previewed"
        return result
    result.status = "failed"
    if result.mandatory:
        result.reason = f"{len(result.mandatory)} mandatory policy violation(s)"
    else:
        tail = [x for x in proc.stderr.splitlines() if x.strip()][-3:]
        result.errors = result.errors or tail
        result.reason = "the preview failed"
    return result


def _raw_target(project: Path, stack: str) -> str:
    """The target kind as written in the stack file, for a stack whose spec does not build."""
    try:
        target = load_stack_file(project, stack).get("target")
    except (OSError, ValueError):
        return "?"
    return str(target.get("kind", "?")) if isinstance(target, Mapping) else "?"


def _rule_of(problem: str) -> str:
    """The rule id at the end of a spec problem line (`... [pinned-version-described]`)."""
    return problem.rsplit("[", 1)[-1].rstrip("]") if problem.endswith("]") else "spec"


def preview_all(
    stacks: Sequence[str],
    pulumi: Pulumi,
    env: Mapping[str, str],
    policy_pack: Path = POLICIES,
    policy_config: Path | None = None,
) -> list[StackPreview]:
    existing = pulumi.stacks()
    has_plugin = functools.cache(pulumi.has_plugin)  # asked once a plugin, and only when a stack needs it
    return [
        preview_stack(
            stack,
            pulumi,
            existing=existing,
            env=env,
            policy_pack=policy_pack,
            policy_config=policy_config,
            has_plugin=has_plugin,
        )
        for stack in stacks
    ]


# --------------------------------------------------------------------------------------------------------
# The Markdown summary
# --------------------------------------------------------------------------------------------------------
ICON = {"previewed": "✅ previewed", "failed": "❌ failed", "skipped": "⏭️ skipped"}
LEVEL_ICON = {"mandatory": "❌ mandatory", "advisory": "⚠️ advisory"}
MAX_LISTED = 40


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _policy_cell(p: StackPreview) -> str:
    if p.status == "skipped":
        return "not run"
    by_level = Counter(x.level for x in p.policy)
    if not by_level:
        return "no violations"
    return ", ".join(
        f"{n} {level}" for level, n in sorted(by_level.items(), key=lambda kv: kv[0] != "mandatory")
    )


def render(previews: Sequence[StackPreview], *, when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    lines = [
        "# Stack previews",
        "",
        f"`make preview-all` on {when:%Y-%m-%d %H:%M} UTC: every stack, previewed with the policy pack "
        "(rules: docs/policies.md).",
        "",
        "| stack | target | result | create | update | replace | delete | policy |",
        "|---|---|---|--:|--:|--:|--:|---|",
    ]
    for p in previews:
        counts = [str(p.counts.get(op, 0)) if p.counts else "" for op in OPS]
        row = [f"`{p.stack}`", _cell(p.target), ICON[p.status], *counts, _policy_cell(p)]
        lines.append(f"| {' | '.join(row)} |")
    for p in previews:
        lines += ["", f"## `{p.stack}`: {ICON[p.status]}", ""]
        if p.reason:
            lines += [f"{'Skipped' if p.status == 'skipped' else 'Why'}: {_cell(p.reason)}.", ""]
        if p.counts:
            changed = [f"{p.counts[op]} to {op}" for op in OPS if p.counts.get(op)]
            lines.append(f"**Changes**: {', '.join(changed) or 'none'}; {p.counts.get('same', 0)} unchanged.")
            if p.changes:
                lines += ["", "| change | resource | type |", "|---|---|---|"]
                lines += [f"| {op} | `{name}` | `{typ}` |" for op, name, typ in p.changes[:MAX_LISTED]]
                if len(p.changes) > MAX_LISTED:
                    lines.append(f"| … | {len(p.changes) - MAX_LISTED} more | |")
            lines.append("")
        if p.policy:
            lines += ["**Policy**:", ""]
            for x in p.policy:
                where = f" on `{x.resource}`" if x.resource else ""
                lines.append(f"- {LEVEL_ICON.get(x.level, x.level)} `{x.rule}`{where}: {_cell(x.message)}")
        elif p.status != "skipped":
            lines.append("**Policy**: no violations.")
        if p.errors:
            lines += ["", "**Errors**:", "", "```", *p.errors, "```"]
        while lines[-1] == "":
            lines.pop()
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stacks", nargs="*", help="stack names (default: every Pulumi.<stack>.yaml)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    parser.add_argument("--project", type=Path, default=ROOT, help="the Pulumi project folder")
    parser.add_argument(
        "--pulumi",
        default=os.environ.get("MRGOV_PULUMI", str(ROOT / "scripts" / "pulumi.sh")),
        help="the pulumi command (default: scripts/pulumi.sh, or $MRGOV_PULUMI)",
    )
    parser.add_argument("--policy-pack", type=Path, default=POLICIES)
    parser.add_argument("--policy-pack-config", type=Path, help="the pack's settings (docs/policies.md)")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    stacks = args.stacks or stacks_in(project)
    pulumi = Pulumi([args.pulumi], project)
    config = args.policy_pack_config.resolve() if args.policy_pack_config else None
    previews = preview_all(stacks, pulumi, os.environ, args.policy_pack.resolve(), config)
    summary = render(previews)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(summary)
    print(summary)
    print(f"(written to {args.output})", file=sys.stderr)
    return 1 if any(p.status == "failed" for p in previews) else 0


if __name__ == "__main__":
    sys.exit(main())

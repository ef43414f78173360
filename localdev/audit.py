"""Audit a stack's live registry against the seed's Validation Checklist: `make audit STACK=<stack>`.

The stack's spec (registry.yaml merged with Pulumi.<stack>.yaml) says which registry to read and what
it should hold. For every declared model and every version the audit reports each checklist item as
pass, fail or skip, with its evidence (docs/audit.md lists the items), writes the report as Markdown
and JSON (`.state/audit-<stack>.md` and `.json`, or `--out FILE.md` and its `.json` twin) and prints
the Markdown.

Credentials, read as the stack's providers read them:
- MLflow target: MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) from
  the environment, else the local server's `.state/secrets.env` (as scripts/pulumi.sh does). Reading
  who holds what needs an admin.
- Databricks target: DATABRICKS_HOST with DATABRICKS_TOKEN (or an OAuth client), or the stack's profile.

Exit status: 0 when every mandatory item passes, 1 when one fails, 2 when the audit could not run
(bad config, registry unreachable, no credentials).

    python -m localdev.audit --stack local [--project DIR] [--out FILE.md]
                             [--inference-role NAME ...] [--dashboard-role NAME ...]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from components.audit.checklist import Options, evaluate
from components.audit.readers import reason
from components.audit.report import to_json_text, to_markdown
from components.spec import SpecError, StackSpec, build_from_files
from components.targets import target_for
from components.validate import stacks_in
from localdev.mlflow_server import load_secrets

ROOT = Path(__file__).resolve().parent.parent


class AuditError(Exception):
    """The audit cannot run; the message says why and what to do."""


def local_secrets(state_dir: Path) -> Callable[[], Mapping[str, str]] | None:
    """How to read the local server's secrets file (localdev/mlflow_server.py), None if there is none:
    an audit never makes the file (load_secrets would, with a random password)."""
    if not (state_dir / "secrets.env").exists():
        return None
    return functools.partial(load_secrets, state_dir)


def load_spec(project: Path, stack: str) -> StackSpec:
    if not (project / f"Pulumi.{stack}.yaml").exists():
        known = ", ".join(stacks_in(project)) or "none"
        raise AuditError(f"no Pulumi.{stack}.yaml in {project}; stacks here: {known}")
    try:
        return build_from_files(project, stack)
    except SpecError as exc:
        raise AuditError(str(exc)) from None


def prepare(spec: StackSpec, state_dir: Path) -> None:
    """Credentials and a quick reachability check, so a down registry is one clear message."""
    # A stopped server should fail in seconds, not after MLflow's default retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    target = target_for(spec.target.kind)
    if problem := target.audit_problem(spec, os.environ, local_secrets(state_dir)):
        raise AuditError(problem)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", default="local")
    parser.add_argument("--project", type=Path, default=ROOT, help="the Pulumi project folder")
    parser.add_argument(
        "--out",
        type=Path,
        help="the Markdown file (default .state/audit-<stack>.md); the JSON goes next to it",
    )
    parser.add_argument(
        "--state", type=Path, help="where the local secrets.env is (default <project>/.state)"
    )
    for flag, dest, default in (
        ("--inference-role", "inference_roles", "inference_jobs"),
        ("--dashboard-role", "dashboard_roles", "dashboards"),
    ):
        what = flag.removeprefix("--").removesuffix("-role")
        parser.add_argument(flag, action="append", dest=dest, help=f"a {what} role (default: {default})")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    state_dir = args.state or project / ".state"
    options = Options(
        inference_roles=tuple(args.inference_roles or ("inference_jobs",)),
        dashboard_roles=tuple(args.dashboard_roles or ("dashboards",)),
    )
    try:
        spec = load_spec(project, args.stack)
        prepare(spec, state_dir)
        snapshot = target_for(spec.target.kind).read_registry(spec)
        report = evaluate(spec, snapshot, options)
    except AuditError as exc:
        print(f"audit of stack {args.stack!r} cannot run: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one clear message, never a traceback
        print(f"audit of stack {args.stack!r} failed: {reason(exc)}", file=sys.stderr)
        return 2
    markdown = to_markdown(report)
    out = args.out or state_dir / f"audit-{args.stack}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown)
    out.with_suffix(".json").write_text(to_json_text(report))
    sys.stdout.write(markdown)
    failed = len(report.mandatory_failures)
    verdict = f"{failed} mandatory item(s) failed" if failed else "every mandatory item passed"
    print(f"(written to {out} and {out.with_suffix('.json')}; {verdict})", file=sys.stderr)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())

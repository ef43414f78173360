"""Validate stack configs without Pulumi: `python -m components.validate [STACK ...]`.

For pull-request checks and `make new-env`: it merges registry.yaml with each
Pulumi.<stack>.yaml, runs every governance rule, prints each problem with its
file and key path, and exits 1 if any stack has a mandatory problem. With no
stack named, it validates every Pulumi.<stack>.yaml in the project.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.spec import SpecError, build_from_files

ROOT = Path(__file__).resolve().parent.parent


def stacks_in(project_dir: Path) -> list[str]:
    """The stacks that have a Pulumi.<stack>.yaml in `project_dir`."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def validate(project_dir: Path, stacks: list[str]) -> int:
    """Print a verdict per stack; return the number of stacks with mandatory problems."""
    failed = 0
    for stack in stacks:
        if not (project_dir / f"Pulumi.{stack}.yaml").exists():
            failed += 1
            known = ", ".join(stacks_in(project_dir))
            print(f"FAIL {stack}: no Pulumi.{stack}.yaml in {project_dir}; stacks here: {known}")
            continue
        try:
            spec = build_from_files(project_dir, stack)
        except SpecError as exc:
            failed += 1
            print(f"FAIL {exc}")
            continue
        print(f"ok   {stack}: {len(spec.models)} model(s) in {spec.catalog.name}, target {spec.target.kind}")
        for warning in spec.warnings:
            print(f"     warning: {warning}")
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stacks", nargs="*", help="stack names (default: every Pulumi.<stack>.yaml)")
    parser.add_argument("--project", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    stacks = args.stacks or stacks_in(args.project)
    return 1 if validate(args.project, stacks) else 0


if __name__ == "__main__":
    sys.exit(main())

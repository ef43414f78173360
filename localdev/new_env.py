"""Bootstrap a new environment from an existing stack: `make new-env ENV=qa CATALOG=qa_catalog FROM=staging`.

It writes `Pulumi.<env>.yaml` from the template stack `Pulumi.<from>.yaml`, validates it with the stack
spec, and initialises the stack in the configured backend. It refuses to overwrite a stack file or a
stack that exists already, and writes nothing when the new config breaks a rule.

What is copied and what is not:

- the target, roles, models, alias pins and protection are copied; `--without-aliases` drops the pins
  (a fresh registry has no versions to point at until training registers them);
- the catalog gets its new name; the template's catalog owner and `adopt` are dropped (they belong to
  that environment), and so are `environment` (the new stack's name is its environment) and the secrets
  settings (the new stack gets its own encryption salt when it is initialised);
- principals: `--principals ROLE=a,b` sets a role's principals; otherwise names that start with the
  template's name (`staging-ml-engineers`) are renamed for the new one (`qa-ml-engineers`), and any
  other principal is kept and listed, so that a service principal of another workspace is not carried
  over silently;
- `--tracking-uri` (MLflow target) and `--deployer` (Databricks) set those keys.

Secret config values of the template are not copied (they are encrypted for the template's stack); the
command lists them so they can be set again with `pulumi config set --secret`.

    python -m localdev.new_env ENV --catalog CATALOG --from STACK [--principals ROLE=a,b ...]
        [--tracking-uri URL] [--deployer NAME] [--without-aliases] [--no-init]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no stubs in the pinned venv

from components.spec import NAMESPACE, SpecError, build, build_from_files, load_yaml
from components.targets import TARGETS
from components.validate import stacks_in

ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# Top-level keys of a stack file that belong to the template stack's secrets, never to a new one.
SECRETS_KEYS = ("encryptionsalt", "secretsprovider", "encryptedkey")


class NewEnvError(Exception):
    """The environment cannot be created as asked; the message says why and what to do."""


@dataclass
class Plan:
    """The new stack file, and what the command noticed while writing it."""

    env: str
    template: str
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        header = (
            f"# The {self.env} environment, bootstrapped from Pulumi.{self.template}.yaml by "
            f"`make new-env` on {today}.\n"
            "# Only what differs from registry.yaml lives here (docs/config.md).\n"
        )
        body = yaml.safe_dump({"config": self.config}, sort_keys=False, allow_unicode=True, width=110)
        return header + str(body)


def _key(name: str) -> str:
    return f"{NAMESPACE}:{name}"


def parse_principals(items: Sequence[str]) -> dict[str, list[str]]:
    """`ROLE=a,b` items as {role: [a, b]}; `ROLE=` gives the role no principals."""
    out: dict[str, list[str]] = {}
    for item in items:
        role, sep, names = item.partition("=")
        if not sep or not role.strip():
            raise NewEnvError(f"--principals {item!r}: expected ROLE=principal[,principal...]")
        out[role.strip()] = [n.strip() for n in names.split(",") if n.strip()]
    return out


def _principal_name(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        return str(item["name"])
    return None


def _rename(item: Any, template: str, env: str) -> tuple[Any, bool]:
    """A principal renamed from the template's environment to the new one, and whether it was."""
    name = _principal_name(item)
    if name is None:
        return item, False
    for sep in ("-", "_"):
        if name.startswith(template + sep):
            new = env + name[len(template) :]
            return ({**item, "name": new} if isinstance(item, Mapping) else new), True
    return item, False


def _roles(
    roles: Any, given: Mapping[str, list[str]], template: str, env: str, notes: list[str]
) -> dict[str, Any]:
    if roles is not None and not isinstance(roles, Mapping):
        raise NewEnvError(f"Pulumi.{template}.yaml {_key('roles')} is not a mapping of role to principals")
    out: dict[str, Any] = {}
    for role, value in (roles or {}).items():
        if role in given:
            out[role] = (
                given[role] if isinstance(value, list) else {**(value or {}), "principals": given[role]}
            )
            continue
        principals = value if isinstance(value, list) else (value or {}).get("principals")
        if not isinstance(principals, list):
            out[role] = value
            continue
        renamed, kept = [], []
        for item in principals:
            new, changed = _rename(item, template, env)
            renamed.append(new)
            if not changed:
                kept.append(_principal_name(item) or repr(item))
        out[role] = renamed if isinstance(value, list) else {**value, "principals": renamed}
        if kept:
            notes.append(
                f"role {role!r} keeps {', '.join(repr(k) for k in kept)} from {template}; "
                f"set this environment's with --principals {role}=... or `pulumi config set --path "
                f"'{_key('roles')}.{role}[0]' <principal>`"
            )
    for role, names in given.items():
        out.setdefault(role, names)  # a role the template does not list (registry.yaml declares it)
    return out


def plan(
    project: Path,
    env: str,
    template: str,
    catalog: str,
    *,
    principals: Mapping[str, list[str]] | None = None,
    tracking_uri: str | None = None,
    deployer: str | None = None,
    without_aliases: bool = False,
) -> Plan:
    """The new stack file's config, from the template's, before anything is written or validated."""
    if not STACK_NAME.match(env):
        raise NewEnvError(
            f"environment name {env!r} is not a stack name; allowed: letters, digits, '_', '.', '-'"
        )
    if env == template:
        raise NewEnvError(f"the new environment and its template are both {env!r}")
    source = project / f"Pulumi.{template}.yaml"
    if not source.exists():
        known = ", ".join(stacks_in(project)) or "(none)"
        raise NewEnvError(f"no template Pulumi.{template}.yaml in {project}; stacks here: {known}")
    data = load_yaml(source) or {}
    config: dict[str, Any] = copy.deepcopy(data.get("config") or {})
    notes: list[str] = []
    if any(k in data for k in SECRETS_KEYS):
        notes.append(f"the new stack gets its own secrets settings (Pulumi.{template}.yaml's are not copied)")
    secrets = sorted(k for k, v in config.items() if isinstance(v, Mapping) and "secure" in v)
    for key in secrets:
        del config[key]
    if secrets:
        notes.append(
            f"secret values not copied (set them again with `pulumi config set --secret`): "
            f"{', '.join(secrets)}"
        )
    if config.pop(_key("environment"), None) is not None:
        notes.append(f"{_key('environment')} dropped: the environment is the stack name, {env!r}")

    old_catalog = config.get(_key("catalog"))
    if isinstance(old_catalog, Mapping):
        new_catalog = {k: v for k, v in old_catalog.items() if k not in ("owner", "adopt")}
        new_catalog["name"] = catalog
        dropped = sorted(k for k in ("owner", "adopt") if k in old_catalog)
        if dropped:
            notes.append(
                f"catalog {', '.join(dropped)} of {template} dropped; set this environment's if needed"
            )
        config[_key("catalog")] = new_catalog
    else:
        config[_key("catalog")] = catalog

    if _key("roles") in config or principals:
        config[_key("roles")] = _roles(config.get(_key("roles")), principals or {}, template, env, notes)

    target = config.get(_key("target"))
    if tracking_uri is not None:
        uri_key = _tracking_uri_key(target)
        if not isinstance(target, Mapping) or uri_key is None:
            raise NewEnvError(f"--tracking-uri is for an MLflow target; Pulumi.{template}.yaml's is not")
        config[_key("target")] = {**target, uri_key: tracking_uri}
    if deployer is not None:
        config[_key("deployer")] = deployer
    elif _key("deployer") in config:
        notes.append(
            f"deployer {config[_key('deployer')]!r} kept from {template}; set another with --deployer"
        )

    if without_aliases:
        _drop_aliases(project, template, config)
    return Plan(env, template, config, notes)


def _tracking_uri_key(target: Any) -> str | None:
    """The key of the template's target config that --tracking-uri sets (its target's contract), or None."""
    kind = target.get("kind") if isinstance(target, Mapping) else None
    return TARGETS[kind].tracking_uri_key if isinstance(kind, str) and kind in TARGETS else None


def _drop_aliases(project: Path, template: str, config: dict[str, Any]) -> None:
    """Stop managing every alias pin: the template's own, and those inherited from registry.yaml."""
    try:
        pinned = [m.name for m in build_from_files(project, template).models if m.aliases]
    except SpecError:
        pinned = []
    models = config.get(_key("models"))
    models = dict(models) if isinstance(models, Mapping) else {}
    for name in pinned:
        entry = models.get(name)
        # `null` deletes an inherited key (docs/config.md, merge rule 4).
        models[name] = {**entry, "aliases": None} if isinstance(entry, Mapping) else {"aliases": None}
    if models:
        config[_key("models")] = models


def validate(project: Path, new: Plan) -> list[str]:
    """The spec's advisory warnings for the new config; raises SpecError when a mandatory rule is broken."""
    raw = {k: v for k, v in new.config.items() if k.startswith(f"{NAMESPACE}:")}
    return list(build(new.env, raw, project).warnings)


@dataclass
class PulumiCli:
    """The Pulumi CLI with this project's settings (scripts/pulumi.sh), run against `project`."""

    command: Sequence[str]
    project: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args, "--cwd", str(self.project), "--non-interactive"],
            capture_output=True, text=True, check=False, env=dict(os.environ),
        )  # fmt: skip

    def stack_exists(self, stack: str) -> bool:
        proc = self.run("stack", "ls", "--json")
        if proc.returncode != 0:
            raise NewEnvError(f"cannot list the stacks in the backend: {proc.stderr.strip()}")
        return stack in {str(s["name"]).rsplit("/", 1)[-1] for s in json.loads(proc.stdout or "[]")}


def create(
    project: Path,
    new: Plan,
    pulumi: PulumiCli | None,
) -> Path:
    """Validate, write Pulumi.<env>.yaml, and initialise the stack (unless `pulumi` is None)."""
    path = project / f"Pulumi.{new.env}.yaml"
    if path.exists():
        raise NewEnvError(
            f"{path.name} exists already; refusing to overwrite it (delete it first to start over)"
        )
    if pulumi is not None and pulumi.stack_exists(new.env):
        raise NewEnvError(
            f"stack {new.env!r} exists already in the backend; refusing to reuse it "
            f"(`pulumi stack rm {new.env}` first if it is a leftover)"
        )
    new.notes += [f"warning: {w}" for w in validate(project, new)]
    # `x` mode: if another run wrote the file since the check above, fail rather than overwrite it.
    with path.open("x") as handle:
        handle.write(new.render())
    if pulumi is None:
        return path
    proc = pulumi.run("stack", "init", new.env)
    if proc.returncode != 0:
        path.unlink()  # so that a rerun after fixing the backend starts clean
        raise NewEnvError(f"`pulumi stack init {new.env}` failed; nothing was kept:\n{proc.stderr.strip()}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("env", help="the new stack, e.g. qa")
    parser.add_argument("--catalog", required=True, help="the new environment's catalog name")
    parser.add_argument("--from", dest="template", required=True, help="the stack to copy, e.g. staging")
    parser.add_argument(
        "--principals", action="append", default=[], metavar="ROLE=a,b", help="a role's principals here"
    )
    parser.add_argument("--tracking-uri", help="the MLflow server of the new environment (MLflow target)")
    parser.add_argument("--deployer", help="the identity that runs pulumi up (Databricks target)")
    parser.add_argument("--without-aliases", action="store_true", help="do not copy the alias pins")
    parser.add_argument("--no-init", action="store_true", help="write and validate the file only")
    parser.add_argument("--project", type=Path, default=ROOT)
    parser.add_argument(
        "--pulumi",
        default=os.environ.get("MRGOV_PULUMI", str(ROOT / "scripts" / "pulumi.sh")),
        help="the pulumi command (default: scripts/pulumi.sh, or $MRGOV_PULUMI)",
    )
    args = parser.parse_args(argv)
    project = args.project.resolve()
    try:
        new = plan(
            project,
            args.env,
            args.template,
            args.catalog,
            principals=parse_principals(args.principals),
            tracking_uri=args.tracking_uri,
            deployer=args.deployer,
            without_aliases=args.without_aliases,
        )
        path = create(project, new, None if args.no_init else PulumiCli([args.pulumi], project))
    except SpecError as exc:
        print(f"new-env: {exc}\nnothing was written", file=sys.stderr)
        return 1
    except NewEnvError as exc:
        print(f"new-env: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} from Pulumi.{args.template}.yaml")
    for note in new.notes:
        print(f"  - {note}")
    if not args.no_init:
        env = args.env
        print(f"initialised stack {env!r}; next: `make preview STACK={env}`, `scripts/pulumi.sh up -s {env}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Upgrade a stack's state from the dynamic providers to the mrgov provider: `make migrate STACK=local`.

Until commit 77d069c the MLflow target's resources were Pulumi dynamic resources
(`pulumi-python:dynamic/mrgov:*`). The program now declares the same objects through the mrgov
provider (provider/), in a new layout:

- `registry-mlflow-provider` (`pulumi:providers:mrgov`), a child of the registry component, new;
- each `RegisteredModel` and `Role` keeps its name and becomes `mrgov:registry:RegisteredModel` and
  `mrgov:auth:Role`;
- a model's `ModelTags`, `ModelAlias` and `VersionDescription` children become one
  `mrgov:registry:ModelMetadata` (`<model>-metadata`), its `Permission` children one
  `mrgov:auth:ModelPermissions` (`<model>-permissions`).

Without this, the first `up` of the new program would delete every dynamic resource and create the new
ones: a burst of writes, and for a while no aliases or grants. Instead the state is rewritten in
place, so the first `up` finds what it declares already there:

    pulumi stack export  ->  migrate_deployment()  ->  pulumi stack import

`migrate_deployment` is a pure function of the exported state. The command keeps the exported state
as `migrate-backup-<time>.json` next to the file backend before importing, and leaves a stack with no
dynamic resources as it is (running it twice is safe): `make up` runs it before every `up`, and it
says so in one line when there is nothing to migrate. Only MLflow-target stacks are migrated; a
Databricks stack is refused (docs/upgrading.md says what to do instead).

    python -m localdev.migrate [--stack local] [--project DIR] [--pulumi CMD] [--dry-run]
"""

from __future__ import annotations

import argparse
import copy
import heapq
import json
import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provider import VERSION
from provider.auth.model_permissions import ModelPermissionsProps
from provider.auth.role import RoleProps
from provider.config import ProviderConfig
from provider.registry.model_metadata import ModelMetadataProps
from provider.registry.registered_model import RegisteredModelProps

ROOT = Path(__file__).resolve().parent.parent

DYNAMIC = "pulumi-python:dynamic/mrgov:"
DYNAMIC_PROVIDER = "pulumi:providers:pulumi-python"
PROVIDER_TYPE = ProviderConfig.TOKEN
MODEL = RegisteredModelProps.TOKEN
METADATA = ModelMetadataProps.TOKEN
PERMISSIONS = ModelPermissionsProps.TOKEN
ROLE = RoleProps.TOKEN
DEFAULT_WORKSPACE = "default"

# Old dynamic type -> what it becomes.
RENAMED = {f"{DYNAMIC}RegisteredModel": MODEL, f"{DYNAMIC}Role": ROLE}
MERGED = {
    f"{DYNAMIC}ModelTags": METADATA,
    f"{DYNAMIC}ModelAlias": METADATA,
    f"{DYNAMIC}VersionDescription": METADATA,
    f"{DYNAMIC}Permission": PERMISSIONS,
}
SUFFIX = {METADATA: "metadata", PERMISSIONS: "permissions"}

# Old property -> new property, per old type (properties not listed are dropped: `__provider`, and
# `registry_uri`/`tracking_uri`, which the provider's config now carries). Map values (tag keys, alias
# names) are never renamed.
PROPERTY_NAMES: dict[str, dict[str, str]] = {
    f"{DYNAMIC}RegisteredModel": {
        "name": "name",
        "description": "description",
        "initial_tags": "initialTags",
        "retain_on_delete": "retainOnDelete",
        "registry_aliases": "registryAliases",
    },
    f"{DYNAMIC}Role": {
        "name": "name",
        "description": "description",
        "members": "members",
        "workspace": "workspace",
    },
    f"{DYNAMIC}ModelTags": {"model": "model", "tags": "tags"},
    f"{DYNAMIC}ModelAlias": {"model": "model", "alias": "aliases", "version": "aliases"},
    f"{DYNAMIC}VersionDescription": {
        "model": "model",
        "version": "versionDescriptions",
        "description": "versionDescriptions",
    },
    f"{DYNAMIC}Permission": {
        "model": "model",
        "principal_kind": "principals",
        "principal": "principals",
        "level": "principals",
        "workspace": "workspace",
    },
}

# Per-resource keys of the state that the migration writes itself, or drops because they describe the
# old resource's code (`sourcePosition`, `stackTrace`: the next `up` records the new ones) or its old URN.
_REWRITTEN = frozenset(
    {
        *("urn", "type", "id", "inputs", "outputs", "parent", "provider"),
        *("dependencies", "propertyDependencies", "deletedWith"),
        *("sourcePosition", "stackTrace", "aliases"),
    }
)
# A dynamic resource in one of these states is half-way through an operation of the old code.
_UNFINISHED = ("delete", "pendingReplacement", "taint")


# A Databricks stack's dynamic resources are its models' aliases, tags and version descriptions, under
# `databricks.RegisteredModel`s: not the MLflow layout this migration rewrites. Unity Catalog keeps
# what they set when they leave the state, and the new `<model>-metadata` finds it in place.
DATABRICKS_REFUSAL = (
    "stack {stack!r} targets {kind!r}: this migration upgrades MLflow-target stacks only, nothing was "
    "changed. Remove the stack's `pulumi-python:dynamic/mrgov:*` resources from its state only (`pulumi "
    "state delete --stack {stack} <their URNs>`; Unity Catalog keeps their aliases, tags and version "
    "descriptions), then `pulumi up`: each model's new `<model>-metadata` finds them in place "
    "(docs/upgrading.md)"
)


class MigrationError(Exception):
    """The state cannot be migrated as it is; the message says why and what to do."""


@dataclass
class Report:
    """What a migration did, for the command's summary line."""

    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.before)

    def summary(self) -> str:
        def counts(c: Mapping[str, int]) -> str:
            return ", ".join(f"{n} {t.rsplit(':', 1)[-1]}" for t, n in sorted(c.items()))

        line = f"{sum(self.before.values())} dynamic resources ({counts(self.before)}) -> "
        line += f"{sum(self.after.values())} ({counts(self.after)})"
        if self.dropped:
            line += f"; dropped the unused {', '.join(self.dropped)}"
        return line


# ------------------------------------------------------------------------------------------------
# URNs
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Urn:
    """`urn:pulumi:<stack>::<project>::<parent types$...$type>::<name>`."""

    prefix: str  # urn:pulumi:<stack>::<project>
    types: tuple[str, ...]
    name: str

    @classmethod
    def parse(cls, urn: str) -> Urn:
        parts = urn.split("::")
        if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
            raise MigrationError(f"not a Pulumi URN in the state: {urn!r}")
        # A name may itself contain '::'; the type part is always the third.
        return cls("::".join(parts[:2]), tuple(parts[2].split("$")), "::".join(parts[3:]))

    def __str__(self) -> str:
        return f"{self.prefix}::{'$'.join(self.types)}::{self.name}"

    def retyped(self, token: str) -> Urn:
        return Urn(self.prefix, (*self.types[:-1], token), self.name)

    def child(self, token: str, name: str) -> Urn:
        return Urn(self.prefix, (*self.types, token), name)


def is_dynamic(resource: Mapping[str, Any]) -> bool:
    return str(resource.get("type", "")).startswith(DYNAMIC)


def has_dynamic(deployment: Mapping[str, Any]) -> bool:
    """True when the state holds any `pulumi-python:dynamic/mrgov:*` resource."""
    return any(is_dynamic(r) for r in _resources(_inner(deployment)))


# ------------------------------------------------------------------------------------------------
# The transform
# ------------------------------------------------------------------------------------------------
def migrate_deployment(
    deployment: dict[str, Any],
    *,
    provider_inputs: Mapping[str, Any],
    provider_id: str | None = None,
    report: Report | None = None,
) -> dict[str, Any]:
    """The state `deployment` in the mrgov provider's layout (a new dict; the argument is not changed).

    `deployment` is what `pulumi stack export` prints (`{"version": 3, "deployment": {...}}`) or its
    inner `deployment`; the result has the same shape. `provider_inputs` are the provider's inputs
    as the program declares them (`trackingUri`, and `username` when the stack sets one); the
    provider's `version` is added. `provider_id` is the new provider's id (default: a fresh uuid).
    A state without dynamic resources comes back equal to `deployment`.

    Raises MigrationError when the state cannot be migrated safely (an operation of the old code left
    unfinished, a dynamic resource this migration does not know, children without their model).
    """
    result = copy.deepcopy(deployment)
    inner = _inner(result)
    resources = _resources(inner)
    if not any(is_dynamic(r) for r in resources):
        return result
    if inner.get("pending_operations"):
        ops = ", ".join(
            f"{op.get('type')} {op.get('resource', {}).get('urn')}" for op in inner["pending_operations"]
        )
        raise MigrationError(
            f"the state has pending operations ({ops}), left by an interrupted update; run "
            "`pulumi refresh` (or `pulumi cancel`) with the old code first"
        )
    for r in resources:
        if not is_dynamic(r):
            continue
        if r["type"] not in RENAMED and r["type"] not in MERGED:
            raise MigrationError(
                f"unknown dynamic resource type {r['type']!r} ({r['urn']}); nothing was changed"
            )
        unfinished = [k for k in _UNFINISHED if r.get(k)]
        if unfinished:
            raise MigrationError(
                f"{r['urn']} is marked {', '.join(unfinished)} by an unfinished operation; run `pulumi up` "
                "with the old code until it succeeds, then migrate"
            )
    migrated = _Migration(resources, provider_inputs, provider_id or str(uuid.uuid4())).run()
    if report is not None:
        report.before = _count(r["type"] for r in resources if is_dynamic(r))
        new_types = {MODEL, ROLE, METADATA, PERMISSIONS, PROVIDER_TYPE}
        urns_before = {r["urn"] for r in resources}
        report.after = _count(
            r["type"] for r in migrated if r["type"] in new_types and r["urn"] not in urns_before
        )
        kept = {r["urn"] for r in migrated}
        gone = [r for r in resources if r["urn"] not in kept and not is_dynamic(r)]
        report.dropped = [f"{r['urn'].rsplit('::', 1)[-1]} ({r['type']})" for r in gone]
    inner["resources"] = migrated
    return result


def _inner(deployment: Mapping[str, Any]) -> dict[str, Any]:
    inner = deployment.get("deployment", deployment) if "version" in deployment else deployment
    if not isinstance(inner, dict):
        raise MigrationError("not a Pulumi deployment: no `deployment` object")
    return inner


def _resources(inner: Mapping[str, Any]) -> list[dict[str, Any]]:
    resources = inner.get("resources") or []
    if not isinstance(resources, list):
        raise MigrationError("not a Pulumi deployment: `resources` is not a list")
    return resources


def _count(types: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in types:
        out[t] = out.get(t, 0) + 1
    return out


class _Migration:
    """One run of the transform over a state's resources (kept in state order)."""

    def __init__(self, resources: list[dict[str, Any]], provider_inputs: Mapping[str, Any], provider_id: str):
        self.old = resources
        self.by_urn = {r["urn"]: r for r in resources}
        self.provider_inputs = {**provider_inputs, "version": VERSION}
        self.provider_id = provider_id
        self.renamed: dict[str, str] = {}  # old URN -> new URN (merged children -> their merged resource)
        self.providers: dict[str, str] = {}  # registry component URN -> provider reference
        # (position in the state, resource): merged resources take their first child's position.
        self.placed: list[tuple[float, dict[str, Any]]] = []

    def run(self) -> list[dict[str, Any]]:
        self._plan_urns()
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        first_position: dict[tuple[str, str], int] = {}
        for position, r in enumerate(self.old):
            if r["type"] in RENAMED:
                self.placed.append((position, self._renamed(r)))
            elif r["type"] in MERGED:
                key = (self.renamed[r["urn"]], MERGED[r["type"]])
                groups.setdefault(key, []).append(r)
                first_position.setdefault(key, position)
            else:
                self.placed.append((position, self._rewired(copy.deepcopy(r))))
        for (urn, token), children in groups.items():
            build = self._metadata if token == METADATA else self._permissions
            self.placed.append((first_position[(urn, token)], build(urn, children)))
        # Every model gets its ModelMetadata, as the program declares one per model.
        for position, r in enumerate(self.old):
            if r["type"] == f"{DYNAMIC}RegisteredModel":
                urn = str(
                    Urn.parse(self.renamed[r["urn"]]).child(METADATA, f"{Urn.parse(r['urn']).name}-metadata")
                )
                if (urn, METADATA) not in groups:
                    self.placed.append((position + 0.5, self._metadata(urn, [], model=r)))
        self._place_providers()
        resources = self._drop_unused_dynamic_provider(_ordered(self.placed))
        return self._drop_vanished(resources)

    # -- names -----------------------------------------------------------------------------------
    def _plan_urns(self) -> None:
        for r in self.old:
            if r["type"] in RENAMED:
                self.renamed[r["urn"]] = str(self._new_urn(r["urn"]).retyped(RENAMED[r["type"]]))
        for r in self.old:
            if r["type"] in MERGED:
                model = self._model_of(r)
                token = MERGED[r["type"]]
                name = f"{Urn.parse(model['urn']).name}-{SUFFIX[token]}"
                self.renamed[r["urn"]] = str(Urn.parse(self.renamed[model["urn"]]).child(token, name))
        for r in self.old:
            if r["type"] in RENAMED:
                registry = r.get("parent")
                if not registry or registry not in self.by_urn:
                    raise MigrationError(
                        f"{r['urn']} has no parent component in the state; cannot place the provider"
                    )
                if registry not in self.providers:
                    parent = Urn.parse(self._map(registry))
                    urn = parent.child(PROVIDER_TYPE, f"{parent.name}-provider")
                    self.providers[registry] = f"{urn}::{self.provider_id}"

    def _new_urn(self, urn: str) -> Urn:
        """`urn` with each element of its type chain renamed as its migrated ancestor's."""
        parsed = Urn.parse(urn)
        types = tuple(RENAMED.get(t, t) for t in parsed.types)
        return Urn(parsed.prefix, types, parsed.name)

    def _model_of(self, child: Mapping[str, Any]) -> dict[str, Any]:
        model = self.by_urn.get(child.get("parent") or "")
        if model is None or model["type"] != f"{DYNAMIC}RegisteredModel":
            raise MigrationError(
                f"{child['urn']} is not a child of a dynamic RegisteredModel in the state, so it is not "
                "the MLflow target's layout (the only one this migration knows); nothing was changed"
            )
        return model

    def _map(self, urn: str) -> str:
        return self.renamed.get(urn, urn)

    def _map_all(self, urns: Iterable[str]) -> list[str]:
        out: list[str] = []
        for urn in urns:
            new = self._map(urn)
            if new not in out:
                out.append(new)
        return out

    # -- resources -------------------------------------------------------------------------------
    def _base(self, old: Mapping[str, Any]) -> dict[str, Any]:
        """The old resource's bookkeeping that still holds (timestamps, flags, options)."""
        return {k: copy.deepcopy(v) for k, v in old.items() if k not in _REWRITTEN}

    def _custom(
        self,
        base: dict[str, Any],
        *,
        urn: str,
        token: str,
        id_: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        parent: str,
        registry: str,
        dependencies: list[str],
        property_dependencies: dict[str, list[str]],
    ) -> dict[str, Any]:
        """A new custom resource in the state's own key order, then the old one's bookkeeping."""
        res: dict[str, Any] = {
            "urn": urn,
            "custom": True,
            "id": id_,
            "type": token,
            "inputs": inputs,
            "outputs": outputs,
            "parent": parent,
            "provider": self.providers[registry],
        }
        if dependencies:
            res["dependencies"] = dependencies
        res["propertyDependencies"] = property_dependencies
        return {**res, **base}

    def _renamed(self, old: dict[str, Any]) -> dict[str, Any]:
        names = PROPERTY_NAMES[old["type"]]
        token = RENAMED[old["type"]]
        ins, outs = old.get("inputs") or {}, old.get("outputs") or {}
        if token == MODEL:
            inputs = {
                "name": ins.get("name", old.get("id")),
                "description": ins.get("description") or "",
                "initialTags": dict(ins.get("initial_tags") or {}),
                "retainOnDelete": bool(ins.get("retain_on_delete")),
            }
            outputs = {
                **inputs,
                "name": outs.get("name", inputs["name"]),
                "description": outs.get("description", inputs["description"]),
                "adopted": False,  # the dynamic provider did not record it
                "registryAliases": dict(outs.get("registry_aliases") or {}),
            }
        else:
            inputs = {
                "name": ins.get("name"),
                "description": ins.get("description") or "",
                "members": sorted(ins["members"]) if ins.get("members") is not None else None,
                "workspace": ins.get("workspace") or DEFAULT_WORKSPACE,
            }
            outputs = {
                **inputs,
                **{k: outs[k] for k in ("name", "description", "workspace") if outs.get(k) is not None},
                "members": sorted(outs["members"]) if outs.get("members") is not None else inputs["members"],
            }
        prop_deps: dict[str, list[str]] = {}
        for key, urns in (old.get("propertyDependencies") or {}).items():
            if key in names:
                prop_deps.setdefault(names[key], [])
                for u in self._map_all(urns):
                    if u not in prop_deps[names[key]]:
                        prop_deps[names[key]].append(u)
        return self._custom(
            self._base(old),
            urn=self.renamed[old["urn"]],
            token=token,
            id_=old["id"],
            inputs=inputs,
            outputs=outputs,
            parent=self._map(old["parent"]),
            registry=old["parent"],
            dependencies=self._map_all(old.get("dependencies") or []),
            property_dependencies=prop_deps,
        )

    def _merged_base(self, children: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        base: dict[str, Any] = {}
        created = sorted(str(c["created"]) for c in children if c.get("created"))
        modified = sorted(str(c["modified"]) for c in children if c.get("modified"))
        if created:
            base["created"] = created[0]
        if modified:
            base["modified"] = modified[-1]
        for flag in ("protect", "retainOnDelete"):
            if any(c.get(flag) for c in children):
                base[flag] = True
        return base

    def _merged_deps(
        self, model_urn: str, children: Sequence[Mapping[str, Any]], keys: Iterable[str]
    ) -> tuple[list[str], dict[str, list[str]]]:
        deps = self._map_all([model_urn, *(u for c in children for u in c.get("dependencies") or [])])
        prop_deps: dict[str, list[str]] = {k: [] for k in keys}
        for c in children:
            names = PROPERTY_NAMES[c["type"]]
            for key, urns in (c.get("propertyDependencies") or {}).items():
                target = names.get(key)
                if target is None or target not in prop_deps:
                    continue
                for u in self._map_all(urns):
                    if u not in prop_deps[target]:
                        prop_deps[target].append(u)
        return deps, prop_deps

    def _metadata(
        self, urn: str, children: Sequence[Mapping[str, Any]], model: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        model = model or self._model_of(children[0])
        full_name = model["id"]
        tags: dict[str, str] = {}
        aliases: dict[str, str] = {}
        descriptions: dict[str, str] = {}
        for c in children:
            ins = c.get("inputs") or {}
            if ins.get("model", full_name) != full_name:
                raise MigrationError(
                    f"{c['urn']} names model {ins.get('model')!r}, its parent is {full_name!r}"
                )
            if c["type"] == f"{DYNAMIC}ModelTags":
                tags.update({str(k): str(v) for k, v in (ins.get("tags") or {}).items()})
            elif c["type"] == f"{DYNAMIC}ModelAlias":
                aliases[str(ins["alias"])] = str(ins["version"])
            else:
                descriptions[str(ins["version"])] = str(ins.get("description") or "")
        inputs = {
            "model": full_name,
            "tags": dict(sorted(tags.items())),
            "aliases": dict(sorted(aliases.items())),
            "versionDescriptions": dict(sorted(descriptions.items(), key=lambda kv: _version_key(kv[0]))),
            "versionTags": {},
            # No retention or promotion gates in a dynamic-provider state: the declaration's defaults.
            "archiveAfterDays": None,
            "archiveKeepLatest": 0,
            "gates": {},
            "gateOverrides": {},
        }
        seen = (model.get("outputs") or {}).get("registry_aliases") or {}
        other = {str(a): str(v) for a, v in sorted(seen.items()) if a not in aliases}
        # Offline, the latest version and the pins' lineage are unknown: a refresh or update reads them.
        outputs = {**inputs, "otherAliases": other, "latestVersion": "", "lineage": {}}
        base = self._merged_base(children) if children else {}
        if not children and (model.get("inputs") or {}).get("retain_on_delete"):
            base["retainOnDelete"] = True  # as the program declares: the model's retainOnDelete
        model_urn = self.renamed[model["urn"]]
        base["deletedWith"] = model_urn  # as the program declares (components/model_layout.py)
        deps, prop_deps = self._merged_deps(model["urn"], children, inputs)
        return self._custom(
            base,
            urn=urn,
            token=METADATA,
            id_=full_name,
            inputs=inputs,
            outputs=outputs,
            parent=model_urn,
            registry=model["parent"],
            dependencies=deps,
            property_dependencies=prop_deps,
        )

    def _permissions(self, urn: str, children: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        model = self._model_of(children[0])
        full_name = model["id"]
        users: dict[str, str] = {}
        roles: dict[str, str] = {}
        workspaces = {str((c.get("inputs") or {}).get("workspace") or DEFAULT_WORKSPACE) for c in children}
        if len(workspaces) != 1:
            raise MigrationError(f"the permissions of {full_name!r} span workspaces {sorted(workspaces)}")
        workspace = workspaces.pop()
        for c in children:
            ins = c.get("inputs") or {}
            kind, principal, level = ins.get("principal_kind"), ins.get("principal"), ins.get("level")
            if kind not in ("user", "role") or not principal or not level:
                raise MigrationError(f"{c['urn']} has no principal_kind user/role, principal and level")
            (users if kind == "user" else roles)[str(principal)] = str(level).upper()
        inputs = {
            "model": full_name,
            "users": dict(sorted(users.items())),
            "roles": dict(sorted(roles.items())),
            "workspace": workspace,
        }
        deps, prop_deps = self._merged_deps(model["urn"], children, inputs)
        id_ = full_name if workspace == DEFAULT_WORKSPACE else f"{workspace}/{full_name}"
        return self._custom(
            self._merged_base(children),
            urn=urn,
            token=PERMISSIONS,
            id_=id_,
            inputs=inputs,
            outputs=dict(inputs),
            parent=self.renamed[model["urn"]],
            registry=model["parent"],
            dependencies=deps,
            property_dependencies=prop_deps,
        )

    def _rewired(self, r: dict[str, Any]) -> dict[str, Any]:
        """A resource the migration keeps, with its references to migrated resources renamed."""
        if r.get("parent"):
            r["parent"] = self._map(r["parent"])
        if r.get("deletedWith"):
            r["deletedWith"] = self._map(r["deletedWith"])
        if r.get("dependencies"):
            r["dependencies"] = self._map_all(r["dependencies"])
        if r.get("propertyDependencies"):
            r["propertyDependencies"] = {k: self._map_all(v) for k, v in r["propertyDependencies"].items()}
        return r

    # -- the provider ----------------------------------------------------------------------------
    def _place_providers(self) -> None:
        # Ahead of its first user (the stable ordering below keeps it right there).
        for registry, ref in self.providers.items():
            urn, _, id_ = ref.rpartition("::")
            first = min(pos for pos, r in self.placed if r.get("provider") == ref)
            existing = [r for _, r in self.placed if r["urn"] == urn]
            if existing:  # a provider of that name is in the state already: it must be ours
                raise MigrationError(
                    f"the state already has {urn}, next to dynamic resources; restore a backup"
                )
            inputs = dict(self.provider_inputs)
            provider = {
                "urn": urn,
                "custom": True,
                "id": id_,
                "type": PROVIDER_TYPE,
                "inputs": inputs,
                "outputs": dict(inputs),
                "parent": self._map(registry),
                "propertyDependencies": {k: [] for k in inputs if k != "version"},
            }
            self.placed.append((first - 0.5, provider))

    def _drop_unused_dynamic_provider(self, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop `pulumi:providers:pulumi-python` instances that no resource uses any more.

        Only dynamic resources used it, and its inputs are a stale copy of the whole stack config. The
        engine would drop it silently at the next `up` anyway (tried: no step is shown either way).
        """
        used = {str(r.get("provider", "")).rpartition("::")[0] for r in resources}
        return [r for r in resources if r["type"] != DYNAMIC_PROVIDER or r["urn"] in used]

    def _drop_vanished(self, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        urns = {r["urn"] for r in resources}
        for r in resources:
            if "dependencies" in r:
                r["dependencies"] = [u for u in r["dependencies"] if u in urns]
                if not r["dependencies"]:
                    del r["dependencies"]
            if "propertyDependencies" in r:
                r["propertyDependencies"] = {
                    k: [u for u in v if u in urns] for k, v in r["propertyDependencies"].items()
                }
            if r.get("deletedWith") and r["deletedWith"] not in urns:
                del r["deletedWith"]
        return resources


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (sys.maxsize, version)


def _ordered(placed: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The resources in state order, moved only as far as their parents, providers and dependencies need.

    Pulumi requires a state in which everything a resource refers to comes before it.
    """
    items = sorted(placed, key=lambda pr: pr[0])
    index = {r["urn"]: i for i, (_, r) in enumerate(items)}
    needs: list[set[int]] = []
    for _, r in items:
        refs = {r.get("parent"), r.get("deletedWith"), str(r.get("provider", "")).rpartition("::")[0]}
        refs.update(r.get("dependencies") or [])
        for urns in (r.get("propertyDependencies") or {}).values():
            refs.update(urns)
        needs.append({index[u] for u in refs if u in index and u != r["urn"]})
    waiting = [len(n) for n in needs]
    users: list[list[int]] = [[] for _ in items]
    for i, n in enumerate(needs):
        for j in n:
            users[j].append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    out: list[dict[str, Any]] = []
    while ready:
        i = heapq.heappop(ready)
        out.append(items[i][1])
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(out) != len(items):
        stuck = [items[i][1]["urn"] for i, w in enumerate(waiting) if w]
        raise MigrationError(f"the migrated state would have a dependency cycle through {stuck[0]}")
    return out


# ------------------------------------------------------------------------------------------------
# The command
# ------------------------------------------------------------------------------------------------
def provider_inputs_for(project: Path, stack: str) -> dict[str, Any]:
    """The provider inputs the program declares for `stack`: its MLflow server's URI and username."""
    from components.spec import SpecError, build_from_files

    try:
        spec = build_from_files(project, stack)
    except SpecError as exc:
        raise MigrationError(
            f"the config of stack {stack!r} does not validate: {_one_line(str(exc))}"
        ) from None
    except OSError as exc:
        raise MigrationError(f"cannot read the config of stack {stack!r}: {exc}") from None
    # The dynamic-provider layout this rewrites is the one written against an MLflow server.
    server = spec.target.mlflow_server
    if server is None:
        raise MigrationError(DATABRICKS_REFUSAL.format(stack=stack, kind=spec.target.kind))
    inputs: dict[str, Any] = {"trackingUri": server.tracking_uri.rstrip("/")}
    if server.username:
        inputs["username"] = server.username
    return inputs


def recorded_uris(deployment: Mapping[str, Any]) -> set[str]:
    """The registry URLs the dynamic resources were written against."""
    found: set[str] = set()
    for r in _resources(_inner(deployment)):
        if is_dynamic(r):
            for key in ("registry_uri", "tracking_uri"):
                value = (r.get("inputs") or {}).get(key)
                if isinstance(value, str) and value:
                    found.add(value.rstrip("/"))
    return found


def backend_dir(env: Mapping[str, str]) -> Path:
    """Where the file state backend lives, as scripts/pulumi.sh sets it."""
    url = env.get("PULUMI_BACKEND_URL", "")
    if url.startswith("file://"):
        return Path(url[len("file://") :]).expanduser()
    return Path(env.get("MRGOV_STATE") or ROOT / ".state") / "backend"


def _one_line(text: str) -> str:
    lines = [x.strip() for x in text.strip().splitlines() if x.strip()]
    errors = [x for x in lines if x.lower().startswith("error:")]
    return (errors[-1] if errors else lines[-1] if lines else "").removeprefix("error: ") or "(no output)"


@dataclass
class PulumiCli:
    """The pulumi command (scripts/pulumi.sh by default), run from the project folder."""

    command: Sequence[str]
    cwd: Path

    def run(self, *args: str, what: str) -> str:
        try:
            proc = subprocess.run(
                [*self.command, *args, "--non-interactive"], cwd=self.cwd, text=True, capture_output=True
            )
        except OSError as exc:
            raise MigrationError(f"cannot run {shlex.join(self.command)}: {exc}") from None
        if proc.returncode != 0:
            raise MigrationError(f"{what} failed: {_one_line(proc.stderr or proc.stdout)}")
        return proc.stdout


def migrate_stack(
    cli: PulumiCli,
    stack: str,
    *,
    project: Path,
    dry_run: bool = False,
    inputs_for: Callable[[Path, str], dict[str, Any]] = provider_inputs_for,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> str:
    """Export, migrate and import `stack`; the summary line. Raises MigrationError."""
    exported = cli.run("stack", "export", "--stack", stack, what=f"pulumi stack export --stack {stack}")
    try:
        deployment = json.loads(exported)
    except json.JSONDecodeError as exc:
        raise MigrationError(f"pulumi stack export printed no JSON state ({exc})") from None
    if not has_dynamic(deployment):
        return f"stack {stack!r} has no dynamic resources; nothing to migrate"
    provider_inputs = inputs_for(project, stack)
    recorded = recorded_uris(deployment)
    uri = provider_inputs.get("trackingUri")
    if recorded and recorded != {uri}:
        raise MigrationError(
            f"the state was written against {', '.join(sorted(recorded))} but stack {stack!r} now targets "
            f"{uri}; set mrgov:target.trackingUri back (or `pulumi up` with the old code first), then migrate"
        )
    report = Report()
    try:
        migrated = migrate_deployment(deployment, provider_inputs=provider_inputs, report=report)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MigrationError(
            f"the state is not as the dynamic-provider program wrote it ({type(exc).__name__}: {exc}); "
            "nothing was changed"
        ) from None
    if dry_run:
        json.dump(migrated, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return f"stack {stack!r} (dry run, nothing imported): {report.summary()}"
    folder = backend_dir(os.environ)
    folder.mkdir(parents=True, exist_ok=True)
    backup = folder / f"migrate-backup-{now().strftime('%Y%m%dT%H%M%S%fZ')}.json"
    _write_private(backup, exported)
    with tempfile.TemporaryDirectory(prefix="mrgov-migrate-") as tmp:
        path = Path(tmp) / "migrated.json"
        _write_private(path, json.dumps(migrated, indent=2))
        try:
            cli.run("stack", "import", "--stack", stack, "--file", str(path), what="pulumi stack import")
        except MigrationError as exc:
            raise MigrationError(f"{exc}; the state is unchanged (backup: {backup})") from None
    return f"stack {stack!r} migrated: {report.summary()}; backup: {backup}"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="local", help="the stack to migrate (default: local)")
    parser.add_argument("--project", type=Path, default=ROOT, help="the project folder (default: this clone)")
    parser.add_argument(
        "--pulumi",
        default=os.environ.get("MRGOV_PULUMI", str(ROOT / "scripts" / "pulumi.sh")),
        help="the pulumi command (default: scripts/pulumi.sh, or $MRGOV_PULUMI)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the migrated state; import nothing")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    cli = PulumiCli(shlex.split(args.pulumi), project)
    try:
        summary = migrate_stack(cli, args.stack, project=project, dry_run=args.dry_run)
    except (MigrationError, OSError) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    # With --dry-run the state goes to stdout, so the summary goes to stderr.
    print(f"migrate: {summary}", file=sys.stderr if args.dry_run else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

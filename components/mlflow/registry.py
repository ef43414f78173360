"""MlflowRegistry: everything a stack declares, on an MLflow tracking server.

From the resolved StackSpec it declares, with a static graph (nothing is created inside `.apply()`):
- one `Role` per group principal (Unity Catalog groups become MLflow roles);
- per model, a `RegisteredModel` and, as its children, its `ModelTags`, one `ModelAlias` per
  managed alias, one `VersionDescription` per described version, and one `Permission` per principal.

Grants on a model map to MLflow levels with `permissions.level_for` (EXECUTE -> READ, APPLY_TAG and
CREATE_MODEL_VERSION -> EDIT, MANAGE and the owner -> MANAGE). Catalog and schema grants have no
MLflow counterpart (without workspaces any signed-in user may create models) and are not applied.
Users and service principals are MLflow users and must exist; roles are created by the stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.mlflow.alias import ModelAlias, ModelAliasArgs
from components.mlflow.permissions import Permission, PermissionArgs, Role, RoleArgs, level_for
from components.mlflow.registered_model import RegisteredModel, RegisteredModelArgs
from components.mlflow.tags import ModelTags, ModelTagsArgs
from components.mlflow.version_description import VersionDescription, VersionDescriptionArgs
from components.spec import MlflowTarget, ModelSpec, PrincipalConfig, StackSpec, principal_of

TYPE = "mrgov:mlflow:Registry"


@dataclass(frozen=True)
class MlflowRegistryArgs:
    """Inputs of MlflowRegistry."""

    spec: StackSpec
    """The resolved stack spec; its target must be an MLflow target."""
    role_members: Mapping[str, Sequence[str]] | None = field(default=None)
    """MLflow role (group) name -> usernames, authoritative for the roles listed. Roles not listed
    keep whatever members an admin gave them."""


def _safe(name: str) -> str:
    # Logical names stay readable; only characters that confuse URNs and CLIs are replaced.
    return "".join(ch if ch.isalnum() or ch in "._-@" else "_" for ch in name)


def model_grants(model: ModelSpec) -> dict[tuple[str, str], str]:
    """{(principal kind on MLflow, principal): level} for one model, owner included.

    Groups become roles; users and service principals are users. Raises ValueError naming the model
    and principal when a privilege has no MLflow level.
    """
    out: dict[tuple[str, str], str] = {}
    for grant in model.grants:
        kind = "role" if grant.principal_kind == "group" else "user"
        try:
            out[(kind, grant.principal)] = level_for(grant.privileges)
        except ValueError as exc:
            raise ValueError(f"model {model.name!r}, grant to {grant.principal!r}: {exc}") from None
    if model.owner:
        owner = principal_of(PrincipalConfig(name=model.owner))  # the spec's own kind inference
        out[("role" if owner.kind == "group" else "user", owner.name)] = "MANAGE"
    return dict(sorted(out.items()))


class MlflowRegistry(pulumi.ComponentResource):
    """A stack's registry on an MLflow server.

    Children: `{name}-role-<group>` (Role), `{name}-<model>` (RegisteredModel), and under each model
    `{name}-<model>-tags`, `{name}-<model>-alias-<alias>`, `{name}-<model>-v<n>-description`,
    `{name}-<model>-grant-<principal>`.
    """

    models: dict[str, RegisteredModel]
    roles: dict[str, Role]
    model_names: pulumi.Output[dict[str, str]]
    alias_uris: pulumi.Output[dict[str, dict[str, str]]]
    unmanaged_aliases: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(
        self, name: str, args: MlflowRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        spec = args.spec
        if not isinstance(spec.target, MlflowTarget):
            raise ValueError(
                f"stack {spec.stack!r}: MlflowRegistry needs target.kind 'mlflow', got {spec.target.kind!r}"
            )
        uri = spec.target.tracking_uri.rstrip("/")
        members = dict(args.role_members or {})

        self.roles = {}
        descriptions = {p.name: r.description for r in spec.roles for p in r.principals if p.kind == "group"}
        groups = sorted(
            {p.name for r in spec.roles for p in r.principals if p.kind == "group"}
            | {p for m in spec.models for (k, p) in model_grants(m) if k == "role"}
        )
        for group in groups:
            listed = members.get(group)
            self.roles[group] = Role(
                f"{name}-role-{_safe(group)}",
                RoleArgs(
                    tracking_uri=uri,
                    name=group,
                    description=descriptions.get(group, ""),
                    members=sorted(listed) if listed is not None else None,
                ),
                pulumi.ResourceOptions(parent=self),
            )

        self.models = {}
        for model in spec.models:
            self.models[model.name] = self._model(name, uri, model, spec.protect)

        self.model_names = pulumi.Output.from_input({m.name: m.full_name for m in spec.models})
        self.alias_uris = pulumi.Output.from_input(
            {m.name: {a: f"models:/{m.full_name}@{a}" for a in m.aliases} for m in spec.models if m.aliases}
        )
        managed = {m.name: set(m.aliases) for m in spec.models}
        self.unmanaged_aliases = pulumi.Output.all(
            *[self.models[m.name].registry_aliases for m in spec.models]
        ).apply(lambda seen: _unmanaged(managed, [m.name for m in spec.models], seen))
        self.register_outputs(
            {
                "model_names": self.model_names,
                "alias_uris": self.alias_uris,
                "unmanaged_aliases": self.unmanaged_aliases,
            }
        )

    def _model(self, name: str, uri: str, model: ModelSpec, protect: bool) -> RegisteredModel:
        base = f"{name}-{model.name}"
        res = RegisteredModel(
            base,
            RegisteredModelArgs(
                registry_uri=uri,
                name=model.full_name,
                description=model.description,
                initial_tags=dict(model.tags),
                retain_on_delete=model.retain_on_delete,
            ),
            pulumi.ResourceOptions(parent=self, protect=protect),
        )
        # Children name the model by its known full name (so previews show it) and depend on it
        # explicitly: a parent alone does not order creation.
        # A retained model leaves the stack whole: its aliases, tags and grants stay with it, so jobs that
        # load `@Production` keep working (the Databricks target does the same).
        child = pulumi.ResourceOptions(parent=res, depends_on=[res], retain_on_delete=model.retain_on_delete)
        if model.tags:
            ModelTags(
                f"{base}-tags",
                ModelTagsArgs(registry_uri=uri, model=model.full_name, tags=dict(model.tags)),
                child,
            )
        for number, text in sorted(model.version_descriptions.items()):
            VersionDescription(
                f"{base}-v{number}-description",
                VersionDescriptionArgs(
                    registry_uri=uri, model=model.full_name, version=str(number), description=text
                ),
                child,
            )
        for alias, version in sorted(model.aliases.items()):
            ModelAlias(
                f"{base}-alias-{alias}",
                ModelAliasArgs(registry_uri=uri, model=model.full_name, alias=alias, version=str(version)),
                child,
            )
        for (kind, principal), level in model_grants(model).items():
            deps: list[pulumi.Resource] = [res]
            if kind == "role":
                deps.append(self.roles[principal])
            Permission(
                f"{base}-grant-{_safe(principal)}",
                PermissionArgs(
                    tracking_uri=uri,
                    principal_kind=kind,
                    principal=principal,
                    model=model.full_name,
                    level=level,
                ),
                pulumi.ResourceOptions(parent=res, depends_on=deps, retain_on_delete=model.retain_on_delete),
            )
        return res


def _unmanaged(managed: dict[str, set[str]], order: list[str], seen: list[Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for short, aliases in zip(order, seen, strict=True):
        extra = {a: str(v) for a, v in sorted((aliases or {}).items()) if a not in managed[short]}
        if extra:
            out[short] = extra
    return out

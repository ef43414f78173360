"""MlflowRegistry: everything a stack declares, on an MLflow tracking server.

From the resolved StackSpec it declares, with a static graph (nothing is created inside `.apply()`),
through the mrgov provider (provider/):
- one explicit provider instance for the stack's server (`{name}-provider`): the tracking URI, and
  the credentials only when the stack names a secret config key for them; otherwise the provider
  reads MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD from the environment at call time;
- one `Role` per group principal (Unity Catalog groups become MLflow roles);
- per model, a `RegisteredModel` and, as its children, its `ModelMetadata` (components/model_layout.py)
  and one `ModelPermissions` holding every principal's level;
- one `Webhook` per entry of the stack's `webhooks` (`{name}-webhook-<webhook>`), created before the
  models, so the alias pins and models of the same `up` are delivered too.

Grants on a model map to MLflow levels with `provider.auth.levels.level_for` (EXECUTE -> READ,
APPLY_TAG and CREATE_MODEL_VERSION -> EDIT, MANAGE and the owner -> MANAGE). Catalog and schema
grants have no MLflow counterpart (without workspaces any signed-in user may create models) and are
not applied. Users and service principals are MLflow users and must exist; roles are created here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import lineage
from components.model_layout import child_options, model_metadata
from components.spec import MlflowTarget, ModelSpec, StackSpec
from provider import sdk
from provider.auth.levels import level_for
from provider.limits import alias_uri

TYPE = "mrgov:mlflow:Registry"


@dataclass(frozen=True)
class MlflowRegistryArgs:
    """Inputs of MlflowRegistry."""

    spec: StackSpec
    """The resolved stack spec; its target must be an MLflow target."""
    role_members: Mapping[str, Sequence[str]] | None = field(default=None)
    """MLflow role (group) name -> usernames, authoritative for the roles listed. Roles not listed
    keep whatever members an admin gave them."""
    password: pulumi.Input[str] | None = None
    """The MLflow password from the stack's secret config (`target.passwordSecret`), a Pulumi secret;
    None to read MLFLOW_TRACKING_PASSWORD from the environment at call time."""
    webhook_secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Webhook name -> its signing secret, a Pulumi secret (`components.spec.webhook_secrets`)."""


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
    if (owner := model.owner_principal) is not None:
        out[("role" if owner.kind == "group" else "user", owner.name)] = "MANAGE"
    return dict(sorted(out.items()))


class MlflowRegistry(pulumi.ComponentResource):
    """A stack's registry on an MLflow server.

    Children: `{name}-provider` (the mrgov provider), `{name}-role-<group>` (Role),
    `{name}-webhook-<webhook>` (Webhook), `{name}-<model>` (RegisteredModel), and under each model
    `{name}-<model>-metadata` (ModelMetadata) and `{name}-<model>-permissions` (ModelPermissions).
    """

    models: dict[str, sdk.RegisteredModel]
    metadata: dict[str, sdk.ModelMetadata]
    webhooks: dict[str, sdk.Webhook]
    roles: dict[str, sdk.Role]
    model_names: pulumi.Output[dict[str, str]]
    alias_uris: pulumi.Output[dict[str, dict[str, str]]]
    unmanaged_aliases: pulumi.Output[dict[str, dict[str, str]]]
    adopted_models: pulumi.Output[list[str]]
    latest_versions: pulumi.Output[dict[str, dict[str, str]]]
    lineage: pulumi.Output[dict[str, dict[str, dict[str, str]]]]

    def __init__(
        self, name: str, args: MlflowRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        spec = args.spec
        target = spec.target
        if not isinstance(target, MlflowTarget):
            raise ValueError(
                f"stack {spec.stack!r}: MlflowRegistry needs target.kind 'mlflow', got {target.kind!r}"
            )
        self.provider = sdk.Provider(
            f"{name}-provider",
            sdk.ProviderArgs(
                tracking_uri=target.tracking_uri.rstrip("/"),
                username=target.username,
                password=args.password,  # type: ignore[arg-type]  # a secret Output, or None
            ),
            pulumi.ResourceOptions(parent=self),
        )
        here = pulumi.ResourceOptions(parent=self, provider=self.provider)
        members = dict(args.role_members or {})

        self.roles = {}
        descriptions = {p.name: r.description for r in spec.roles for p in r.principals if p.kind == "group"}
        groups = sorted(
            {p.name for r in spec.roles for p in r.principals if p.kind == "group"}
            | {p for m in spec.models for (k, p) in model_grants(m) if k == "role"}
        )
        for group in groups:
            listed = members.get(group)
            self.roles[group] = sdk.Role(
                f"{name}-role-{_safe(group)}",
                sdk.RoleArgs(
                    name=group,
                    description=descriptions.get(group, ""),
                    members=sorted(listed) if listed is not None else None,
                ),
                here,
            )

        self.webhooks = self._webhooks(name, spec, args.webhook_secrets, here)
        # The models wait for the webhooks (and their metadata for the models): what the same `up`
        # registers or pins is delivered.
        hooks: list[pulumi.Resource] = list(self.webhooks.values())
        self.models, self.metadata = {}, {}
        for model in spec.models:
            base = f"{name}-{model.name}"
            res = sdk.RegisteredModel(
                base,
                sdk.RegisteredModelArgs(
                    name=model.full_name,
                    description=model.description,
                    initial_tags=dict(model.tags),
                    retain_on_delete=model.retain_on_delete,
                ),
                pulumi.ResourceOptions.merge(
                    here,
                    pulumi.ResourceOptions(
                        protect=spec.protect,
                        depends_on=hooks,
                        # The engine then leaves a retained model without calling the provider (whose
                        # delete would leave it too): a `destroy` of 1000 such models sends 1000 calls fewer.
                        retain_on_delete=model.retain_on_delete,
                    ),
                ),
            )
            self.models[model.name] = res
            self.metadata[model.name] = model_metadata(base, res, self.provider, model)
            self._permissions(base, res, model)

        self.model_names = pulumi.Output.from_input({m.name: m.full_name for m in spec.models})
        self.alias_uris = pulumi.Output.from_input(
            {m.name: {a: alias_uri(m.full_name, a) for a in m.aliases} for m in spec.models if m.aliases}
        )
        self.unmanaged_aliases = pulumi.Output.all(
            **{short: md.other_aliases for short, md in self.metadata.items()}
        ).apply(_non_empty)
        self.adopted_models = pulumi.Output.all(
            **{short: m.adopted for short, m in self.models.items()}
        ).apply(lambda seen: sorted(short for short, adopted in dict(seen).items() if adopted))
        full_names = {m.name: m.full_name for m in spec.models}
        self.latest_versions = lineage.by_model(
            {short: lineage.latest_version(full_names[short], md) for short, md in self.metadata.items()}
        )
        self.lineage = lineage.by_model({short: lineage.lineage(md) for short, md in self.metadata.items()})
        self.register_outputs(
            {
                "model_names": self.model_names,
                "alias_uris": self.alias_uris,
                "unmanaged_aliases": self.unmanaged_aliases,
                "adopted_models": self.adopted_models,
                "latest_versions": self.latest_versions,
                "lineage": self.lineage,
            }
        )

    @staticmethod
    def _webhooks(
        name: str, spec: StackSpec, secrets: Mapping[str, pulumi.Input[str]], opts: pulumi.ResourceOptions
    ) -> dict[str, sdk.Webhook]:
        """The stack's webhooks (`{name}-webhook-<webhook>`); each needs its secret from the stack."""
        missing = [w.name for w in spec.webhooks if w.name not in secrets]
        if missing:
            raise ValueError(
                f"stack {spec.stack!r}: no signing secret was given for webhook(s) {missing}; pass "
                "MlflowRegistryArgs(webhook_secrets=components.spec.webhook_secrets(spec))"
            )
        return {
            w.name: sdk.Webhook(
                f"{name}-webhook-{_safe(w.name)}",
                sdk.WebhookArgs(
                    name=w.name,
                    url=w.url,
                    events=list(w.events),
                    description=w.description,
                    status=w.status,
                    secret=secrets[w.name],  # type: ignore[arg-type]  # a secret Output
                ),
                opts,
            )
            for w in spec.webhooks
        }

    def _permissions(self, base: str, res: sdk.RegisteredModel, model: ModelSpec) -> None:
        grants = model_grants(model)
        if not grants:
            return
        roles = [self.roles[p] for (kind, p) in grants if kind == "role"]
        sdk.ModelPermissions(
            f"{base}-permissions",
            sdk.ModelPermissionsArgs(
                model=model.full_name,
                users={p: level for (kind, p), level in grants.items() if kind == "user"},
                roles={p: level for (kind, p), level in grants.items() if kind == "role"},
            ),
            child_options(res, self.provider, model, *roles, deleted_with_model=False),
        )


def _non_empty(by_model: Mapping[str, dict[str, str]] | list[Any]) -> dict[str, dict[str, str]]:
    # Output.all() of no outputs gives a list, not a mapping.
    return {model: dict(sorted(v.items())) for model, v in dict(by_model).items() if v}

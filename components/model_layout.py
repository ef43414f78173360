"""One layout for a registered model's declared contents, used by both targets.

Whatever the target, a model's managed tags, alias pins, version descriptions and version tags, its
retention (`archive`) and its promotion gates (`gates`, `overrides`) are one
`mrgov:registry:ModelMetadata` resource, a child of the model resource (`databricks.RegisteredModel`
on Unity Catalog, `mrgov:registry:RegisteredModel` on an MLflow server), named `<model>-metadata`.
Both targets pass the model's resolved `ModelSpec` as it is, so a new per-model setting reaches this
resource by being read here, whatever the target.

The child is never protected, even in prod (moving or dropping an alias is ordinary work), shares
the model's `retain_on_delete` (a model that leaves the stack but stays in the registry keeps its
aliases, so jobs loading `@Production` keep working), and is deleted with the model (deleting a model
deletes everything on it: no calls on a dead object).
"""

from __future__ import annotations

import pulumi

from components.spec import GateSpec, ModelSpec
from provider import sdk


def child_options(
    model: pulumi.Resource,
    provider: pulumi.ProviderResource,
    spec: ModelSpec,
    *after: pulumi.Resource,
    deleted_with_model: bool = True,
) -> pulumi.ResourceOptions:
    """Options of a model's child resource: see the module docstring.

    `deleted_with_model=False` for MLflow permissions, which are grants held by users and roles:
    they outlive the model on the server, so they are revoked one by one.
    """
    return pulumi.ResourceOptions(
        parent=model,
        provider=provider,
        # A parent alone does not order creation.
        depends_on=[model, *after],
        deleted_with=model if deleted_with_model else None,
        protect=False,
        retain_on_delete=spec.retain_on_delete,
    )


def model_metadata(
    name: str, model: pulumi.Resource, provider: pulumi.ProviderResource, spec: ModelSpec
) -> sdk.ModelMetadata:
    """The model's ModelMetadata (`{name}-metadata`); also what reports aliases set by others."""
    args = sdk.ModelMetadataArgs(
        model=spec.full_name,
        tags=dict(sorted(spec.tags.items())),
        aliases={alias: str(version) for alias, version in sorted(spec.aliases.items())},
        version_descriptions={str(v): text for v, text in sorted(spec.version_descriptions.items())},
        version_tags={str(v): dict(sorted(tags.items())) for v, tags in sorted(spec.version_tags.items())},
        archive_after_days=spec.archive.after_days if spec.archive else None,
        archive_keep_latest=spec.archive.keep_latest if spec.archive else 0,
        gates={alias: _gate(gate) for alias, gate in sorted(spec.gates.items())},
        gate_overrides=dict(sorted(spec.overrides.items())),
    )
    return sdk.ModelMetadata(f"{name}-metadata", args, child_options(model, provider, spec))


def _gate(gate: GateSpec) -> sdk.Gate:
    return sdk.Gate(
        metric=gate.metric,
        higher_is_better=gate.higher_is_better,
        against=gate.against,
        min_delta=gate.min_delta,
        min=gate.min,
        max=gate.max,
    )

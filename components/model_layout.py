"""One layout for a registered model's declared contents, used by both targets.

Whatever the target, a model's managed tags, alias pins, version descriptions and version tags are one
`mrgov:registry:ModelMetadata` resource, a child of the model resource (`databricks.RegisteredModel`
on Unity Catalog, `mrgov:registry:RegisteredModel` on an MLflow server), named `<model>-metadata`.

The child is never protected, even in prod (moving or dropping an alias is ordinary work), shares
the model's `retain_on_delete` (a model that leaves the stack but stays in the registry keeps its
aliases, so jobs loading `@Production` keep working), and is deleted with the model (deleting a model
deletes everything on it: no calls on a dead object).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import pulumi

from provider import sdk


class ModelContents(Protocol):
    """What a model declares about itself: both targets' model specs have it."""

    @property
    def full_name(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def aliases(self) -> Mapping[str, int]: ...
    @property
    def version_descriptions(self) -> Mapping[int, str]: ...
    @property
    def retain_on_delete(self) -> bool: ...


def child_options(
    model: pulumi.Resource,
    provider: pulumi.ProviderResource,
    spec: ModelContents,
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
    name: str, model: pulumi.Resource, provider: pulumi.ProviderResource, spec: ModelContents
) -> sdk.ModelMetadata:
    """The model's ModelMetadata (`{name}-metadata`); also what reports aliases set by others."""
    args = sdk.ModelMetadataArgs(
        model=spec.full_name,
        tags=dict(sorted(spec.tags.items())),
        aliases={alias: str(version) for alias, version in sorted(spec.aliases.items())},
        version_descriptions={str(v): text for v, text in sorted(spec.version_descriptions.items())},
    )
    return sdk.ModelMetadata(f"{name}-metadata", args, child_options(model, provider, spec))

"""A model's lineage outputs, the same on both targets: its latest version and where its pins come from.

The seed's `Latest (auto)` alias cannot exist: MLflow reserves the alias `latest` (any case;
`_validate_model_alias_name` in mlflow/utils/validation.py) and Unity Catalog keeps no latest alias
(mlflow/mlflow issue 9730). So the latest version is exported as a number and a version URI,
`models:/<catalog.schema.model>/<version>`, which loads on both targets. Both come from the model's
`ModelMetadata` outputs `latestVersion` and `lineage` (provider/registry/model_metadata.py), as last
seen on create, update or `pulumi refresh`: a version a training job registered since then shows up
after the next refresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from provider import sdk
from provider.limits import version_uri


def latest_version(full_name: str, metadata: sdk.ModelMetadata) -> pulumi.Output[dict[str, str]]:
    """`{version, uri}` of the model's latest version; `{}` while it has none (or is not read yet)."""

    def shape(version: Any) -> dict[str, str]:
        return {"version": str(version), "uri": version_uri(full_name, str(version))} if version else {}

    return metadata.latest_version.apply(shape)


def lineage(metadata: sdk.ModelMetadata) -> pulumi.Output[dict[str, dict[str, str]]]:
    """`{version: {runId, source}}` of each pinned version, sorted by version number."""

    def shape(seen: Any) -> dict[str, dict[str, str]]:
        found = dict(seen or {})
        return {v: dict(sorted(dict(found[v]).items())) for v in sorted(found, key=_number)}

    return metadata.lineage.apply(shape)


def by_model(outputs: Mapping[str, pulumi.Output[Any]]) -> pulumi.Output[dict[str, Any]]:
    """{model: value} of the models whose value is not empty, as the other per-model stack outputs."""
    return pulumi.Output.all(**outputs).apply(
        # Output.all() of no outputs gives a list, not a mapping.
        lambda seen: {model: value for model, value in dict(seen).items() if value}
    )


def _number(version: str) -> int:
    return int(version) if str(version).isdigit() else 0

"""The package schema, made from the resource declarations (`pulumi package get-schema`)."""

from __future__ import annotations

from typing import Any

from provider import VERSION
from provider.config import ProviderConfig
from provider.declare import Props, inputs_of, property_schema, schema_of, struct_schema, structs_of
from provider.resources import RESOURCES


def package_schema() -> dict[str, Any]:
    """The Pulumi package schema of the provider: config, provider inputs and every resource."""
    resources: list[type[Props]] = [r.PROPS for r in RESOURCES]
    config = {s.name: property_schema(s) for s in inputs_of(ProviderConfig)}
    # Object types the resources use (a ModelMetadata's `gates` are `mrgov:registry:Gate`s).
    structs = [t for cls in resources for t in structs_of(cls)]
    return {
        "name": "mrgov",
        "displayName": "mrgov",
        "version": VERSION,
        "description": "Model-registry governance as code: MLflow model registries and Unity Catalog models.",
        "keywords": ["pulumi", "mlflow", "model-registry", "unity-catalog", "category/infrastructure"],
        "license": "Apache-2.0",
        "meta": {"moduleFormat": "(.*)"},
        "config": {"variables": config},
        "provider": {"description": ProviderConfig.DESCRIPTION, "inputProperties": config},
        "types": {t.TOKEN: struct_schema(t) for t in structs},
        "resources": {cls.TOKEN: schema_of(cls) for cls in resources},
        "language": {"python": {"packageName": "mrgov"}},
    }

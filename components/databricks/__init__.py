"""Databricks target: Unity Catalog catalog, schemas, registered models and grants (pulumi_databricks).

Aliases, tags and version descriptions, which the provider does not apply, go through the
shared MLflow dynamic providers with registry `databricks-uc`. `DatabricksRegistry` builds it all
from a resolved StackSpec; the other components can be used on their own.
"""

from components.databricks.catalog import Catalog, CatalogArgs
from components.databricks.model import RegisteredModel, RegisteredModelArgs
from components.databricks.registry import DatabricksRegistry, DatabricksRegistryArgs
from components.databricks.schema import Schema, SchemaArgs

__all__ = [
    "Catalog",
    "CatalogArgs",
    "DatabricksRegistry",
    "DatabricksRegistryArgs",
    "RegisteredModel",
    "RegisteredModelArgs",
    "Schema",
    "SchemaArgs",
]

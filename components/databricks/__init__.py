"""Databricks target: Unity Catalog catalog, schemas, registered models and grants (pulumi_databricks).

Aliases, tags and version descriptions, which the provider does not apply, go through the
shared MLflow dynamic providers with registry `databricks-uc`. `DatabricksRegistry` (registry.py) builds
it all from a resolved StackSpec; the other components (catalog.py, schema.py, model.py) can be used on
their own. Nothing is imported here, so that `target.py` and the commands' modules load without
pulumi_databricks.
"""

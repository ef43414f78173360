"""Databricks target: Unity Catalog catalog, schemas, registered models and grants (pulumi_databricks).

Aliases, tags and version descriptions, which the provider does not apply, go through the
shared MLflow dynamic providers with registry `databricks-uc`.
"""

"""pulumi-resource-mrgov: a Pulumi resource provider for MLflow model registries, in Python.

It manages registered models, their tags, aliases and versions' descriptions and tags (on an MLflow
tracking server or on Unity Catalog through MLflow's `databricks-uc` registry), and MLflow's roles and
model permissions. `python -m provider` serves it; `provider/pulumi-resource-mrgov` is what the
engine runs; `provider.sdk` holds the Python classes a program uses.
"""

VERSION = "0.2.0"
"""The provider's semver version, reported to the engine (`GetPluginInfo`)."""

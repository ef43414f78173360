"""MLflow target: Python dynamic providers over MLflow's registry and permission APIs.

The model-level providers (RegisteredModel, ModelTags, ModelAlias, VersionDescription) take a
`registry_uri`: an MLflow tracking server URL, or `databricks-uc` for Unity Catalog, so the Databricks
target reuses the same tag, alias and version-description providers. Role and Permission speak the
MLflow server's basic-auth API and take its `tracking_uri`.
"""

from components.mlflow.alias import ModelAlias, ModelAliasArgs, ModelAliasProvider
from components.mlflow.base import RegistryError
from components.mlflow.permissions import (
    Permission,
    PermissionArgs,
    PermissionProvider,
    Role,
    RoleArgs,
    RoleProvider,
    level_for,
)
from components.mlflow.registered_model import RegisteredModel, RegisteredModelArgs, RegisteredModelProvider
from components.mlflow.tags import ModelTags, ModelTagsArgs, ModelTagsProvider
from components.mlflow.version_description import (
    VersionDescription,
    VersionDescriptionArgs,
    VersionDescriptionProvider,
)

__all__ = [
    "ModelAlias",
    "ModelAliasArgs",
    "ModelAliasProvider",
    "ModelTags",
    "ModelTagsArgs",
    "ModelTagsProvider",
    "Permission",
    "PermissionArgs",
    "PermissionProvider",
    "RegisteredModel",
    "RegisteredModelArgs",
    "RegisteredModelProvider",
    "RegistryError",
    "Role",
    "RoleArgs",
    "RoleProvider",
    "VersionDescription",
    "VersionDescriptionArgs",
    "VersionDescriptionProvider",
    "level_for",
]

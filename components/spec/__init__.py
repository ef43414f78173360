"""The typed stack spec: one description of the registry, merged per stack, validated before anything exists.

Two layers, each a module here:

* `document`: the *config document* (`StackConfig` and friends), the shape people write;
* `model`: the *resolved spec* (`StackSpec` and friends), what components consume;

and the steps between them:

* `load`: reading the YAML files and merging them (registry.yaml, Pulumi.<stack>.yaml, `modelDefaults`);
* `problems`: where a problem is written (key path to file and key) and what pydantic's errors mean;
* `resolve`: a validated document into the resolved spec;
* `build`: the entry points, `build()` (pure, no Pulumi runtime) and `load_from_pulumi()` (the only place
  in the program that reads `pulumi.Config`), and the secrets a stack names.

The merge rules and every key are documented in docs/config.md. Import from here: the names below are the
package's interface.
"""

from components.spec.build import (
    build,
    build_from_files,
    load_from_pulumi,
    mlflow_password,
    webhook_secrets,
)
from components.spec.document import (
    NAMESPACE,
    SHARED_FILE,
    ArchiveConfig,
    CatalogConfig,
    DatabricksTarget,
    DeploymentJobConfig,
    GateConfig,
    GovernanceConfig,
    GrantConfig,
    IsolationMode,
    MlflowTarget,
    ModelConfig,
    OverrideConfig,
    OwnedJobConfig,
    PrincipalConfig,
    PrincipalKind,
    RoleConfig,
    SchemaConfig,
    StackConfig,
    Target,
    WebhookConfig,
)
from components.spec.load import CONFIG_KEYS, decode_config, load_shared, load_stack_file, load_yaml, merge
from components.spec.model import (
    ArchiveSpec,
    CatalogSpec,
    DeploymentJobSpec,
    GateSpec,
    GovernanceSpec,
    Grant,
    ModelSpec,
    Principal,
    RoleSpec,
    SchemaSpec,
    StackSpec,
    WebhookSpec,
)
from components.spec.problems import Problem, SpecError, format_path
from components.spec.resolve import DEPLOYER_PRIVILEGES, principal_of

__all__ = [
    "CONFIG_KEYS",
    "DEPLOYER_PRIVILEGES",
    "NAMESPACE",
    "SHARED_FILE",
    "ArchiveConfig",
    "ArchiveSpec",
    "CatalogConfig",
    "CatalogSpec",
    "DatabricksTarget",
    "DeploymentJobConfig",
    "DeploymentJobSpec",
    "GateConfig",
    "GateSpec",
    "GovernanceConfig",
    "GovernanceSpec",
    "Grant",
    "GrantConfig",
    "IsolationMode",
    "MlflowTarget",
    "ModelConfig",
    "ModelSpec",
    "OverrideConfig",
    "OwnedJobConfig",
    "Principal",
    "PrincipalConfig",
    "PrincipalKind",
    "Problem",
    "RoleConfig",
    "RoleSpec",
    "SchemaConfig",
    "SchemaSpec",
    "SpecError",
    "StackConfig",
    "StackSpec",
    "Target",
    "WebhookConfig",
    "WebhookSpec",
    "build",
    "build_from_files",
    "decode_config",
    "format_path",
    "load_from_pulumi",
    "load_shared",
    "load_stack_file",
    "load_yaml",
    "merge",
    "mlflow_password",
    "principal_of",
    "webhook_secrets",
]

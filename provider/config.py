"""The provider's configuration: which registry it speaks to, and as whom.

Every property may instead come from the standard environment variables of MLflow's client
(https://mlflow.org/docs/latest/python_api/mlflow.environment_variables.html) and, for Unity Catalog,
of the Databricks SDK (https://docs.databricks.com/dev-tools/auth/env-vars.html). What the provider
config sets wins over the environment, so two provider instances in one stack can reach two servers.

Credentials are never stored by the provider: `password` and `token` are secret inputs (encrypted in
the state as Pulumi secrets), and when they are left out they are read from the environment at call
time and never written anywhere. Each provider instance is its own plugin process, so `configure`
puts them in that process's environment, where MLflow's credential lookup
(`mlflow.utils.credentials.get_default_host_creds`) finds them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from provider.declare import Props, arg
from provider.limits import UC_SCHEME, is_uc


@dataclass(frozen=True)
class ProviderConfig(Props):
    """The provider's configuration properties (stack config `mrgov:<key>` for the default provider)."""

    TOKEN = "pulumi:providers:mrgov"
    DESCRIPTION = (
        "The mrgov provider: an MLflow model registry (an MLflow tracking server, or Databricks Unity "
        "Catalog through MLflow's `databricks-uc` registry) and the credentials to reach it."
    )

    tracking_uri: str | None = arg(
        "The MLflow tracking server URL (`http://127.0.0.1:5000`), or `databricks` (or "
        "`databricks://<profile>`) for a Databricks workspace. Default: `MLFLOW_TRACKING_URI`; for a "
        "Unity Catalog registry, `databricks`.",
        default=None,
    )
    registry_uri: str | None = arg(
        "The model registry URI when it differs from the tracking URI: `databricks-uc` (or "
        "`databricks-uc://<profile>`) for Unity Catalog. Default: `MLFLOW_REGISTRY_URI`, else the "
        "tracking URI.",
        default=None,
    )
    username: str | None = arg(
        "The MLflow basic-auth username. Default: `MLFLOW_TRACKING_USERNAME`.",
        default=None,
    )
    password: str | None = arg(
        "The MLflow basic-auth password. Default: `MLFLOW_TRACKING_PASSWORD`, read at call time and "
        "never stored.",
        default=None,
        secret=True,
    )
    token: str | None = arg(
        "A bearer token: `MLFLOW_TRACKING_TOKEN` for an MLflow server, `DATABRICKS_TOKEN` for Unity "
        "Catalog, which are the defaults (read at call time and never stored).",
        default=None,
        secret=True,
    )
    host: str | None = arg(
        "The Databricks workspace URL, for Unity Catalog. Default: `DATABRICKS_HOST` or the profile.",
        default=None,
    )


@dataclass(frozen=True)
class Connection:
    """Where a configured provider sends its calls."""

    registry_uri: str
    tracking_uri: str

    @property
    def uc(self) -> bool:
        """True for Unity Catalog, which has no permissions API of MLflow's and no signature check."""
        return is_uc(self.registry_uri)

    @property
    def label(self) -> str:
        """How messages name the registry."""
        return "Unity Catalog" if self.uc else self.registry_uri


class ConfigError(Exception):
    """The provider configuration cannot work; the message names the key and the fix."""


def connect(config: ProviderConfig, env: dict[str, str] | None = None) -> Connection:
    """Resolve the configuration against the environment and set this process's credentials.

    Raises ConfigError when no registry is named at all.
    """
    environ = os.environ if env is None else env
    registry = config.registry_uri or environ.get("MLFLOW_REGISTRY_URI") or ""
    tracking = config.tracking_uri or environ.get("MLFLOW_TRACKING_URI") or ""
    if not registry and not tracking:
        raise ConfigError(
            "the mrgov provider has no registry: set `trackingUri` on the provider (stack config "
            "`mrgov:trackingUri` for the default provider) or MLFLOW_TRACKING_URI in the environment"
        )
    registry = registry or tracking
    if is_uc(registry):
        tracking = tracking or "databricks" + registry[len(UC_SCHEME) :]
    else:
        tracking = tracking or registry
        # One spelling per server, so that `http://host/` and `http://host` are one registry.
        registry, tracking = registry.rstrip("/"), tracking.rstrip("/")
    for key, value in (
        ("MLFLOW_TRACKING_USERNAME", config.username),
        ("MLFLOW_TRACKING_PASSWORD", config.password),
        ("MLFLOW_TRACKING_TOKEN", config.token if not is_uc(registry) else None),
        ("DATABRICKS_TOKEN", config.token if is_uc(registry) else None),
        ("DATABRICKS_HOST", config.host),
    ):
        if value:
            environ[key] = value
    # The provider process should not phone home; a user who wants telemetry can set it explicitly.
    environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return Connection(registry_uri=registry, tracking_uri=tracking)


def caller_username() -> str | None:
    """The MLflow username this process acts as, if it uses basic auth."""
    return os.environ.get("MLFLOW_TRACKING_USERNAME") or None

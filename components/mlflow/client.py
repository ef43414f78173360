"""How the dynamic providers reach an MLflow server.

Credentials are read from the environment at call time (MLFLOW_TRACKING_USERNAME
and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN), inside the provider
process. Providers hold only the tracking URI, so nothing secret is pickled into
the Pulumi state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient


def client_for(tracking_uri: str) -> MlflowClient:
    """An MlflowClient for `tracking_uri` whose registry is the same server."""
    from mlflow import MlflowClient  # imported here: the provider process pays for it once

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def is_not_found(exc: Exception) -> bool:
    """True for MLflow's "does not exist" answers (404 RESOURCE_DOES_NOT_EXIST)."""
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"

"""Reaching an MLflow target from the project's commands (`make preview-all`, `make audit`)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, MutableMapping

from components.spec import MlflowTarget, StackSpec

SECRET_KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def mlflow_target(spec: StackSpec) -> MlflowTarget:
    """The stack's target, typed as this folder's: the table (components/targets.py) chose it by kind."""
    assert isinstance(spec.target, MlflowTarget)  # a type narrowing for mypy, not a choice of target
    return spec.target


def mlflow_problem(target: MlflowTarget, timeout: float = 3.0) -> str | None:
    """Why the MLflow server cannot be reached, or None when its /health answers."""
    url = target.tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status == 200:
                return None
            return f"the MLflow server at {target.tracking_uri} answered {response.status} on /health"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return (
            f"the MLflow server at {target.tracking_uri} does not answer ({reason}); "
            "start it with `make mlflow-up`"
        )


def mlflow_credentials(
    target: MlflowTarget,
    env: MutableMapping[str, str],
    local_secrets: Callable[[], Mapping[str, str]] | None,
) -> None:
    """The environment's MLflow credentials, else the local server's secrets if there are any.

    `local_secrets` reads them (localdev/mlflow_server.py's secrets file); None when there is none,
    since an audit never makes one.
    """
    if target.username:
        env.setdefault("MLFLOW_TRACKING_USERNAME", target.username)
    if env.get("MLFLOW_TRACKING_PASSWORD") or env.get("MLFLOW_TRACKING_TOKEN"):
        return
    if local_secrets is None:
        return
    stored = local_secrets()
    for key in SECRET_KEYS:
        env.setdefault(key, stored[key])


def registry_problem(target: MlflowTarget) -> str | None:
    """Why the registry on the server cannot be read with the credentials at hand, or None."""
    from components.audit.readers import reason
    from provider.registry.client import registry_client

    try:
        registry_client(target.tracking_uri.rstrip("/")).search_registered_models(max_results=1)
    except Exception as exc:  # noqa: BLE001 - one message, not a traceback
        return (
            f"cannot read the registry at {target.tracking_uri}: {reason(exc)} (credentials: "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, else .state/secrets.env)"
        )
    return None

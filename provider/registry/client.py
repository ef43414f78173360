"""How the provider reaches a model registry, and how it reads the registry's errors.

Credentials are read from this process's environment at call time by MLflow's own lookup
(MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN; DATABRICKS_HOST and
DATABRICKS_TOKEN for `databricks-uc`); `provider.config.connect` puts the provider config's there.

The provider talks to MLflow's `ModelRegistryClient` rather than `MlflowClient`: every `MlflowClient`
write first sends a GET to check that the name is not a prompt (`MlflowClient._validate_model_name`
and friends in mlflow/tracking/client.py), which doubles the cost of a write. Our models are never
prompts, and the reads that matter already return the tags.
"""

from __future__ import annotations

import threading
from typing import Any

from provider.limits import UC_SCHEME, is_uc

NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})


def tracking_uri_for(registry_uri: str) -> str:
    """The tracking URI that goes with a registry URI: the same server, or Databricks for UC."""
    if is_uc(registry_uri):
        # `databricks-uc://profile` pairs with `databricks://profile`; the profile selects credentials.
        return "databricks" + registry_uri[len(UC_SCHEME) :]
    return registry_uri


_IMPORT_LOCK = threading.Lock()


def preload_mlflow() -> None:
    """Import MLflow once, under a lock, before any call uses it.

    The provider process serves Pulumi's requests on several threads. When two threads start importing
    MLflow's submodules at once, Python breaks the import-lock cycle by handing one of them a partially
    initialised module ("cannot import name ... (most likely due to a circular import)").
    """
    with _IMPORT_LOCK:
        import mlflow
        import mlflow.tracking._model_registry.client
        import mlflow.utils.rest_utils  # noqa: F401


def registry_client(registry_uri: str) -> Any:
    """MLflow's ModelRegistryClient for `registry_uri` (an MLflow server URL or `databricks-uc`)."""
    preload_mlflow()
    from mlflow.tracking._model_registry.client import ModelRegistryClient

    return ModelRegistryClient(registry_uri, tracking_uri_for(registry_uri))  # type: ignore[no-untyped-call]


def tracking_client(registry_uri: str) -> Any:
    """MLflow's `MlflowClient` on the tracking server that goes with `registry_uri`, for runs.

    Only run reads go through it (`get_run`: https://mlflow.org/docs/latest/python_api/mlflow.client.html);
    unlike its registry writes, `MlflowClient.get_run` sends one request.
    """
    preload_mlflow()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri_for(registry_uri), registry_uri=registry_uri)


class AuthClient:
    """The calls we make to the basic-auth app's user, role and permission REST API.

    MLflow's own `AuthServiceClient` imports the whole auth server (Flask, Starlette: about 1.7 s and
    a deprecation warning in every provider run); this speaks the same documented endpoints with
    MLflow's REST helpers, which add credentials from the environment and raise `RestException`.
    """

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri

    def _call(self, endpoint: str, method: str, **kwargs: Any) -> dict[str, Any]:
        preload_mlflow()
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        creds = get_default_host_creds(self.tracking_uri)  # type: ignore[no-untyped-call]
        resp = http_request(creds, endpoint, method, **kwargs)  # type: ignore[no-untyped-call]
        resp = verify_rest_response(resp, endpoint)
        return resp.json() if resp.content else {}

    def current_user(self) -> dict[str, Any]:
        """The calling user: id, username, is_admin (any signed-in user may ask)."""
        return dict(self._call("/api/2.0/mlflow/users/current", "GET").get("user", {}))

    def list_users(self) -> list[dict[str, Any]]:
        """Every user, each with its roles and their permissions (admins only)."""
        return list(self._call("/api/2.0/mlflow/users/list", "GET").get("users", []))

    def list_all_roles(self) -> list[dict[str, Any]]:
        """Every role in every workspace, each with its permissions (admins only)."""
        return list(self._call(f"{_V3}/roles/list", "GET").get("roles", []))

    def grant_user_permission(self, username: str, resource_type: str, resource_id: str, level: str) -> None:
        body = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
        self._call(f"{_V3}/users/permissions/grant", "POST", json={**body, "permission": level})

    def revoke_user_permission(self, username: str, resource_type: str, resource_id: str) -> None:
        body = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
        self._call(f"{_V3}/users/permissions/revoke", "POST", json=body)

    def create_role(self, workspace: str, name: str, description: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"workspace": workspace, "name": name}
        if description is not None:
            body["description"] = description
        return dict(self._call(f"{_V3}/roles/create", "POST", json=body)["role"])

    def update_role(self, role_id: int, *, description: str) -> None:
        self._call(f"{_V3}/roles/update", "PATCH", json={"role_id": role_id, "description": description})

    def delete_role(self, role_id: int) -> None:
        self._call(f"{_V3}/roles/delete", "DELETE", json={"role_id": role_id})

    def add_role_permission(self, role_id: int, resource_type: str, pattern: str, level: str) -> None:
        body = {"role_id": role_id, "resource_type": resource_type, "resource_pattern": pattern}
        self._call(f"{_V3}/roles/permissions/add", "POST", json={**body, "permission": level})

    def update_role_permission(self, role_permission_id: int, level: str) -> None:
        body = {"role_permission_id": role_permission_id, "permission": level}
        self._call(f"{_V3}/roles/permissions/update", "PATCH", json=body)

    def remove_role_permission(self, role_permission_id: int) -> None:
        body = {"role_permission_id": role_permission_id}
        self._call(f"{_V3}/roles/permissions/remove", "DELETE", json=body)

    def assign_role(self, username: str, role_id: int) -> None:
        self._call(f"{_V3}/roles/assign", "POST", json={"username": username, "role_id": role_id})

    def unassign_role(self, username: str, role_id: int) -> None:
        self._call(f"{_V3}/roles/unassign", "DELETE", json={"username": username, "role_id": role_id})


_V3 = "/api/3.0/mlflow"


def auth_client(tracking_uri: str) -> AuthClient:
    """A client for the MLflow server's basic-auth API (users, roles, permissions)."""
    return AuthClient(tracking_uri)


def error_code(exc: BaseException) -> str | None:
    """MLflow's error code of an exception (`RESOURCE_DOES_NOT_EXIST`, ...), or None for other errors."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None


def is_not_found(exc: BaseException) -> bool:
    """True for "does not exist" answers: 404 RESOURCE_DOES_NOT_EXIST (NOT_FOUND on some Databricks APIs)."""
    return error_code(exc) in NOT_FOUND_CODES


def is_already_exists(exc: BaseException) -> bool:
    """True for RESOURCE_ALREADY_EXISTS, which MLflow answers with HTTP 400."""
    return error_code(exc) == "RESOURCE_ALREADY_EXISTS"


def is_mlflow_error(exc: BaseException) -> bool:
    """True for errors the MLflow client raises (server answers and client-side checks)."""
    return error_code(exc) is not None

"""Reaching a Unity Catalog target from the project's commands (`make preview-all`, `make audit`)."""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from pathlib import Path

from components.spec import DatabricksTarget, StackSpec


def databricks_target(spec: StackSpec) -> DatabricksTarget:
    """The stack's target, typed as this folder's: the table (components/targets.py) chose it by kind."""
    assert isinstance(spec.target, DatabricksTarget)  # a type narrowing for mypy, not a choice of target
    return spec.target


def databricks_credentials_problem(target: DatabricksTarget, env: Mapping[str, str]) -> str | None:
    """Why the Databricks SDK would find no credentials for this target, or None if it would."""
    profile = target.profile or env.get("DATABRICKS_CONFIG_PROFILE")
    if profile:
        cfg_file = Path(env.get("DATABRICKS_CONFIG_FILE") or Path(env.get("HOME", "~")) / ".databrickscfg")
        parser = configparser.ConfigParser()
        try:
            parser.read(cfg_file.expanduser())
        except configparser.Error as exc:
            return f"the Databricks config file {cfg_file} cannot be read: {exc}"
        if parser.has_section(profile) or (profile == "DEFAULT" and parser.defaults()):
            return None
        return f"profile {profile!r} is not in {cfg_file}"
    host = target.host or env.get("DATABRICKS_HOST")
    token = env.get("DATABRICKS_TOKEN") or (
        env.get("DATABRICKS_CLIENT_ID") and env.get("DATABRICKS_CLIENT_SECRET")
    )
    if host and token:
        return None
    missing = [name for name, ok in (("DATABRICKS_HOST", host), ("DATABRICKS_TOKEN", token)) if not ok]
    return (
        f"no Databricks credentials: {' and '.join(missing)} not set (or DATABRICKS_CLIENT_ID and "
        "DATABRICKS_CLIENT_SECRET for OAuth), and no profile (DATABRICKS_CONFIG_PROFILE or target.profile)"
    )


def databricks_problem(target: DatabricksTarget, env: Mapping[str, str]) -> str | None:
    """Why the Databricks SDK would find no credentials for the audit, or None.

    A token, an OAuth client or a profile, as `make preview-all` checks; or any other kind of
    Databricks unified authentication named by DATABRICKS_AUTH_TYPE with a host (CI's `github-oidc`),
    which the SDK resolves itself.
    """
    if env.get("DATABRICKS_AUTH_TYPE") and (target.host or env.get("DATABRICKS_HOST")):
        return None
    return databricks_credentials_problem(target, env)

"""MLflow's permission levels, and the Unity Catalog privileges each one grants on a registered model.

Levels are MLflow's (mlflow/server/auth/permissions.py): READ, USE, EDIT, MANAGE (and DENY, which
stacks do not declare). Unity Catalog privileges on a registered model are ALL_PRIVILEGES, APPLY_TAG,
CREATE_MODEL_VERSION, EXECUTE and MANAGE
(https://docs.databricks.com/en/data-governance/unity-catalog/manage-privileges/privileges.html).
"""

from __future__ import annotations

from collections.abc import Iterable

from provider.limits import normalise_privilege

LEVELS = ("READ", "USE", "EDIT", "MANAGE")
"""MLflow's positive levels, weakest first."""

PRIVILEGE_LEVELS: dict[str, str] = {
    "EXECUTE": "READ",  # UC's load/download/serve; MLflow READ can load a model
    "APPLY_TAG": "EDIT",  # MLflow needs EDIT to set tags
    "CREATE_MODEL_VERSION": "EDIT",
    "ALL_PRIVILEGES": "EDIT",  # in UC, ALL PRIVILEGES excludes MANAGE
    "MANAGE": "MANAGE",
    "OWNER": "MANAGE",
}
"""Unity Catalog privilege on a registered model -> the MLflow level that allows the same."""


def level_for(privileges: Iterable[str]) -> str:
    """The MLflow level granting `privileges` (the strongest of their levels).

    Raises ValueError naming any privilege with no MLflow meaning, and listing the known ones.
    """
    privs = [normalise_privilege(p) for p in privileges]
    unknown = sorted({p for p in privs if p not in PRIVILEGE_LEVELS})
    if unknown or not privs:
        raise ValueError(
            f"privileges {unknown or '[]'} have no MLflow permission level; "
            f"allowed on a registered model: {', '.join(sorted(PRIVILEGE_LEVELS))}"
        )
    return max((PRIVILEGE_LEVELS[p] for p in privs), key=LEVELS.index)

"""What the registries accept: names, aliases, tags and versions, as value-level checks and constants.

The one home of each limit that the provider and the program share: the provider's input checks use
the checks here, and components/rules.py states the same limits in the spec's words from the constants
here. Each check returns the reason a value is refused, or None.

Sources:
- aliases: MLflow's `_validate_model_alias_name` and `_validate_model_alias_name_reserved`
  (mlflow/utils/validation.py): `^[\\w\\-]*$`, not empty, at most 255 characters; `latest` (any case)
  and `v<digits>` are reserved;
- registered model names: MLflow refuses `/` and `:` (`_validate_model_name`);
- Unity Catalog tags: at most 50 per object, keys of at most 255 characters without `. , - = / :`,
  values of at most 1000 characters (https://docs.databricks.com/aws/en/resources/limits,
  https://docs.databricks.com/en/database-objects/tags.html);
- tags with the `mlflow.` prefix are MLflow's own (mlflow/utils/mlflow_tags.py);
- privileges: SQL writes `USE CATALOG`, the API `USE_CATALOG`
  (https://docs.databricks.com/aws/en/data-governance/unity-catalog/manage-privileges/privileges);
- model URIs: `models:/<name>@<alias>` and `models:/<name>/<version>` (mlflow/store/artifact/utils/models.py).
"""

from __future__ import annotations

import re

UC_SCHEME = "databricks-uc"
"""MLflow's registry URI scheme for Unity Catalog (`databricks-uc` or `databricks-uc://<profile>`)."""

ALIAS_PATTERN = re.compile(r"^[\w\-]+$")
ALIAS_MAX = 255
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
UC_TAG_KEY_FORBIDDEN = ".,-=/:"
"""The characters a Unity Catalog tag key may not contain, in the order messages list them."""
UC_TAG_KEY_MAX = 255
UC_TAG_VALUE_MAX = 1000
UC_TAGS_PER_OBJECT = 50
MLFLOW_TAG_PREFIX = "mlflow."

ARCHIVED_TAG = "archived"
ARCHIVED_AT_TAG = "archived_at"
OVERRIDE_REASON_TAG = "promotion_override_reason"
OVERRIDE_BY_TAG = "promotion_override_by"
RESERVED_VERSION_TAGS: dict[str, str] = {
    ARCHIVED_TAG: "retention (archive: afterDays, keepLatest)",
    ARCHIVED_AT_TAG: "retention (archive: afterDays, keepLatest)",
    OVERRIDE_REASON_TAG: "the record of a promotion-gate override",
    OVERRIDE_BY_TAG: "the record of a promotion-gate override",
}
"""Version tags the provider writes itself, and what for: a stack may not declare them."""


def is_uc(registry_uri: str) -> bool:
    """True for a Unity Catalog registry URI."""
    return registry_uri == UC_SCHEME or registry_uri.startswith(f"{UC_SCHEME}://")


def alias_uri(full_name: str, alias: str) -> str:
    """How jobs load a model by alias: `models:/catalog.schema.model@Alias`."""
    return f"models:/{full_name}@{alias}"


def version_uri(full_name: str, version: str) -> str:
    """How jobs load one version: `models:/catalog.schema.model/3`."""
    return f"models:/{full_name}/{version}"


def normalise_privilege(privilege: str) -> str:
    """SQL spelling (`USE CATALOG`, any case) to API spelling (`USE_CATALOG`)."""
    return re.sub(r"\s+", "_", privilege.strip()).upper()


def alias_problem(alias: str) -> str | None:
    if not ALIAS_PATTERN.match(alias) or len(alias) > ALIAS_MAX:
        return f"alias {alias!r} must be 1-{ALIAS_MAX} letters, digits, '_' or '-'"
    if RESERVED_ALIAS.match(alias):
        return f"alias {alias!r} is reserved by MLflow ('latest' and 'v<number>' are not allowed)"
    return None


def model_name_problem(name: str, *, uc: bool) -> str | None:
    bad = sorted(set(name) & set("/:'\""))
    if not name.strip() or bad:
        return f"model name {name!r} is empty or contains {bad}; use catalog.schema.model"
    if uc and name.count(".") != 2:
        return f"Unity Catalog model names have three parts (catalog.schema.model), got {name!r}"
    return None


def version_problem(version: str) -> str | None:
    text = version.strip()
    if not text.isdigit() or int(text) < 1:
        return f"must be a version number (1, 2, ...), got {version!r}"
    return None


def normal_version(version: str) -> str:
    """One spelling per version: `2`, `"2"` and `"02"` are version 2."""
    return str(int(version.strip()))


def reserved_version_tag_problem(key: str) -> str | None:
    """Why a declared version tag key is refused: the provider writes it itself."""
    owner = RESERVED_VERSION_TAGS.get(key)
    if owner is None:
        return None
    return f"version tag {key!r} is reserved for {owner}; the provider writes it, so declare another key"


def tag_problems(tags: dict[str, str], *, uc: bool) -> list[str]:
    """Every reason the tags of one object are refused (empty when they are fine)."""
    problems: list[str] = []
    for key, value in tags.items():
        if not key.strip():
            problems.append("tag keys must not be empty")
        elif key.startswith(MLFLOW_TAG_PREFIX):
            problems.append(f"tag key {key!r}: the 'mlflow.' prefix is reserved for MLflow's own tags")
        elif uc and (len(key) > UC_TAG_KEY_MAX or set(key) & set(UC_TAG_KEY_FORBIDDEN)):
            problems.append(
                f"tag key {key!r}: Unity Catalog keys are at most {UC_TAG_KEY_MAX} characters "
                "without . , - = / :"
            )
        if uc and len(value) > UC_TAG_VALUE_MAX:
            problems.append(f"tag {key!r}: Unity Catalog values are at most {UC_TAG_VALUE_MAX} characters")
    if uc and len(tags) > UC_TAGS_PER_OBJECT:
        problems.append(f"Unity Catalog allows at most {UC_TAGS_PER_OBJECT} tags per object, got {len(tags)}")
    return problems

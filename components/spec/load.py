"""Loading and merging: the YAML files, the stack's `mrgov:*` config, and how they merge key by key."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no stubs in the pinned venv

from components.spec.document import NAMESPACE, SHARED_FILE
from components.spec.problems import Problem, SpecError

# Keys read from stack config; each may also appear (without the namespace) in registry.yaml.
CONFIG_KEYS = (
    "environment",
    "target",
    "catalog",
    "schemas",
    "roles",
    "modelDefaults",
    "models",
    "protect",
    "deployer",
    "governance",
    "webhooks",
)


# --------------------------------------------------------------------------------------------------------
# Reading and merging
# --------------------------------------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that refuses duplicate keys, which plain YAML silently resolves to the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1}); each name may appear once",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return dict(loader.construct_mapping(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file, refusing duplicate keys (a duplicate model would otherwise vanish silently)."""
    try:
        return yaml.load(path.read_text(), Loader=_StrictLoader)  # SafeLoader subclass: no objects
    except yaml.YAMLError as exc:
        raise SpecError(
            path.stem, (Problem("yaml", "mandatory", path.name, "(file)", f"is not valid YAML: {exc}"),)
        ) from None


def load_shared(project_dir: Path) -> dict[str, Any]:
    """The shared description (registry.yaml) of a project; empty if the project has none."""
    path = project_dir / SHARED_FILE
    if not path.exists():
        return {}
    data = load_yaml(path)
    return dict(data) if isinstance(data, Mapping) else {}


def load_stack_file(project_dir: Path, stack: str) -> dict[str, Any]:
    """The `mrgov:*` values of Pulumi.<stack>.yaml, without the namespace (secure values are skipped)."""
    data = load_yaml(project_dir / f"Pulumi.{stack}.yaml") or {}
    config = data.get("config") or {}
    return {
        key.split(":", 1)[1]: value
        for key, value in config.items()
        if key.startswith(f"{NAMESPACE}:") and not (isinstance(value, Mapping) and "secure" in value)
    }


def normalise(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Shorthands to their full form, so both sources merge key by key."""
    out = {str(k): v for k, v in doc.items()}
    if isinstance(out.get("catalog"), str):
        out["catalog"] = {"name": out["catalog"]}
    roles = out.get("roles")
    if isinstance(roles, Mapping):
        out["roles"] = {k: {"principals": v} if isinstance(v, list) else v for k, v in roles.items()}
    return out


def merge(base: Any, override: Any, *, keep_nulls: bool = False) -> Any:
    """Deep merge: mappings merge key by key, anything else (lists too) is replaced; `null` deletes a key.

    With `keep_nulls` a `null` stays in the result as a marker, so it can still delete a key that a later
    merge (model defaults) would bring in.
    """
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = {str(k): v for k, v in base.items()}
        for key, value in override.items():
            key = str(key)
            if value is None and not keep_nulls:
                out.pop(key, None)
            elif key in out and value is not None:
                out[key] = merge(out[key], value, keep_nulls=keep_nulls)
            else:
                out[key] = value
        return out
    return override


def stringify_keys(value: Any) -> Any:
    # YAML reads `1:` as an int key; Pulumi config (JSON) always has text keys. One spelling for both.
    if isinstance(value, Mapping):
        return {str(k): stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringify_keys(v) for v in value]
    return value


def drop_nulls(value: Any) -> Any:
    # After the merge a remaining `null` (say `owner: null` in registry.yaml) just means "not set".
    if isinstance(value, Mapping):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def is_ours(key: str) -> bool:
    """Is `key` one of this project's config keys (`mrgov:...`, or written without a namespace)?"""
    return ":" not in key or key.startswith(f"{NAMESPACE}:")


def decode_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """Pulumi hands config values over as text: objects, lists and booleans as JSON. Decode those.

    For callers that hold the raw config map of a stack (the policy pack, scripts) before `build()`.
    Values that are not text, or text that is not JSON (`mrgov:catalog: dev_catalog`), pass unchanged.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[key] = value
        if isinstance(value, str) and (value[:1] in ("{", "[") or value in ("true", "false")):
            # Text that is not JSON stays text; validation names the key if text is wrong there.
            with contextlib.suppress(json.JSONDecodeError):
                out[key] = json.loads(value)
    return out

"""What every registry provider shares: configuration, input checks, and clear errors.

Provider objects are pickled into the Pulumi state (`__provider`). dill pickles these classes by
reference (module and class name), so the state holds no code and no data of ours: the classes must
stay importable under the same module path, and must hold no attributes. Everything a call needs comes
from its `props` or, for credentials, from the provider process's environment (see client.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult, ConfigureRequest, DiffResult, ResourceProvider
from pulumi.dynamic.dynamic import PROVIDER_KEY
from pulumi.runtime.rpc import UNKNOWN  # a value not known yet (preview of something new)

from components.mlflow.client import configure_credentials, is_uc

_ALIAS = re.compile(r"^[\w\-]+$")
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
# Unity Catalog tag keys may not contain these (FACTS.md §3).
_UC_TAG_KEY_FORBIDDEN = set(".,-=/:")


class RegistryError(Exception):
    """A refusal or failure with a message that says what, where, and what to do about it."""


class RegistryProvider(ResourceProvider):
    """Base of our dynamic providers: no state on the object, credentials configured per process."""

    # Nothing secret is captured (the pickle is a class reference), so the state may show it in clear.
    serialize_as_secret_always = False

    def configure(self, req: ConfigureRequest) -> None:
        configure_credentials(req.config)


def known(value: Any) -> bool:
    """False for a value Pulumi does not know yet (preview of a resource that depends on a new one)."""
    return bool(value != UNKNOWN)


def strip_provider(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != PROVIDER_KEY}


def changed(olds: Mapping[str, Any], news: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    """The keys whose values differ; an unknown new value counts as a change."""
    return [k for k in keys if not known(news.get(k)) or olds.get(k) != news.get(k)]


def diff_of(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    replace_keys: tuple[str, ...],
    update_keys: tuple[str, ...],
    *,
    delete_before_replace: bool = False,
) -> DiffResult:
    """The diff every provider makes: keys that force a replace, keys updated in place, nothing else."""
    replaces = changed(olds, news, replace_keys)
    updates = changed(olds, news, update_keys)
    return DiffResult(
        changes=bool(replaces or updates), replaces=replaces, delete_before_replace=delete_before_replace
    )


class Checker:
    """Collects check failures (property + reason) so that all bad inputs are reported at once."""

    def __init__(self, news: Mapping[str, Any]) -> None:
        self.inputs: dict[str, Any] = strip_provider(news)
        self.failures: list[CheckFailure] = []

    def fail(self, prop: str, reason: str) -> None:
        self.failures.append(CheckFailure(prop, reason))

    def text(self, prop: str, *, required: bool = True, default: str = "") -> None:
        value = self.inputs.get(prop)
        if value is None:
            if required:
                self.fail(prop, "is required")
            self.inputs[prop] = default
        elif known(value) and not isinstance(value, str):
            self.fail(prop, f"must be text, got {type(value).__name__}")

    def flag(self, prop: str) -> None:
        value = self.inputs.get(prop)
        if value is None:
            self.inputs[prop] = False
        elif known(value) and not isinstance(value, bool):
            self.fail(prop, f"must be true or false, got {value!r}")

    def uri(self, prop: str) -> None:
        self.text(prop)
        value = self.inputs.get(prop)
        if isinstance(value, str) and known(value):
            if not value:
                self.fail(prop, "is required")
            # One spelling per registry, so that `http://host/` and `http://host` never diff.
            self.inputs[prop] = value.rstrip("/") if not is_uc(value) else value

    def model_name(self, prop: str, registry_prop: str = "registry_uri") -> None:
        self.text(prop)
        value = self.inputs.get(prop)
        if not isinstance(value, str) or not known(value):
            return
        bad = sorted(set(value) & set("/:'\""))
        if not value or bad:
            self.fail(prop, f"model name {value!r} is empty or contains {bad}; use catalog.schema.model")
        registry = self.inputs.get(registry_prop)
        if isinstance(registry, str) and is_uc(registry) and known(value) and value.count(".") != 2:
            self.fail(
                prop, f"Unity Catalog model names have three parts (catalog.schema.model), got {value!r}"
            )

    def version(self, prop: str) -> None:
        value = self.inputs.get(prop)
        if value is None:
            self.fail(prop, "is required")
            return
        if not known(value):
            return
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
            self.fail(prop, f"must be a version number (1, 2, ...), got {value!r}")
            return
        self.inputs[prop] = str(int(text))  # 2, "2" and "02" are one version

    def alias(self, prop: str) -> None:
        self.text(prop)
        value = self.inputs.get(prop)
        if not isinstance(value, str) or not known(value):
            return
        if not _ALIAS.match(value) or len(value) > 255:
            self.fail(prop, f"alias {value!r} must be 1-255 letters, digits, '_' or '-'")
        elif _RESERVED_ALIAS.match(value):
            self.fail(
                prop, f"alias {value!r} is reserved by MLflow ('latest' and 'v<number>' are not allowed)"
            )

    def tags(self, prop: str, registry_prop: str = "registry_uri") -> None:
        value = self.inputs.get(prop)
        if value is None:
            self.inputs[prop] = {}
            return
        if not known(value):
            return
        if not isinstance(value, Mapping):
            self.fail(prop, f"must be a mapping of tag key to value, got {type(value).__name__}")
            return
        registry = self.inputs.get(registry_prop)
        uc = isinstance(registry, str) and is_uc(registry)
        out: dict[str, Any] = {}
        for key, val in value.items():
            key = str(key)
            if not key.strip():
                self.fail(prop, "tag keys must not be empty")
            elif key.startswith("mlflow."):
                self.fail(prop, f"tag key {key!r}: the 'mlflow.' prefix is reserved for MLflow's own tags")
            elif uc and (len(key) > 255 or set(key) & _UC_TAG_KEY_FORBIDDEN):
                self.fail(
                    prop,
                    f"tag key {key!r}: Unity Catalog keys are at most 255 characters without . , - = / :",
                )
            if uc and known(val) and len(str(val)) > 1000:
                self.fail(prop, f"tag {key!r}: Unity Catalog values are at most 1000 characters")
            out[key] = val if not known(val) or isinstance(val, str) else str(val)
        if uc and len(out) > 50:
            self.fail(prop, f"Unity Catalog allows at most 50 tags per object, got {len(out)}")
        self.inputs[prop] = dict(sorted(out.items()))

    def choice(
        self, prop: str, allowed: tuple[str, ...], normalise: Callable[[str], str] = str.upper
    ) -> None:
        self.text(prop)
        value = self.inputs.get(prop)
        if not isinstance(value, str) or not known(value):
            return
        value = normalise(value)
        if value not in allowed:
            self.fail(prop, f"got {value!r}; allowed: {', '.join(allowed)}")
        self.inputs[prop] = value

    def result(self) -> CheckResult:
        return CheckResult(self.inputs, self.failures)

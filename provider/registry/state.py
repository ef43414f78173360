"""What the provider reads from a registry, and a short-lived per-process cache of it.

A registered model's tags, aliases and description come back in one GET. During `pulumi refresh` the
engine reads a model's resources separately, and in parallel; with this cache they share one
request per model. The cache lives in the provider process only (never in a
provider object, so never in the state), entries expire after `TTL` seconds, concurrent reads of the
same key wait for one fetch, and every write a provider makes drops or replaces the entry it touched.

A model's `RegisteredModel` step also *hands over* what it saw to the model's `ModelMetadata` step
(`hand_over`), which takes it once instead of reading the model again, however long the engine took
to get there. In a large stack that is minutes: the engine runs 8 steps at a time in the order the
program registered them, so the metadata steps queue behind every model's own step and the cached
answer has expired. A hand-over is never older than the command, the window in which the stack's
own writes are the only ones it expects; a key someone else changes in that window is left as they
set it until the next `refresh`, as is one they change just after the command ends (a no-op `up`
reads nothing).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from provider.limits import is_uc
from provider.registry.client import is_not_found, registry_client, tracking_client

T = TypeVar("T")

# Long enough to cover one refresh of a stack's models (reads of a model's children arrive within
# seconds of each other), short enough that a human edit is seen by the next command.
TTL = 30.0


class ReadCache:
    """A TTL cache with single-flight fetches, safe for the provider's gRPC worker threads."""

    def __init__(self, ttl: float = TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, fetch: Callable[[], T]) -> T:
        """The cached value of `key`, or `fetch()` once (other threads asking meanwhile wait for it)."""
        with self._lock:
            hit = self._fresh(key)
            if hit is not None:
                return hit[1]  # type: ignore[no-any-return]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._fresh(key)
                if hit is not None:
                    return hit[1]  # type: ignore[no-any-return]
            value = fetch()
            self.put(key, value)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, value)

    def drop(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _fresh(self, key: Hashable) -> tuple[float, Any] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry


CACHE = ReadCache()


@dataclass(frozen=True)
class ModelState:
    """A registered model as the registry holds it."""

    name: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    latest: str = ""
    """The highest version number among the answer's `latest_versions` ("" when there are none)."""

    @classmethod
    def of(cls, entity: Any) -> ModelState:
        """From MLflow's RegisteredModel entity (tags and aliases are dicts there).

        An MLflow server answers a model's GET, create and update with its `latest_versions`: the newest
        version of each stage, deleted ones left out (`SqlRegisteredModel.to_mlflow_entity` in
        mlflow/store/model_registry/dbmodels/models.py). The largest of them is the model's latest version,
        which saves a version search. Unity Catalog sends none; `latest_version` searches there.
        """
        numbers = [int(v.version) for v in (getattr(entity, "latest_versions", None) or [])]
        return cls(
            name=entity.name,
            description=entity.description or "",
            tags={str(k): str(v) for k, v in (entity.tags or {}).items()},
            aliases={str(k): str(v) for k, v in (entity.aliases or {}).items()},
            latest=str(max(numbers)) if numbers else "",
        )


@dataclass(frozen=True)
class VersionState:
    """A model version as the registry holds it."""

    version: str
    status: str
    description: str
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    """The run that logged the version ("" when it was registered from files, not from a run)."""
    created: int = 0
    """When it was registered: milliseconds since the epoch (0 when the registry did not say)."""

    @classmethod
    def of(cls, entity: Any) -> VersionState:
        # Unity Catalog's search answers carry no tags: its `ModelVersionSearch.tags` is a method
        # that raises (mlflow/entities/model_registry/model_version_search.py), not a mapping.
        tags = getattr(entity, "tags", None)
        return cls(
            version=str(entity.version),
            status=str(entity.status or ""),
            description=entity.description or "",
            source=str(entity.source or ""),
            tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {},
            run_id=str(getattr(entity, "run_id", None) or ""),
            created=int(getattr(entity, "creation_timestamp", None) or 0),
        )


def _model_key(registry_uri: str, name: str) -> tuple[str, str, str]:
    return ("model", registry_uri, name)


def _version_key(registry_uri: str, name: str, version: str) -> tuple[str, str, str, str]:
    return ("version", registry_uri, name, version)


def get_model(registry_uri: str, name: str, *, fresh: bool = False) -> ModelState | None:
    """The model (None when it does not exist): from the cache or a hand-over unless `fresh`."""
    key = _model_key(registry_uri, name)

    def fetch() -> ModelState | None:
        handed = _take(key)
        if handed is not None:
            return handed
        try:
            return ModelState.of(registry_client(registry_uri).get_registered_model(name))
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    if fresh:
        forget_model(registry_uri, name)
    return CACHE.get(key, fetch)


def remember_model(registry_uri: str, entity: Any) -> ModelState:
    """Cache what a write returned (create and update answer with the whole model)."""
    state = ModelState.of(entity)
    key = _model_key(registry_uri, state.name)
    _take(key)  # older than this answer
    CACHE.put(key, state)
    return state


def forget_model(registry_uri: str, name: str) -> None:
    """Drop the cached model after a write whose answer does not carry it."""
    key = _model_key(registry_uri, name)
    _take(key)
    CACHE.drop(key)


_HANDED: dict[tuple[str, str, str], ModelState] = {}
_HANDED_LOCK = threading.Lock()


def hand_over(registry_uri: str, state: ModelState) -> None:
    """Keep the model as a `RegisteredModel` step just saw it for the next step that reads it.

    The next `get_model` of it takes it, however late (see the module docstring), and any write to the
    model drops it.
    """
    with _HANDED_LOCK:
        _HANDED[_model_key(registry_uri, state.name)] = state


def _take(key: tuple[str, str, str]) -> ModelState | None:
    with _HANDED_LOCK:
        return _HANDED.pop(key, None)


def clear() -> None:
    """Forget everything this process read (tests that change a registry behind the provider's back)."""
    with _HANDED_LOCK:
        _HANDED.clear()
    CACHE.clear()


def get_version(registry_uri: str, name: str, version: str, *, fresh: bool = False) -> VersionState | None:
    """One model version (None when it or its model does not exist), from the cache unless `fresh`.

    One GET per version: Unity Catalog's version search answers with fewer fields than its GET.
    """

    def fetch() -> VersionState | None:
        try:
            return VersionState.of(registry_client(registry_uri).get_model_version(name, version))
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    if fresh:
        forget_version(registry_uri, name, version)
    return CACHE.get(_version_key(registry_uri, name, version), fetch)


def remember_version(registry_uri: str, entity: Any) -> None:
    """Cache what a version write returned."""
    state = VersionState.of(entity)
    CACHE.put(_version_key(registry_uri, str(entity.name), state.version), state)


def forget_version(registry_uri: str, name: str, version: str) -> None:
    CACHE.drop(_version_key(registry_uri, name, version))


def search_versions(registry_uri: str, name: str) -> list[VersionState]:
    """Every version of a model, oldest first (paged through; for import and retention, not cached).

    On Unity Catalog the answers carry no tags (see `VersionState.of`)."""
    client = registry_client(registry_uri)
    found: list[VersionState] = []
    token = None
    while True:
        page = client.search_model_versions(f"name='{name}'", max_results=200, page_token=token)
        found.extend(VersionState.of(v) for v in page)
        token = getattr(page, "token", None)
        if not token:
            return sorted(found, key=lambda v: int(v.version))


def latest_version(registry_uri: str, name: str, held: ModelState | None = None) -> str:
    """The model's highest version number ("" when it has none, or does not exist).

    On an MLflow server it comes with the model (`ModelState.latest`): from `held` when the caller has
    the model's state already, else from the cached GET. Unity Catalog's model carries no versions, so
    there it is a search through the model's versions (cached per process), which is one request
    unless a model has more than a page of them. MLflow's Unity Catalog store refuses `order_by`
    (`_require_arg_unspecified` in mlflow/store/_unity_catalog/registry/rest_store.py), so the search
    cannot ask for the newest version alone.
    """
    if not is_uc(registry_uri):
        model = held if held is not None else get_model(registry_uri, name)
        return model.latest if model is not None else ""

    def fetch() -> str:
        try:
            numbers = [int(v.version) for v in search_versions(registry_uri, name)]
        except Exception as exc:
            if is_not_found(exc):
                return ""
            raise
        return str(max(numbers)) if numbers else ""

    return CACHE.get(("latest", registry_uri, name), fetch)


def get_run_metrics(registry_uri: str, run_id: str) -> dict[str, float] | None:
    """The latest value of each metric a run logged (None when the run does not exist), cached.

    Runs live on the tracking server that goes with the registry (`tracking_uri_for`); a run's
    metrics do not change once its model is registered, and promotion gates read them for the old
    and the new version of every alias that moves.
    """

    def fetch() -> dict[str, float] | None:
        try:
            run = tracking_client(registry_uri).get_run(run_id)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        return {str(k): float(v) for k, v in (run.data.metrics or {}).items()}

    return CACHE.get(("run-metrics", registry_uri, run_id), fetch)

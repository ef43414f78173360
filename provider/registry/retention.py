"""Retention: which versions of a model are archived, as version tags computed from the registry.

The seed archives old versions with `transition_model_version_stage(stage="Archived")`; stages are
deprecated in MLflow (https://mlflow.org/docs/latest/ml/model-registry/#deprecated-using-model-stages)
and do not exist on Unity Catalog, so archiving here is two version tags, `archived: "true"` and
`archived_at: <ISO date>`, on either target. Nothing is ever deleted.

A version is archived when all of these hold:
- it is older than `archiveAfterDays` (its creation timestamp against the clock, provider/clock.py);
- it is not among the `archiveKeepLatest` newest versions, by version number;
- no alias points at it: not one the stack pins (after this `up`), and not one that someone else
  set (a training job's `Challenger`).

`ModelMetadata.prepare` computes that set with one read of the model (for its aliases, cached) and
one search of its versions, and merges the two tags into the declared `versionTags`, so the preview's
per-key diff names exactly the versions `up` will archive, `up` writes them with the other version
tags, and the next `up` finds nothing to do: `archived_at` keeps the date the registry (or the last
state, on Unity Catalog, whose version search carries no tags) already holds. A version that leaves
the set (an alias now points at it) loses both tags in the same `up`; so does every version when
retention is turned off.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta

from provider import clock
from provider.limits import ARCHIVED_AT_TAG, ARCHIVED_TAG, RESERVED_VERSION_TAGS, reserved_version_tag_problem
from provider.registry import state
from provider.resource import Failures

ARCHIVE_TAGS = (ARCHIVED_TAG, ARCHIVED_AT_TAG)


def archive_set(
    versions: Iterable[tuple[str, int]],
    *,
    protected: Collection[str],
    now: datetime,
    after_days: int,
    keep_latest: int,
) -> list[str]:
    """The versions to archive, in version order.

    `versions` are (version number, creation time in ms since the epoch); a version whose creation
    time is unknown (0) is never archived. `protected` are the versions an alias points at.
    """
    listed = sorted(((str(v), created) for v, created in versions), key=lambda item: int(item[0]))
    newest = {v for v, _ in listed[-keep_latest:]} if keep_latest > 0 else set()
    cutoff_ms = (now - timedelta(days=after_days)).timestamp() * 1000
    return [v for v, created in listed if 0 < created < cutoff_ms and v not in newest and v not in protected]


def protected_versions(
    registry_aliases: Mapping[str, str], pinned: Mapping[str, str], managed: Collection[str]
) -> set[str]:
    """The versions an alias will point at after the `up`.

    `registry_aliases` are the model's aliases now; `pinned` the aliases the new inputs pin; `managed`
    every alias the resource pins or pinned (the last ones are deleted by the `up`, so they protect
    nothing any more).
    """
    others = {v for a, v in registry_aliases.items() if a not in managed}
    return others | set(pinned.values())


def with_archive_tags(
    version_tags: Mapping[str, Mapping[str, str]],
    archive: Iterable[str],
    *,
    archived_at: Mapping[str, str],
    today: str,
) -> dict[str, dict[str, str]]:
    """`version_tags` with the archive tags merged into each version of `archive`.

    `archived_at` holds the date a version already carries (the registry's, else the last state's);
    a version newly archived gets `today`.
    """
    out = {v: dict(tags) for v, tags in version_tags.items()}
    for version in archive:
        out.setdefault(version, {}).update(
            {ARCHIVED_TAG: "true", ARCHIVED_AT_TAG: archived_at.get(version) or today}
        )
    return dict(sorted(out.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0))


def reserved_key_failures(version_tags: Mapping[str, Mapping[str, str]]) -> Failures:
    """A failure per declared version tag key that the provider writes itself."""
    failures: Failures = []
    for version, tags in version_tags.items():
        if not isinstance(tags, Mapping):
            continue
        for key in sorted(set(tags) & set(RESERVED_VERSION_TAGS)):
            if problem := reserved_version_tag_problem(key):
                failures.append((f"versionTags.{version}.{key}", problem))
    return failures


def archive_plan(
    registry_uri: str,
    model: str,
    *,
    pinned: Mapping[str, str],
    managed: Collection[str],
    after_days: int,
    keep_latest: int,
    last_state_tags: Mapping[str, Mapping[str, str]],
) -> tuple[list[str], dict[str, str]] | None:
    """(versions to archive, their archive dates known so far) of a model, read from the registry.

    None when the model does not exist (yet). Reads: the model (cached) and one version search.
    """
    current = state.get_model(registry_uri, model)
    if current is None:
        return None
    versions = state.search_versions(registry_uri, model)
    archive = archive_set(
        ((v.version, v.created) for v in versions),
        protected=protected_versions(current.aliases, pinned, managed),
        now=clock.now(),
        after_days=after_days,
        keep_latest=keep_latest,
    )
    on_server = {v.version: v.tags.get(ARCHIVED_AT_TAG, "") for v in versions}
    dates = {v: on_server.get(v) or last_state_tags.get(v, {}).get(ARCHIVED_AT_TAG, "") for v in archive}
    return archive, {v: d for v, d in dates.items() if d}

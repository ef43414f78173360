"""ModelMetadata: what a stack declares about one registered model, on MLflow or on Unity Catalog.

One resource per model holds the model's managed tags, its alias pins, and its versions'
descriptions and tags. They are all read with the model (one GET, plus one per declared version), so
one resource costs one state entry and one checkpoint instead of one per tag, alias and version; the
preview still shows each changed key (`aliases["Production"]`, `versionTags["3"]["validated"]`).

- Only declared keys are managed. Tags, aliases and version tags that others set (a training job's
  `git_sha` or `Challenger`) are never changed; the aliases are reported in `otherAliases`.
- Before an alias is set or moved, `check` reads the target version: it must exist, be READY, and
  carry a signature with inputs and outputs. `check` runs in `preview`, so a pull request's preview
  fails there, naming the alias, and nothing moves. Only changed pins are read, so a no-op `up` sends
  no request.
- Moving an alias is an update, never a replacement: the alias never disappears in between.
- Removing a version's description clears it, unless someone changed it since; theirs is kept.
- Retention (`archiveAfterDays`, `archiveKeepLatest`): `prepare` merges the archive tags of the
  versions to archive into `versionTags` (provider/registry/retention.py), so they diff, preview and
  apply like declared version tags.
- Promotion gates (`gates`, `gateOverrides`): before an alias moves, `check` compares the metric of
  the runs behind the old and the new version (provider/registry/gates.py).

On Unity Catalog (`databricks-uc`) the signature is not downloaded: Unity Catalog refuses to register
a version whose signature lacks inputs or outputs, so every READY version has one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from typing import Any

from provider import clock
from provider.config import Connection
from provider.declare import Props, arg, out
from provider.limits import (
    MLFLOW_TAG_PREFIX,
    alias_problem,
    model_name_problem,
    normal_version,
    tag_problems,
    version_problem,
)
from provider.registry import gates as gating
from provider.registry import retention, state
from provider.registry.client import is_not_found, preload_mlflow, registry_client, tracking_uri_for
from provider.registry.gates import Gate
from provider.resource import Failures, InputProblems, ProviderError, Resource

READY = "READY"


@dataclass(frozen=True)
class ModelMetadataProps(Props):
    TOKEN = "mrgov:registry:ModelMetadata"
    DESCRIPTION = (
        "The declared tags, alias pins, version descriptions and version tags of one registered model, "
        "on an MLflow server or on Unity Catalog. Only declared keys are managed. An alias moves only to "
        "a version that exists, is READY and has a signature with inputs and outputs; `preview` checks."
    )
    ID = "the model's full name, `catalog.schema.model`"

    model: str = arg("The registered model's full name, `catalog.schema.model`.", replace=True)
    tags: dict[str, str] = arg(
        "The model's managed tags; tag keys not listed are left alone.", default_factory=dict
    )
    aliases: dict[str, str] = arg(
        'Alias -> version number, e.g. `{Production: "3"}`. `latest` and `v<number>` are reserved.',
        default_factory=dict,
    )
    version_descriptions: dict[str, str] = arg(
        "Version number -> that version's description.", default_factory=dict
    )
    version_tags: dict[str, dict[str, str]] = arg(
        "Version number -> that version's managed tags; keys not listed are left alone.",
        default_factory=dict,
    )
    archive_after_days: int | None = arg(
        'Retention: archive versions older than this many days (version tags `archived: "true"` and '
        "`archived_at: <date>`), except the newest `archiveKeepLatest` and those an alias points at. "
        "Unset: no retention. The archive tags appear in the checked `versionTags`.",
        default=None,
    )
    archive_keep_latest: int = arg(
        "Retention: the newest versions (by version number) never archived.", default=0
    )
    gates: dict[str, Gate] = arg(
        "Alias -> its promotion gate: the alias moves only to a version whose run's metric passes.",
        default_factory=dict,
    )
    gate_overrides: dict[str, str] = arg(
        "Alias -> the reason its gate is bypassed (break glass); when the alias moves, the version is "
        "tagged `promotion_override_reason` and `promotion_override_by`.",
        default_factory=dict,
    )
    other_aliases: dict[str, str] = out(
        "Aliases on the model that this resource does not manage (a training job's `Challenger`), as "
        "last seen on create, update or refresh.",
        default_factory=dict,
    )
    latest_version: str = out(
        "The model's highest version number (empty when it has none), as last seen on create, update or "
        "refresh. Load it as `models:/<model>/<version>`: MLflow reserves the alias `latest`, and Unity "
        "Catalog has no latest alias.",
        default="",
    )
    lineage: dict[str, dict[str, str]] = out(
        "Pinned version -> `{runId, source}`: the run that logged it and the source it was registered "
        "from, for each version an alias of `aliases` points at, as last seen on create, update or refresh.",
        default_factory=dict,
    )

    def __post_init__(self) -> None:
        # One spelling per version from `check` on (`"02"` is version 2), so equal pins never diff.
        if isinstance(self.aliases, dict):
            object.__setattr__(self, "aliases", {a: _version(v) for a, v in self.aliases.items()})
        for attr in ("version_descriptions", "version_tags"):
            if isinstance(value := getattr(self, attr), dict):
                object.__setattr__(self, attr, {_version(v): x for v, x in value.items()})


def _version(version: Any) -> Any:
    """A version number's one spelling; a bad or unknown value as it is (check reports the bad)."""
    return normal_version(version) if isinstance(version, str) and not version_problem(version) else version


Model = ModelMetadataProps


def _changed_pins(news: Model, olds: Model | None) -> dict[str, str]:
    before = olds.aliases if olds else {}
    return {a: v for a, v in news.aliases.items() if before.get(a) != v}


class ModelMetadata(Resource[ModelMetadataProps]):
    PROPS = ModelMetadataProps

    # -- prepare -------------------------------------------------------------------------------
    def prepare(self, conn: Connection, news: Model, olds: Model | None) -> Model:
        return prepare_retention(conn, news, olds)

    # -- check ---------------------------------------------------------------------------------
    def check(self, conn: Connection, news: Model, olds: Model | None) -> Failures:
        failures: Failures = []
        if problem := model_name_problem(news.model, uc=conn.uc):
            failures.append(("model", problem))
        failures += [("tags", p) for p in tag_problems(news.tags, uc=conn.uc)]
        for alias, version in news.aliases.items():
            if problem := alias_problem(alias) or version_problem(version):
                failures.append((f"aliases.{alias}", problem))
        for version in news.version_descriptions:
            if problem := version_problem(version):
                failures.append((f"versionDescriptions.{version}", problem))
        for version, tags in news.version_tags.items():
            problems = [version_problem(version) or "", *tag_problems(tags, uc=conn.uc)]
            failures += [(f"versionTags.{version}", p) for p in problems if p]
        failures += lifecycle_problems(news, uc=conn.uc)
        if failures:
            return failures
        # Read the registry for the pins that change: this is what makes `preview` refuse them.
        for alias, version in sorted(_changed_pins(news, olds).items()):
            if reason := version_refusal(conn, news.model, version):
                failures.append(
                    (f"aliases.{alias}", f"cannot point alias {alias!r} at version {version}: {reason}")
                )
        return failures + gate_failures(conn, news, olds, refused={p for p, _ in failures})

    # -- create, update, delete ----------------------------------------------------------------
    def create(self, conn: Connection, props: Model) -> tuple[str, Model]:
        # Usually just created (or adopted) by this process's RegisteredModel step, which handed its
        # state over (provider/registry/state.py): then the tags sent with the create request are
        # seen and not sent again, and the model is not read twice.
        current = state.get_model(conn.registry_uri, props.model)
        if current is None:
            raise ProviderError(
                f"registered model {props.model!r} does not exist on {conn.label}; create it first", "model"
            )
        held = Model(
            model=props.model,
            tags={k: current.tags[k] for k in props.tags if k in current.tags},
            aliases={a: current.aliases[a] for a in props.aliases if a in current.aliases},
        )
        self._apply(conn, props, held)
        other = {a: v for a, v in sorted(current.aliases.items()) if a not in props.aliases}
        # Tag and alias writes leave the versions as they were: the latest one is the model's, read above.
        return props.model, with_lineage(conn, replace(props, other_aliases=other), current)

    def update(self, conn: Connection, id_: str, olds: Model, news: Model) -> Model:
        self._apply(conn, news, olds)
        # One read after the writes, so `otherAliases` is what the model holds now (a training job
        # may have moved its `Challenger` since the last refresh).
        current = state.get_model(conn.registry_uri, news.model)
        held = current.aliases if current is not None else olds.other_aliases
        other = {a: v for a, v in sorted(held.items()) if a not in news.aliases}
        return with_lineage(conn, replace(news, other_aliases=other), current)

    def delete(self, conn: Connection, id_: str, props: Model) -> None:
        empty = Model(model=props.model)
        try:
            self._apply(conn, empty, props)
        except Exception as exc:
            if not is_not_found(exc):  # the model is gone, and everything on it
                raise

    def _apply(self, conn: Connection, news: Model, olds: Model) -> None:
        """Send what turns `olds` into `news`: sets first, then deletes of keys no longer declared."""
        uri, model = conn.registry_uri, news.model
        client = registry_client(uri)
        try:
            for key, value in sorted(news.tags.items()):
                if olds.tags.get(key) != value:
                    client.set_registered_model_tag(model, key, value)
            for key in sorted(set(olds.tags) - set(news.tags)):
                client.delete_registered_model_tag(model, key)
            for alias, version in sorted(news.aliases.items()):
                if olds.aliases.get(alias) != version:
                    client.set_registered_model_alias(model, alias, version)
            for alias in sorted(set(olds.aliases) - set(news.aliases)):
                client.delete_registered_model_alias(model, alias)
        finally:
            state.forget_model(uri, model)
        record_overrides(conn, news, olds)
        for version, text in sorted(news.version_descriptions.items()):
            if olds.version_descriptions.get(version) != text:
                self._describe(conn, model, version, text)
        for version in sorted(set(olds.version_descriptions) - set(news.version_descriptions)):
            current = state.get_version(uri, model, version, fresh=True)
            if current is not None and current.description == olds.version_descriptions[version]:
                self._describe(conn, model, version, "")  # still ours to clear
        for version in sorted(set(news.version_tags) | set(olds.version_tags)):
            new, old = news.version_tags.get(version, {}), olds.version_tags.get(version, {})
            try:
                for key, value in sorted(new.items()):
                    if old.get(key) != value:
                        client.set_model_version_tag(model, version, key, value)
                for key in sorted(set(old) - set(new)):
                    client.delete_model_version_tag(model, version, key)
            except Exception as exc:
                if is_not_found(exc) and version in news.version_tags:
                    raise ProviderError(
                        f"cannot tag version {version} of model {model!r}: it does not exist on {conn.label}",
                        f"versionTags.{version}",
                    ) from exc
                if not is_not_found(exc):
                    raise
            finally:
                state.forget_version(uri, model, version)

    @staticmethod
    def _describe(conn: Connection, model: str, version: str, text: str) -> None:
        uri = conn.registry_uri
        try:
            updated = registry_client(uri).update_model_version(model, version, text)
        except Exception as exc:
            state.forget_version(uri, model, version)
            if is_not_found(exc):
                raise ProviderError(
                    f"cannot describe version {version} of model {model!r}: it does not exist on "
                    f"{conn.label}",
                    f"versionDescriptions.{version}",
                ) from exc
            raise
        state.remember_version(uri, updated)

    # -- read ----------------------------------------------------------------------------------
    def read(self, conn: Connection, id_: str, props: Model | None) -> Model | None:
        uri = conn.registry_uri
        current = state.get_model(uri, id_)
        if current is None:
            return None
        if props is None:  # import: everything on the model becomes declared
            return with_lineage(conn, self._import(conn, id_, current), current)
        tags = {k: current.tags[k] for k in props.tags if k in current.tags}
        aliases = {a: current.aliases[a] for a in props.aliases if a in current.aliases}
        descriptions: dict[str, str] = {}
        version_tags: dict[str, dict[str, str]] = {}
        for version in sorted(set(props.version_descriptions) | set(props.version_tags), key=int):
            seen = state.get_version(uri, id_, version)
            if seen is None:
                continue
            if version in props.version_descriptions:
                descriptions[version] = seen.description
            if version in props.version_tags:
                held = {k: seen.tags[k] for k in props.version_tags[version] if k in seen.tags}
                version_tags[version] = held
        other = {a: v for a, v in sorted(current.aliases.items()) if a not in props.aliases}
        read = Model(
            model=id_,
            tags=tags,
            aliases=aliases,
            version_descriptions=descriptions,
            version_tags=version_tags,
            other_aliases=other,
            # Rules, not registry state: the registry holds nothing to read them from.
            archive_after_days=props.archive_after_days,
            archive_keep_latest=props.archive_keep_latest,
            gates=props.gates,
            gate_overrides=props.gate_overrides,
        )
        return with_lineage(conn, read, current)

    @staticmethod
    def _import(conn: Connection, name: str, current: state.ModelState) -> Model:
        descriptions: dict[str, str] = {}
        version_tags: dict[str, dict[str, str]] = {}
        for version in state.search_versions(conn.registry_uri, name):
            if version.description:
                descriptions[version.version] = version.description
            own = {k: v for k, v in version.tags.items() if not k.startswith(MLFLOW_TAG_PREFIX)}
            if own:
                version_tags[version.version] = own
        return Model(
            model=name,
            tags={k: v for k, v in current.tags.items() if not k.startswith(MLFLOW_TAG_PREFIX)},
            aliases=dict(sorted(current.aliases.items())),
            version_descriptions=descriptions,
            version_tags=version_tags,
        )


# ------------------------------------------------------------------------------------------------
# Lineage outputs: the latest version, and where each pinned version comes from
# ------------------------------------------------------------------------------------------------
def with_lineage(conn: Connection, props: Model, held: state.ModelState | None = None) -> Model:
    """`props` with `latestVersion` and `lineage` as the registry holds them now.

    `held` is the model as the caller last read it, if it has: on an MLflow server the latest version
    comes with it (`state.latest_version`), so it costs no request; on Unity Catalog it is one version
    search per model (cached per process, provider/registry/state.py).
    Each pinned version's run and source come from its GET, which the alias check of the same command
    has usually cached already (check runs before create and update), as has a refresh that reads the
    version's description; otherwise it is one GET per pinned version.
    """
    uri = conn.registry_uri
    lineage: dict[str, dict[str, str]] = {}
    for version in sorted(set(props.aliases.values()), key=_number):
        seen = state.get_version(uri, props.model, version)
        if seen is not None:
            lineage[version] = {"runId": seen.run_id, "source": seen.source}
    latest = state.latest_version(uri, props.model, held)
    return replace(props, latest_version=latest, lineage=lineage)


def _number(version: str) -> int:
    return int(version) if version.isdigit() else 0


# ------------------------------------------------------------------------------------------------
# Which versions an alias may point at
# ------------------------------------------------------------------------------------------------
def version_refusal(conn: Connection, model: str, version: str) -> str:
    """Why an alias may not point at `version` of `model` ("" when it may).

    The verdict is kept for the process's cache lifetime, so two aliases pinned to one version
    (Champion and Production) read it once.
    """
    key = ("verdict", conn.registry_uri, model, version)
    return str(state.CACHE.get(key, lambda: _refusal(conn, model, version)))


def _refusal(conn: Connection, model: str, version: str) -> str:
    uri = conn.registry_uri
    current = state.get_version(uri, model, version, fresh=True)
    if current is None:
        return f"version {version} of {model!r} does not exist on {conn.label}"
    if current.status != READY:
        return (
            f"the version's status is {current.status}, not {READY}; wait until its registration "
            "finishes (or register it again) and rerun"
        )
    if conn.uc:
        return ""
    try:
        inputs, outputs = _signature(uri, model, version)
    except Exception as exc:  # noqa: BLE001 - any failure to read it means we cannot vouch for the version
        return f"could not read the version's MLmodel file to check its signature: {exc}"
    missing = [part for part, present in (("inputs", inputs), ("outputs", outputs)) if not present]
    if len(missing) == 2:
        return (
            "the version was logged without a signature; log the model with "
            "signature=infer_signature(model_input, model_output) and register a new version"
        )
    if missing:
        return (
            f"the version's signature has no {missing[0]}; log the model with a signature that "
            "describes both inputs and outputs and register a new version"
        )
    return ""


def _signature(uri: str, model: str, version: str) -> tuple[bool, bool]:
    """(has inputs, has outputs) of the version's logged signature, from its MLmodel file."""
    preload_mlflow()
    from mlflow.models import Model as MlflowModel
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    source = registry_client(uri).get_model_version_download_uri(model, version)
    repo = get_artifact_repository(str(source).rstrip("/"), tracking_uri=tracking_uri_for(uri))
    with tempfile.TemporaryDirectory(prefix="mrgov-mlmodel-") as tmp:
        path = os.path.join(tmp, "MLmodel")
        # The file itself, one request: `download_artifacts` first lists the path to learn whether it
        # is a folder, a second request per checked version. `_download_file` is the one method every
        # artifact repository implements (abstract in mlflow/store/artifact/artifact_repo.py).
        repo._download_file("MLmodel", path)  # type: ignore[no-untyped-call]
        signature: Any = MlflowModel.load(path).signature
    if signature is None:
        return False, False
    return bool(signature.inputs and signature.inputs.inputs), bool(
        signature.outputs and signature.outputs.inputs
    )


# ------------------------------------------------------------------------------------------------
# Retention and promotion gates (provider/registry/retention.py, gates.py)
# ------------------------------------------------------------------------------------------------
def prepare_retention(conn: Connection, news: Model, olds: Model | None) -> Model:
    """`news` with the archive tags of the versions retention archives merged into `versionTags`.

    Refuses declared version tags the provider writes itself. Without `archiveAfterDays`, or while
    the model does not exist, the declared inputs as they are. Reads the model (cached) and one
    version search; never writes.
    """
    if reserved := retention.reserved_key_failures(news.version_tags):
        raise InputProblems(reserved)
    days = news.archive_after_days
    if days is None or days < 1 or news.archive_keep_latest < 0 or model_name_problem(news.model, uc=conn.uc):
        return news  # no retention, or values `check` refuses
    plan = retention.archive_plan(
        conn.registry_uri,
        news.model,
        pinned=news.aliases,
        managed=set(news.aliases) | set(olds.aliases if olds else ()),
        after_days=days,
        keep_latest=news.archive_keep_latest,
        last_state_tags=olds.version_tags if olds else {},
    )
    if plan is None:
        return news
    archive, dates = plan
    tags = retention.with_archive_tags(news.version_tags, archive, archived_at=dates, today=clock.today())
    return replace(news, version_tags=tags)


def lifecycle_problems(news: Model, *, uc: bool) -> Failures:
    """The value checks of retention, gates and overrides (no registry read)."""
    failures: Failures = []
    if news.archive_after_days is not None and news.archive_after_days < 1:
        failures.append(("archiveAfterDays", f"must be 1 or more days, got {news.archive_after_days}"))
    if news.archive_keep_latest < 0:
        failures.append(("archiveKeepLatest", f"must be 0 or more, got {news.archive_keep_latest}"))
    for alias, gate in news.gates.items():
        if alias not in news.aliases:
            why = f"alias {alias!r} is not pinned here (aliases); a gate guards a pinned alias"
            failures.append((f"gates.{alias}", why))
        failures += gating.gate_problems(alias, gate)
    for alias, reason in news.gate_overrides.items():
        if alias not in news.gates:
            failures.append((f"gateOverrides.{alias}", f"alias {alias!r} has no gate to override (gates)"))
        if not reason.strip():
            failures.append((f"gateOverrides.{alias}", "the reason is empty; say why the gate is bypassed"))
        failures += [(f"gateOverrides.{alias}", p) for p in tag_problems({"reason": reason}, uc=uc)]
    return failures


def gate_failures(conn: Connection, news: Model, olds: Model | None, *, refused: set[str]) -> Failures:
    """The gates of the pins that change and are not refused already: reads the runs behind them."""
    moving = {a: v for a, v in _changed_pins(news, olds).items() if f"aliases.{a}" not in refused}
    return gating.check_gates(conn, news.model, moving, news.gates, news.gate_overrides)


def record_overrides(conn: Connection, news: Model, olds: Model) -> None:
    """Tag each version an overridden alias moved to with the reason and the deployer (once)."""
    uri, model = conn.registry_uri, news.model
    for alias, version in sorted(news.aliases.items()):
        reason = news.gate_overrides.get(alias)
        if reason is None or alias not in news.gates or olds.aliases.get(alias) == version:
            continue
        client = registry_client(uri)
        try:
            for key, value in gating.override_record(reason).items():
                client.set_model_version_tag(model, version, key, value)
        finally:
            state.forget_version(uri, model, version)

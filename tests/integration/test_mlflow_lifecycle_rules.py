"""Retention and promotion gates of mrgov:registry:ModelMetadata, on a real MLflow server.

Retention: `check` (through the resource's `prepare`) merges the archive tags of exactly the versions
to archive into the checked `versionTags`, from one read of the model and one version search; create
and update write them; the next check finds no diff; pinning an alias to an archived version
unarchives it. Gates: the runs behind the old and the new version are read before an alias moves; a
failing gate is a check failure holding the comparison table, a passing one an info diagnostic to
the engine (a fake Engine gRPC service here), and an override moves the alias and records itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from mlflow import MlflowClient
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from localdev.counting_proxy import CountingProxy
from localdev.mlflow_server import Server
from provider import diagnostics
from tests.integration.conftest import (
    MM,
    LoggedModels,
    MakeMrgov,
    MakeVersions,
    Mrgov,
    new_process,
    update_version,
    urn,
)

pytestmark = pytest.mark.integration

NOW = datetime(2030, 6, 1, tzinfo=UTC)
TODAY = "2030-06-01"


def archived(date: str = TODAY) -> dict[str, str]:
    return {"archived": "true", "archived_at": date}


# clock(now): what the provider's clock says; set_age(model, version, days): a version's age
SetClock = Callable[[datetime], None]
SetAge = Callable[[str, str, float], None]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SetClock:
    """Set the provider's clock (it reads MRGOV_NOW at call time, in this process)."""

    def set_now(when: datetime) -> None:
        monkeypatch.setenv("MRGOV_NOW", when.isoformat())

    set_now(NOW)
    return set_now


@pytest.fixture
def set_age(mlflow_server: Server) -> SetAge:
    """Make a version `days` old on the injected clock (MLflow's API cannot backdate a version)."""

    def set_created(name: str, version: str, days: float) -> None:
        created = int((NOW - timedelta(days=days)).timestamp() * 1000)
        update_version(mlflow_server, name, version, creation_time=created)

    return set_created


def _tags(client: MlflowClient, model: str, version: str) -> dict[str, str]:
    return {
        k: v for k, v in client.get_model_version(model, version).tags.items() if not k.startswith("mlflow.")
    }


def _routes(proxy: CountingProxy) -> list[str]:
    return sorted(proxy.by_route().elements())


# ------------------------------------------------------------------------------------------- retention
def test_check_archives_exactly_the_old_unpinned_versions_and_a_second_check_finds_nothing(
    make_mrgov: MakeMrgov,
    proxy: CountingProxy,
    client: MlflowClient,
    model_name: str,
    make_versions: MakeVersions,
    set_age: SetAge,
    clock: SetClock,
) -> None:
    mrgov = make_mrgov(trackingUri=proxy.url)
    versions = make_versions(model_name, *["full"] * 6)
    for version, days in zip(versions, (90, 80, 70, 60, 50, 5), strict=True):
        set_age(model_name, version, days)
    client.set_registered_model_alias(model_name, "Challenger", "2")  # a training job's, not ours
    declared = {
        "model": model_name,
        "aliases": {"Production": "3"},
        "versionTags": {"4": {"validation_status": "passed"}},
        "archiveAfterDays": 30,
        "archiveKeepLatest": 2,
    }

    inputs = mrgov.checked(MM, declared)

    # 2 has Challenger, 3 Production, 5 and 6 are the newest two: 1 and 4 are archived.
    assert inputs["versionTags"] == {"1": archived(), "4": {"validation_status": "passed", **archived()}}
    id_, state = mrgov.create(MM, inputs)
    assert {v: _tags(client, model_name, v) for v in versions} == {
        "1": archived(),
        "2": {},
        "3": {},
        "4": {"validation_status": "passed", **archived()},
        "5": {},
        "6": {},
    }

    # The next command, ten days later: the same set, the same dates, so no diff.
    new_process()
    clock(NOW + timedelta(days=10))
    proxy.reset()
    again = mrgov.checked(MM, declared, inputs)
    assert again["versionTags"] == inputs["versionTags"]
    assert mrgov.diff(MM, id_, state, again)["changes"] is False
    # What retention costs a check: one read of the model and one version search; no write.
    assert _routes(proxy) == [
        "GET /api/2.0/mlflow/model-versions/search",
        "GET /api/2.0/mlflow/registered-models/get",
    ]


@pytest.mark.usefixtures("clock")  # today is NOW
def test_pinning_an_alias_to_an_archived_version_unarchives_it_in_the_same_update(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions, set_age: SetAge
) -> None:
    for version in make_versions(model_name, "full", "full", "full"):
        set_age(model_name, version, 100)
    declared = {"model": model_name, "aliases": {"Production": "3"}, "archiveAfterDays": 30}
    id_, state = mrgov.create(MM, inputs := mrgov.checked(MM, declared))
    assert inputs["versionTags"] == {"1": archived(), "2": archived()}

    new_process()
    pinned = mrgov.checked(MM, {**declared, "aliases": {"Production": "3", "Champion": "1"}}, inputs)
    assert pinned["versionTags"] == {"2": archived()}
    assert mrgov.diff(MM, id_, state, pinned)["detailed"] == {
        'aliases["Champion"]': "add",
        'versionTags["1"]': "delete",
    }
    mrgov.update(MM, id_, state, pinned)
    assert client.get_model_version_by_alias(model_name, "Champion").version == "1"
    assert _tags(client, model_name, "1") == {}
    assert _tags(client, model_name, "2") == archived()

    # Turning retention off unarchives the rest: the archive tags were retention's to manage.
    new_process()
    off = mrgov.checked(MM, {"model": model_name, "aliases": {"Production": "3", "Champion": "1"}}, pinned)
    assert off["versionTags"] == {}
    mrgov.update(MM, id_, {**state, **pinned}, off)
    assert _tags(client, model_name, "2") == {}


def test_declared_archive_tags_are_refused_and_a_missing_model_is_left_to_create(
    mrgov: Mrgov, model_name: str, clock: SetClock
) -> None:
    bad = mrgov.failures(MM, {"model": model_name, "versionTags": {"1": {"archived_at": "2020-01-01"}}})
    assert bad == {
        "versionTags.1.archived_at": "version tag 'archived_at' is reserved for retention "
        "(archive: afterDays, keepLatest); the provider writes it, so declare another key"
    }
    # Not registered yet (a preview before the first up): nothing to archive, and no failure.
    assert mrgov.checked(MM, {"model": model_name, "archiveAfterDays": 1})["versionTags"] == {}


# ------------------------------------------------------------------------------------------- gates
# versions_with_f1(name, *val_f1, metric=...): the new version numbers
WithF1 = Callable[..., list[str]]


@pytest.fixture
def versions_with_f1(client: MlflowClient, logged_models: LoggedModels) -> WithF1:
    """Register versions whose runs logged `val_f1` (None: a version without a run); returns numbers."""
    experiment = client.create_experiment(f"/gates-{uuid.uuid4().hex[:8]}")

    def make(name: str, *values: float | None, metric: str = "val_f1") -> list[str]:
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            client.create_registered_model(name)
        out = []
        for value in values:
            run_id = None
            if value is not None:
                run = client.create_run(experiment)
                client.log_metric(run.info.run_id, metric, value)
                client.set_terminated(run.info.run_id)
                run_id = run.info.run_id
            mv = client.create_model_version(
                name, source=logged_models.full.uri, run_id=run_id, model_id=logged_models.full.model_id
            )
            out.append(str(mv.version))
        return out

    return make


class _Engine(engine_pb2_grpc.EngineServicer):  # type: ignore[misc]
    """The engine's Log service, recording what the provider sends."""

    def __init__(self) -> None:
        self.logged: list[tuple[int, str, str]] = []

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC's name
        self.logged.append((request.severity, request.message, request.urn))
        return empty_pb2.Empty()


@pytest.fixture
def engine(mrgov: Mrgov) -> Iterator[_Engine]:
    """A fake engine the provider sends its diagnostics to (the engine address of `serve`)."""
    servicer = _Engine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    mrgov.provider.engine_log = diagnostics.EngineLog(f"127.0.0.1:{port}")
    try:
        yield servicer
    finally:
        server.stop(None)


GATE = {"metric": "val_f1", "higherIsBetter": True, "against": "current", "min": 0.5}


def _meta(model: str, production: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "aliases": {"Production": production}, "gates": {"Production": GATE}, **extra}


def test_a_failing_gate_fails_check_with_the_table_and_the_alias_stays(
    mrgov: Mrgov, client: MlflowClient, model_name: str, versions_with_f1: WithF1, engine: _Engine
) -> None:
    versions_with_f1(model_name, 0.91, 0.74)
    _, state = mrgov.create(MM, mrgov.checked(MM, _meta(model_name, "1")))
    new_process()

    failures = mrgov.failures(MM, _meta(model_name, "2"), state)

    reason = failures["aliases.Production"]
    lines = reason.splitlines()
    assert lines[0] == "cannot point alias 'Production' at version 2: its promotion gate failed"
    assert lines[1] == (
        "promotion gate of alias 'Production': val_f1, higher is better, against the current version: FAILED"
    )
    assert lines[3].split() == ["Metric", "Version", "1", "(current)", "Version", "2", "(new)", "Threshold"]
    assert lines[5].split() == [
        "val_f1",
        "0.9100",
        "0.7400",
        ">=",
        "0.9100",
        "(current),",
        ">=",
        "0.5000",
        "(min)",
    ]
    assert "- val_f1 of version 2 is 0.7400; the gate needs >= 0.9100 (version 1 holds 0.9100)" in lines
    assert "gateOverrides.Production" in lines[-1]
    assert client.get_model_version_by_alias(model_name, "Production").version == "1"
    assert [m for _, m, _ in engine.logged if "FAILED" in m] == []  # the table is in the failure only


def test_a_passing_gate_sends_its_table_to_the_engine_and_the_alias_moves(
    mrgov: Mrgov,
    make_mrgov: MakeMrgov,
    proxy: CountingProxy,
    client: MlflowClient,
    model_name: str,
    versions_with_f1: WithF1,
    engine: _Engine,
) -> None:
    versions_with_f1(model_name, 0.81, 0.74, 0.86)
    id_, state = mrgov.create(MM, mrgov.checked(MM, _meta(model_name, "1")))
    moved = _meta(model_name, "3")

    # What a gate costs a check: the model, the current version and the two runs, besides the new
    # version's GET and MLmodel download of the signature check that every moving pin gets.
    new_process()
    make_mrgov(trackingUri=proxy.url).checked(MM, moved, state)
    routes = proxy.by_route()
    assert routes["GET /api/2.0/mlflow/runs/get"] == 2
    assert routes["GET /api/2.0/mlflow/registered-models/get"] == 1
    assert routes["GET /api/2.0/mlflow/model-versions/get"] == 2
    assert proxy.writes() == []

    engine.logged.clear()
    new_process()
    inputs = mrgov.checked(MM, moved, state)

    [(severity, message, about)] = engine.logged
    assert (severity, about) == (engine_pb2.INFO, urn(MM))
    assert message.splitlines()[0].endswith(": PASSED")
    assert message.splitlines()[4].split()[:3] == ["val_f1", "0.8100", "0.8600"]
    mrgov.update(MM, id_, state, inputs)
    assert client.get_model_version_by_alias(model_name, "Production").version == "3"


def test_missing_runs_and_metrics_fail_closed(
    mrgov: Mrgov, model_name: str, versions_with_f1: WithF1
) -> None:
    versions_with_f1(model_name, None)  # 1: no run
    versions_with_f1(model_name, 0.9, metric="auc")  # 2: a run without val_f1

    assert mrgov.failures(MM, _meta(model_name, "1"))["aliases.Production"].splitlines()[-2] == (
        "- version 1 (new): the version was registered without a run, so it has no metrics"
    )
    reason = mrgov.failures(MM, _meta(model_name, "2"))["aliases.Production"]
    assert "- version 2 (new): its run " in reason and "logged no metric 'val_f1' (it logged: auc)" in reason


def test_an_override_moves_the_alias_and_tags_the_version_once(
    mrgov: Mrgov,
    client: MlflowClient,
    model_name: str,
    versions_with_f1: WithF1,
    engine: _Engine,
    admin_env: dict[str, str],
) -> None:
    versions_with_f1(model_name, 0.91, 0.74)
    id_, state = mrgov.create(MM, mrgov.checked(MM, _meta(model_name, "1")))
    engine.logged.clear()
    new_process()

    overridden = _meta(model_name, "2", gateOverrides={"Production": "INC-123: rollback"})
    inputs = mrgov.checked(MM, overridden, state)
    [(_, message, _)] = engine.logged
    assert message.splitlines()[0].endswith(": FAILED, OVERRIDDEN (INC-123: rollback)")
    state = mrgov.update(MM, id_, state, inputs)

    assert client.get_model_version_by_alias(model_name, "Production").version == "2"
    record = {
        "promotion_override_reason": "INC-123: rollback",
        "promotion_override_by": admin_env["MLFLOW_TRACKING_USERNAME"],
    }
    assert _tags(client, model_name, "2") == record
    # Removing the override later leaves the record: it is not a declared key.
    new_process()
    plain = mrgov.checked(MM, _meta(model_name, "2"), inputs)
    assert mrgov.diff(MM, id_, state, plain)["detailed"] == {'gateOverrides["Production"]': "delete"}
    mrgov.update(MM, id_, state, plain)
    assert _tags(client, model_name, "2") == record
    # An override needs a gate and a reason.
    assert mrgov.failures(
        MM, {"model": model_name, "aliases": {"Production": "2"}, "gateOverrides": {"Production": " "}}
    ) == {
        "gateOverrides.Production": "alias 'Production' has no gate to override (gates)\n"
        "the reason is empty; say why the gate is bypassed"
    }

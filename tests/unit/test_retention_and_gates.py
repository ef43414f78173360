"""Retention and promotion gates, without a registry: the archive set, the gate verdict and its table,
the nested `Gate` type in the declarations and the schema, the clock, and diagnostics to the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pulumi.provider.experimental import provider as p
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from provider import VERSION, clock, diagnostics
from provider.config import Connection
from provider.declare import parse, to_wire
from provider.registry.gates import Gate, Side, gate_problems, judge, table, threshold
from provider.registry.model_metadata import ModelMetadataProps
from provider.registry.retention import (
    archive_set,
    protected_versions,
    reserved_key_failures,
    with_archive_tags,
)
from provider.resource import ProviderError
from provider.resources import RESOURCES
from provider.schema import package_schema
from provider.server import MrgovProvider
from provider.values import property_map

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DAY_MS = 86_400_000


def _ms(days_ago: float) -> int:
    return int((NOW - timedelta(days=days_ago)).timestamp() * 1000)


# ---------------------------------------------------------------------------------------- retention
def test_archive_set_old_unpinned_and_not_among_the_newest() -> None:
    versions = [("1", _ms(90)), ("2", _ms(80)), ("3", _ms(70)), ("4", _ms(60)), ("5", _ms(50)), ("6", _ms(5))]
    found = archive_set(versions, protected={"2", "3"}, now=NOW, after_days=30, keep_latest=2)
    assert found == ["1", "4"]  # 2 and 3 are pinned, 5 and 6 the newest two, 6 is young anyway


def test_archive_set_edges() -> None:
    exactly = [("1", _ms(30)), ("2", _ms(30.001)), ("3", 0)]
    # Older than afterDays means strictly older; an unknown creation time (0) is never archived.
    assert archive_set(exactly, protected=set(), now=NOW, after_days=30, keep_latest=0) == ["2"]
    # keepLatest counts by version number, not by age, and 0 keeps none.
    shuffled = [("10", _ms(40)), ("9", _ms(41)), ("2", _ms(100))]
    assert archive_set(shuffled, protected=set(), now=NOW, after_days=30, keep_latest=1) == ["2", "9"]
    assert archive_set(shuffled, protected=set(), now=NOW, after_days=30, keep_latest=0) == ["2", "9", "10"]
    assert archive_set(shuffled, protected=set(), now=NOW, after_days=30, keep_latest=5) == []
    assert archive_set([], protected=set(), now=NOW, after_days=1, keep_latest=0) == []


def test_protected_are_the_new_pins_and_the_aliases_of_others() -> None:
    registry = {"Production": "1", "Challenger": "4", "Champion": "2"}
    # Production moves 1 -> 3; Champion was pinned and is dropped, so the `up` deletes it.
    got = protected_versions(registry, {"Production": "3"}, managed={"Production", "Champion"})
    assert got == {"3", "4"}


def test_archive_tags_merge_into_declared_version_tags_with_stable_dates() -> None:
    declared = {"3": {"validation_status": "passed"}, "5": {"note": "x"}}
    merged = with_archive_tags(declared, ["1", "3"], archived_at={"1": "2026-01-02"}, today="2026-03-01")
    assert merged == {
        "1": {"archived": "true", "archived_at": "2026-01-02"},
        "3": {"validation_status": "passed", "archived": "true", "archived_at": "2026-03-01"},
        "5": {"note": "x"},
    }
    assert declared == {"3": {"validation_status": "passed"}, "5": {"note": "x"}}  # not changed


def test_reserved_version_tags_are_refused_by_key_path() -> None:
    found = reserved_key_failures(
        {"3": {"archived": "true", "ok": "1"}, "4": {"promotion_override_by": "me"}}
    )
    assert [k for k, _ in found] == ["versionTags.3.archived", "versionTags.4.promotion_override_by"]
    assert "reserved for retention" in found[0][1] and "override" in found[1][1]


# ---------------------------------------------------------------------------------------- the clock
def test_the_clock_reads_mrgov_now() -> None:
    assert clock.now({"MRGOV_NOW": "2026-03-01"}) == datetime(2026, 3, 1, tzinfo=UTC)
    assert clock.today({"MRGOV_NOW": "2026-03-01T23:30:00-02:00"}) == "2026-03-02"
    assert abs(clock.now({}) - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(ProviderError, match="MRGOV_NOW='soon' is not an ISO 8601 time"):
        clock.now({"MRGOV_NOW": "soon"})


# ---------------------------------------------------------------------------------------- gates
F1 = Gate(metric="val_f1", min=0.8)
RMSE = Gate(metric="val_rmse", higher_is_better=False, min_delta=5.0, max=900.0)


def test_verdicts() -> None:
    assert judge("Production", F1, Side("3", 0.85), Side("2", 0.81)).passed
    assert judge("Production", F1, Side("3", 0.81), Side("2", 0.81)).passed  # minDelta 0: as good
    worse = judge("Production", F1, Side("3", 0.80), Side("2", 0.81))
    assert worse.problems == (
        "val_f1 of version 3 is 0.8000; the gate needs >= 0.8100 (version 2 holds 0.8100)",
    )
    low = judge(
        "Production", Gate(metric="val_f1", against="none", min=0.9), Side("3", 0.85), Side("2", 0.95)
    )
    assert low.problems == ("val_f1 of version 3 is 0.8500, below min 0.9000",)  # no comparison with 2
    # Lower is better, with a margin: 600 is not 5 below 604.
    near = judge("Production", RMSE, Side("4", 600.0), Side("2", 604.0))
    assert near.problems == (
        "val_rmse of version 4 is 600.0000; the gate needs <= 599.0000 "
        "(version 2 holds 604.0000, minDelta 5.0000)",
    )
    assert judge("Production", RMSE, Side("4", 599.0), Side("2", 604.0)).passed
    # Nothing points at the alias yet: only the bounds.
    assert judge("Production", RMSE, Side("1", 800.0), None).passed
    assert not judge("Production", RMSE, Side("1", 901.0), None).passed


def test_missing_metrics_fail_closed_and_an_override_lets_them_through() -> None:
    gone = Side("3", None, "its run r1 logged no metric 'val_f1' (it logged: auc)")
    verdict = judge("Production", F1, gone, Side("2", 0.9))
    assert verdict.problems == ("version 3 (new): its run r1 logged no metric 'val_f1' (it logged: auc)",)
    assert not verdict.allowed
    current_gone = judge("Production", F1, Side("3", 0.9), Side("2", None, "the version has no run"))
    assert current_gone.problems == ("version 2 (current): the version has no run; nothing to compare with",)
    overridden = judge("Production", F1, gone, Side("2", 0.9), override="INC-123: rollback")
    assert overridden.allowed and not overridden.passed
    assert overridden.status == "FAILED, OVERRIDDEN (INC-123: rollback)"


def test_the_table_is_the_seed_comparison_with_a_threshold() -> None:
    text = table(judge("Production", F1, Side("3", 0.7801), Side("2", 0.8123)))
    assert text.splitlines() == [
        "promotion gate of alias 'Production': val_f1, higher is better, against the current version: FAILED",
        "-" * 82,
        "Metric  Version 2 (current)  Version 3 (new)  Threshold",
        "-" * 82,
        "val_f1  0.8123               0.7801           >= 0.8123 (current), >= 0.8000 (min)",
        "-" * 82,
        "- val_f1 of version 3 is 0.7801; the gate needs >= 0.8123 (version 2 holds 0.8123)",
        "- val_f1 of version 3 is 0.7801, below min 0.8000",
    ]
    fresh = table(judge("Production", RMSE, Side("1", 506.9), None))
    assert "Current" in fresh and "(none)" in fresh and ": PASSED" in fresh.splitlines()[0]
    assert threshold(RMSE, None, Side("1", 1.0)) == "no current version, <= 900.0000 (max)"
    assert (
        threshold(RMSE, Side("2", 600.0), Side("3", 1.0))
        == "<= 595.0000 (current - 5.0000), <= 900.0000 (max)"
    )


def test_gate_problems() -> None:
    assert gate_problems("Production", F1) == []
    bad = Gate(metric=" ", against="previous", min_delta=-1.0, min=2.0, max=1.0)
    assert [k for k, _ in gate_problems("Production", bad)] == [
        "gates.Production.metric",
        "gates.Production.against",
        "gates.Production.minDelta",
        "gates.Production",
    ]
    assert gate_problems("P", Gate(metric="m", against="none")) == [
        ("gates.P", "checks nothing: with against 'none' it needs a min or a max")
    ]


# ---------------------------------------------------------------------------------------- declarations
def test_a_gate_is_a_schema_type_referenced_by_the_metadata() -> None:
    schema = package_schema()
    gate = schema["types"][Gate.TOKEN]
    assert gate["type"] == "object" and gate["required"] == ["metric"]
    assert set(gate["properties"]) == {"metric", "higherIsBetter", "against", "minDelta", "min", "max"}
    assert gate["properties"]["minDelta"]["type"] == "number"
    gates = schema["resources"][ModelMetadataProps.TOKEN]["inputProperties"]["gates"]
    assert gates["additionalProperties"] == {"$ref": f"#/types/{Gate.TOKEN}"}


def test_gates_parse_recursively_with_key_paths() -> None:
    props, failures = parse(
        ModelMetadataProps,
        {
            "model": "c.s.m",
            "gates": {
                "Production": {"metric": "val_f1", "min": 1, "higherIsBeter": False},
                "Champion": {"minDelta": "a lot"},
            },
            "archiveAfterDays": 30.0,
        },
    )
    assert sorted(failures) == [
        ("gates.Champion.metric", "is required"),
        ("gates.Champion.minDelta", "must be a number, got 'a lot'"),
        (
            "gates.Production.higherIsBeter",
            "is not a known key; allowed keys: metric, higherIsBetter, against, minDelta, min, max",
        ),
    ]
    assert props.gates["Production"] == Gate(metric="val_f1", min=1.0)
    assert props.archive_after_days == 30
    # On the wire a gate is a mapping of wire names, without its unset bounds.
    assert to_wire(props.gates["Production"]) == {
        "metric": "val_f1",
        "higherIsBetter": True,
        "against": "current",
        "minDelta": 0.0,
        "min": 1.0,
    }


def _provider() -> MrgovProvider:
    provider = MrgovProvider(VERSION, RESOURCES, lambda: "{}")
    # No server: a registry nobody listens on, so any read the check made would fail loudly.
    provider._conn = Connection(registry_uri="http://127.0.0.1:9", tracking_uri="http://127.0.0.1:9")
    return provider


URN = f"urn:pulumi:s::p::{ModelMetadataProps.TOKEN}::m"


def _check(news: dict[str, object]) -> list[tuple[str, str]]:
    result = asyncio.run(_provider().check(p.CheckRequest(URN, {}, property_map(news), b"")))
    return [(f.property, f.reason) for f in result.failures or []]


def test_check_refuses_reserved_version_tags_and_bad_lifecycle_values_before_any_read() -> None:
    assert _check(
        {
            "model": "c.s.m",
            "versionTags": {"3": {"archived": "true"}},
            "archiveAfterDays": 0,
            "archiveKeepLatest": -1,
            "gates": {"Champion": {"metric": "val_f1", "against": "none"}},
            "gateOverrides": {"Production": ""},
        }
    ) == [
        (
            "versionTags.3.archived",
            "version tag 'archived' is reserved for retention (archive: afterDays, keepLatest); the provider "
            "writes it, so declare another key",
        ),
        ("archiveAfterDays", "must be 1 or more days, got 0"),
        ("archiveKeepLatest", "must be 0 or more, got -1"),
        ("gates.Champion", "alias 'Champion' is not pinned here (aliases); a gate guards a pinned alias"),
        ("gates.Champion", "checks nothing: with against 'none' it needs a min or a max"),
        ("gateOverrides.Production", "alias 'Production' has no gate to override (gates)"),
        ("gateOverrides.Production", "the reason is empty; say why the gate is bypassed"),
    ]


# ---------------------------------------------------------------------------------------- diagnostics
class _Engine(engine_pb2_grpc.EngineServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.logged: list[engine_pb2.LogRequest] = []

    def Log(self, request: engine_pb2.LogRequest, context: object) -> object:  # noqa: N802 - gRPC's name
        self.logged.append(request)
        from google.protobuf import empty_pb2

        return empty_pb2.Empty()


@pytest.fixture
def engine() -> Iterator[tuple[str, _Engine]]:
    servicer = _Engine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(None)


def test_info_goes_to_the_engine_about_the_resource_being_served(engine: tuple[str, _Engine]) -> None:
    address, servicer = engine
    provider = _provider()
    provider.engine_log = diagnostics.EngineLog(address)

    sent = asyncio.run(provider._run(diagnostics.info, "the table", urn=URN))

    assert sent is True
    assert [(r.severity, r.message, r.urn) for r in servicer.logged] == [(engine_pb2.INFO, "the table", URN)]
    assert diagnostics.info("outside a call") is False  # no engine, no resource: nowhere to go


def test_an_engine_that_is_gone_never_fails_the_call() -> None:
    log = diagnostics.EngineLog("127.0.0.1:9")
    with diagnostics.attached(log, URN):
        assert diagnostics.info("lost") is False

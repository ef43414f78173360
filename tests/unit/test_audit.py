"""The audit's checklist on values (no registry), its Markdown and JSON, and the command's exit codes.

tests/integration/test_audit.py reads a real MLflow server, tests/integration/test_audit_uc_contract.py
Unity Catalog's API on a loopback server, and tests/e2e/test_audit.py audits a stack after `up`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import types
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from components.audit.checklist import ITEMS, Check, Options, Report, evaluate
from components.audit.checklist import _archived as archived_check
from components.audit.report import to_json, to_markdown
from components.audit.snapshot import (
    Access,
    Column,
    Dataset,
    Holding,
    LoggedModel,
    ModelSnapshot,
    RegistrySnapshot,
    RunInfo,
    VersionSnapshot,
)
from components.databricks.audit import TERMS as UC_TERMS
from components.mlflow.audit import TERMS as MLFLOW_TERMS
from components.mlflow.reach import mlflow_credentials
from components.spec import MlflowTarget, StackSpec, build_from_files
from localdev import audit

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAY_MS = 24 * 3600 * 1000
SIGNED = LoggedModel((Column("x", "double"),), (Column("y", "double"),), "input_example.json", "dataframe")
RUN = "9b2c671cf35a47dd8098391d3da86e5f"


def _ms(days_ago: float) -> int:
    return int((NOW - timedelta(days=days_ago)).timestamp() * 1000)


def version(n: int, **changes: object) -> VersionSnapshot:
    v = VersionSnapshot(
        version=str(n),
        status="READY",
        description=f"version {n}",
        created_ms=_ms(10 * (5 - n)),
        run_id=RUN if n == 2 else "",
        source=f"models:/m-{n}",
        logged=SIGNED,
        run=RunInfo(RUN, (Dataset("usage", "abc123", "code", "train.py", "training"),)) if n == 2 else None,
    )
    return replace(v, **changes)  # type: ignore[arg-type]


def mlflow_access(model: str, **levels: str) -> Access:
    return Access(f"model {model}", {p: Holding(p, (lv,), f"role {p}") for p, lv in levels.items()})


GOOD_LEVELS = {"ml_engineers": "EDIT", "inference_jobs": "READ", "dashboards": "READ"}


def model_snapshot(spec: StackSpec, short: str, **changes: object) -> ModelSnapshot:
    m = spec.model_by_name(short)
    access = mlflow_access(m.full_name, **GOOD_LEVELS)
    held = ModelSnapshot(
        name=m.full_name,
        exists=True,
        description=m.description,
        tags=dict(m.tags),
        aliases={a: str(v) for a, v in m.aliases.items()},
        versions=(version(1), version(2), version(3)),
        create_access=access,
        use_access=access,
    )
    return replace(held, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def local() -> StackSpec:
    return build_from_files(ROOT, "local")


def _audit(spec: StackSpec, *models: ModelSnapshot, target: str = "mlflow") -> Report:
    by_name = {m.name: m for m in models}
    full = tuple(by_name.get(m.full_name) or model_snapshot(spec, m.name) for m in spec.models)
    terms = {"mlflow": MLFLOW_TERMS, "databricks": UC_TERMS}[target]
    return evaluate(spec, RegistrySnapshot(target, "http://127.0.0.1:5000", full, terms), Options(now=NOW))


def _checks(report: Report, model: str, item: str) -> list[Check]:
    found = next(m for m in report.models if m.name == model)
    return [c for c in found.checks if c.item == item]


def _one(report: Report, model: str, item: str) -> Check:
    [check] = _checks(report, model, item)
    return check


def test_every_item_for_every_model_and_every_version(local: StackSpec) -> None:
    report = _audit(local)
    per_version = {i.id for i in ITEMS if i.scope == "version"}
    for m in report.models:
        assert {c.item for c in m.checks} == {i.id for i in ITEMS}
        for item in per_version:
            assert [c.version for c in m.checks if c.item == item] == ["1", "2", "3"]
    # Only the retention item is skipped (the local stack declares no rule); failure_predictor pins no
    # Production, which is advisory outside production.
    assert {(c.item, c.status) for c in report.checks if c.status != "pass"} == {
        ("old-versions-archived", "skip"),
        ("production-alias", "fail"),
    }
    assert report.exit_code == 0


def test_a_version_without_input_example_fails_its_item_and_the_audit(local: StackSpec) -> None:
    bare = replace(SIGNED, input_example=None)
    held = model_snapshot(local, "cost_anomaly_detector", versions=(version(1, logged=bare), version(2)))
    report = _audit(local, held)
    first, second = _checks(report, "cost_anomaly_detector", "input-example")
    assert (first.version, first.status, first.severity) == ("1", "fail", "mandatory")
    assert "without an input example" in first.evidence
    assert (second.status, second.evidence) == ("pass", "saved as input_example.json, dataframe")
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("logged", "status", "says"),
    [
        (SIGNED, "pass", "inputs: x double; outputs: y double"),
        (LoggedModel(None, None, None), "fail", "logged without a signature"),
        (LoggedModel((Column("x", "double"),), None, None), "fail", "the signature has no outputs"),
    ],
)
def test_signature_needs_inputs_and_outputs(
    local: StackSpec, logged: LoggedModel, status: str, says: str
) -> None:
    held = model_snapshot(local, "budget_forecaster", versions=(version(1, logged=logged),))
    check = _one(_audit(local, held), "budget_forecaster", "signature")
    assert (check.status, check.version) == (status, "1") and says in check.evidence


def test_an_unreadable_mlmodel_fails_on_mlflow_and_is_vouched_for_by_unity_catalog(local: StackSpec) -> None:
    v = version(1, logged=None, logged_error="403 Forbidden")
    held = model_snapshot(local, "budget_forecaster", versions=(v,))
    on_mlflow = _one(_audit(local, held), "budget_forecaster", "signature")
    on_uc = _one(_audit(local, held, target="databricks"), "budget_forecaster", "signature")
    assert on_mlflow.status == "fail" and "403 Forbidden" in on_mlflow.evidence
    assert (
        on_uc.status == "pass" and "Unity Catalog registers only versions whose signature" in on_uc.evidence
    )
    assert (
        _one(_audit(local, held, target="databricks"), "budget_forecaster", "input-example").status == "fail"
    )


def test_registration_items_read_the_live_model(local: StackSpec) -> None:
    held = model_snapshot(
        local,
        "cost_anomaly_detector",
        description="",
        tags={"domain": "cost"},
        versions=(version(1, description=""),),
    )
    report = _audit(local, held)
    assert _one(report, "cost_anomaly_detector", "description").evidence == "the model has no description"
    tags = _one(report, "cost_anomaly_detector", "required-tags")
    assert (tags.status, tags.evidence) == ("fail", "missing algorithm, model_type (has domain=cost)")
    assert _one(report, "cost_anomaly_detector", "version-description").status == "fail"
    history = _one(report, "cost_anomaly_detector", "version-history")
    assert (history.status, history.severity) == ("fail", "advisory")
    assert history.evidence.startswith("0 of 1 versions described: 1 (2026-10-23) undocumented")


def test_a_description_that_drifted_passes_and_says_so(local: StackSpec) -> None:
    held = model_snapshot(local, "budget_forecaster", description="Edited by hand")
    check = _one(_audit(local, held), "budget_forecaster", "description")
    assert check.status == "pass" and "differs from the stack's description" in check.evidence


def test_permissions_on_mlflow_say_what_stands_in_for_create_model(local: StackSpec) -> None:
    name = local.model_by_name("failure_predictor").full_name
    access = mlflow_access(name, ml_engineers="READ", inference_jobs="READ")
    held = model_snapshot(local, "failure_predictor", create_access=access, use_access=access)
    report = _audit(local, held)
    create = _one(report, "failure_predictor", "create-model")
    assert create.status == "fail"
    assert "ml_engineers holds READ, not EDIT or MANAGE" in create.evidence
    assert "MLflow has no CREATE MODEL privilege" in create.evidence
    assert _one(report, "failure_predictor", "use-model-inference").status == "pass"
    dashboards = _one(report, "failure_predictor", "use-model-dashboards")
    assert dashboards.status == "fail" and "dashboards holds nothing, not READ or more" in dashboards.evidence


def test_unreadable_grants_fail_the_permission_items_with_the_reason(local: StackSpec) -> None:
    denied = Access("model x", error="listing MLflow's users and roles needs an admin: 403")
    held = model_snapshot(local, "failure_predictor", create_access=denied, use_access=denied)
    report = _audit(local, held)
    for item in ("create-model", "use-model-inference", "use-model-dashboards"):
        check = _one(report, "failure_predictor", item)
        assert check.status == "fail" and "needs an admin: 403" in check.evidence


def test_unity_catalog_wants_create_model_on_the_schema_and_execute_on_the_model() -> None:
    spec = build_from_files(ROOT, "prod")
    m = spec.model_by_name("cost_anomaly_detector")
    schema = Access(
        "schema prod_catalog.gold_features",
        {"prod-ml-engineers": Holding("prod-ml-engineers", ("CREATE_MODEL", "USE_SCHEMA"))},
    )
    model = Access(
        f"model {m.full_name}",
        {
            "a4d8e2c6-1f9b-4e35-8c7a-6b0e3d5f9a13": Holding(
                "a4d8e2c6-1f9b-4e35-8c7a-6b0e3d5f9a13", ("EXECUTE",)
            ),
            "prod-bi-dashboards": Holding(
                "prod-bi-dashboards", ("EXECUTE",), "inherited from schema prod_catalog.gold_features"
            ),
        },
    )
    held = model_snapshot(spec, "cost_anomaly_detector", create_access=schema, use_access=model)
    report = _audit(spec, held, target="databricks")
    create = _one(report, "cost_anomaly_detector", "create-model")
    assert (create.status, create.evidence) == (
        "pass",
        "on schema prod_catalog.gold_features: prod-ml-engineers (role ml_engineers): CREATE_MODEL",
    )
    dashboards = _one(report, "cost_anomaly_detector", "use-model-dashboards")
    assert dashboards.status == "pass"
    assert "EXECUTE via inherited from schema prod_catalog.gold_features" in dashboards.evidence


def test_production_alias_is_mandatory_for_served_models_in_production() -> None:
    prod = build_from_files(ROOT, "prod")
    held = model_snapshot(prod, "cost_anomaly_detector", aliases={"Champion": "3"})
    check = _one(_audit(prod, held, target="databricks"), "cost_anomaly_detector", "production-alias")
    assert (check.status, check.severity) == ("fail", "mandatory")
    assert check.evidence == "no Production alias (aliases: Champion -> 3)"
    moved = model_snapshot(prod, "cost_anomaly_detector", aliases={"Production": "9"})
    check = _one(_audit(prod, moved, target="databricks"), "cost_anomaly_detector", "production-alias")
    assert check.status == "fail" and "a version that does not exist" in check.evidence


def test_production_alias_is_advisory_outside_production(local: StackSpec) -> None:
    check = _one(_audit(local), "failure_predictor", "production-alias")
    assert (check.status, check.severity) == ("fail", "advisory")
    assert "stack 'local' is not a production environment" in check.evidence


def test_old_versions_archived_with_a_rule(local: StackSpec) -> None:
    held = model_snapshot(local, "cost_anomaly_detector", aliases={"Production": "2"})
    rule = types.SimpleNamespace(archive=types.SimpleNamespace(after_days=15, keep_latest=1))
    check = archived_check(rule, held, NOW)  # type: ignore[arg-type]  # a model with a retention rule
    assert (check.status, check.severity) == ("fail", "advisory")
    assert check.evidence == (
        "archive after 15 days, keep the latest 1; due but not archived: 1 (`pulumi up` archives them); "
        "archived: none"
    )
    done = replace(held, versions=(version(1, tags={"archived": "true"}), version(2), version(3)))
    check = archived_check(rule, done, NOW)  # type: ignore[arg-type]
    assert (check.status, check.evidence) == (
        "pass",
        "archive after 15 days, keep the latest 1; archived: 1; due now: 1",
    )
    pinned = replace(done, aliases={"Production": "1"})
    check = archived_check(rule, pinned, NOW)  # type: ignore[arg-type]
    assert check.status == "fail" and "archived yet an alias points at it: 1" in check.evidence


def test_without_a_rule_the_archive_item_is_skipped(local: StackSpec) -> None:
    check = _one(_audit(local), "cost_anomaly_detector", "old-versions-archived")
    assert (check.status, check.evidence) == ("skip", "no retention rule declared")


def test_a_missing_model_fails_every_item(local: StackSpec) -> None:
    gone = ModelSnapshot(local.model_by_name("budget_forecaster").full_name, exists=False)
    report = _audit(local, gone)
    checks = next(m for m in report.models if m.name == "budget_forecaster").checks
    assert [c.item for c in checks] == [i.id for i in ITEMS]
    assert {c.status for c in checks} == {"fail"} and "does not exist" in checks[0].evidence
    assert report.exit_code == 1


def test_lineage_of_pinned_versions_with_their_datasets(local: StackSpec) -> None:
    report = _audit(local)
    [row] = next(m for m in report.models if m.name == "cost_anomaly_detector").lineage
    assert (row.version, row.aliases, row.run_id, row.source) == (
        "2",
        ("Champion", "Production"),
        RUN,
        "models:/m-2",
    )
    assert row.datasets == ("usage@abc123 [training] (code: train.py)",)


def test_markdown_has_a_row_per_item_and_the_latest_version(local: StackSpec) -> None:
    report = _audit(local)
    text = to_markdown(report)
    assert text.startswith("# Registry audit: `local`\n")
    assert "The stack ✅ **passes** the mandatory items." in text
    cad = "local_catalog.gold_features.cost_anomaly_detector"
    assert f"| `cost_anomaly_detector` | 3 `models:/{cad}/3` | 0 | 0 | 17 | 1 |" in text
    assert (
        "| Registration | Version has an input example | 3 | ✅ pass | saved as input_example.json, "
        "dataframe |" in text
    )
    assert (
        f"| Champion, Production | 2 | `{RUN}` | `models:/m-2` | usage@abc123 [training] (code: train.py) |"
        in text
    )
    rows = [x for x in text.splitlines() if x.startswith(("| Registration", "| Permissions", "| Lifecycle"))]
    assert len(rows) == len(report.checks)


def test_json_carries_every_check_and_the_exit_code(local: StackSpec) -> None:
    report = _audit(local)
    data = json.loads(json.dumps(to_json(report)))
    assert data["exitCode"] == 0 and data["stack"] == "local"
    assert [i["id"] for i in data["items"]] == [i.id for i in ITEMS]
    cad = data["models"][0]
    assert cad["latestVersion"] == {
        "version": "3",
        "uri": "models:/local_catalog.gold_features.cost_anomaly_detector/3",
    }
    assert sum(len(m["checks"]) for m in data["models"]) == len(report.checks)


# --------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------
def _project(tmp_path: Path, tracking_uri: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(ROOT / "registry.yaml", project)
    text = (ROOT / "Pulumi.local.yaml").read_text().replace("http://127.0.0.1:5000", tracking_uri)
    (project / "Pulumi.local.yaml").write_text(text)
    return project


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unknown_stack_is_one_message_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, "http://127.0.0.1:1")
    assert audit.main(["--stack", "qa", "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert err == f"audit of stack 'qa' cannot run: no Pulumi.qa.yaml in {project}; stacks here: local\n"


def test_bad_config_is_one_message_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, "ftp://nowhere")
    assert audit.main(["--stack", "local", "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert "cannot run: stack 'local' has 1 config problem(s)" in err and "[tracking-uri]" in err
    assert "Traceback" not in err


def test_a_registry_that_does_not_answer_is_one_message_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    project = _project(tmp_path, url)
    assert audit.main(["--stack", "local", "--project", str(project)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith(
        f"audit of stack 'local' cannot run: the MLflow server at {url} does not answer"
    )
    assert "make mlflow-up" in out.err and "Traceback" not in out.err
    assert not (project / ".state" / "audit-local.md").exists()


def test_databricks_without_credentials_is_one_message_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert audit.main(["--stack", "dev", "--project", str(ROOT)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audit of stack 'dev' cannot run: no Databricks credentials: DATABRICKS_HOST")


def test_mlflow_credentials_come_from_the_environment_else_the_local_secrets_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    target = build_from_files(ROOT, "local").target
    assert isinstance(target, MlflowTarget)
    mlflow_credentials(target, os.environ, audit.local_secrets(tmp_path))
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ
    assert not (tmp_path / "secrets.env").exists()  # never made by an audit

    (tmp_path / "secrets.env").write_text("MLFLOW_TRACKING_PASSWORD=from-the-file\n")
    mlflow_credentials(target, os.environ, audit.local_secrets(tmp_path))
    assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == (
        "admin",
        "from-the-file",
    )

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "from-the-environment")
    mlflow_credentials(target, os.environ, audit.local_secrets(tmp_path))
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "from-the-environment"

"""The audit against a real MLflow server: `python -m localdev.audit` on a stack whose models, versions,
roles and grants were made on the session server, as a training job and `pulumi up` would leave them.

Version 1 is logged with an input example by a run that logged its training dataset; version 2 is the
session's signed model without an input example, which must fail that item (and the audit).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from mlflow import MlflowClient

from components.audit.checklist import Options, evaluate
from components.mlflow.audit import read_mlflow
from components.spec import build_from_files
from localdev import audit
from localdev.mlflow_server import Server
from provider.registry.client import auth_client
from tests.integration.conftest import LoggedModel, LoggedModels, doubler, logging_to, two_version_statuses

pytestmark = pytest.mark.integration

DESCRIPTION = "Audit Detector\n\nPurpose: detect what the audit checks."
TAGS = {"domain": "cost", "algorithm": "isolation_forest", "model_type": "anomaly_detection"}


@pytest.fixture(scope="session")
def with_input_example(mlflow_server: Server) -> LoggedModel:
    """A model logged with a signature and an input example by a run that logged its dataset."""
    import mlflow
    import mlflow.data
    import pandas as pd
    from mlflow.models import infer_signature

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with logging_to(mlflow_server, "/integration-audit"), mlflow.start_run() as run:
        mlflow.log_input(mlflow.data.from_pandas(frame, name="usage", source="synthetic"), context="training")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=doubler(),
            signature=infer_signature(frame, pd.DataFrame({"y": [2.0, 4.0, 6.0]})),
            input_example=frame.head(2),
            pip_requirements=["mlflow"],
        )
    return LoggedModel(info.model_uri, info.model_id, run.info.run_id)


@dataclass(frozen=True)
class Stack:
    project: Path
    stack: str
    model: str
    roles: dict[str, str]  # logical role -> MLflow role name


@pytest.fixture
def stack(
    tmp_path: Path,
    uri: str,
    client: MlflowClient,
    logged_models: LoggedModels,
    with_input_example: LoggedModel,
) -> Stack:
    """A project with one model, registered with two versions, described, tagged, pinned and granted."""
    suffix = uuid.uuid4().hex[:6]
    catalog = f"audit_{suffix}"
    roles = {r: f"{r}_{suffix}" for r in ("ml_engineers", "inference_jobs", "dashboards")}
    shared = {
        "schemas": {"gold_features": {}},
        "roles": {"ml_engineers": {"modelCreator": True}, "inference_jobs": {}, "dashboards": {}},
        "modelDefaults": {
            "schema": "gold_features",
            "grants": [
                {"roles": ["ml_engineers"], "privileges": ["CREATE_MODEL_VERSION"]},
                {"roles": ["inference_jobs", "dashboards"], "privileges": ["EXECUTE"]},
            ],
        },
        "models": {
            "audit_detector": {
                "description": DESCRIPTION,
                "tags": TAGS,
                "versionDescriptions": {"1": "Initial version"},
            }
        },
    }
    config = {
        "config": {
            "mrgov:target": {"kind": "mlflow", "trackingUri": uri},
            "mrgov:catalog": catalog,
            "mrgov:roles": {logical: [name] for logical, name in roles.items()},
            "mrgov:models": {"audit_detector": {"aliases": {"Production": 1}}},
        }
    }
    project = tmp_path / "project"
    project.mkdir()
    (project / "registry.yaml").write_text(yaml.safe_dump(shared))
    (project / "Pulumi.it.yaml").write_text(yaml.safe_dump(config))

    model = f"{catalog}.gold_features.audit_detector"
    client.create_registered_model(model, tags=TAGS, description=DESCRIPTION)
    client.create_model_version(
        model,
        source=with_input_example.uri,
        run_id=with_input_example.run_id,
        model_id=with_input_example.model_id,
        description="Initial version",
        await_creation_for=0,
    )
    client.create_model_version(
        model, source=logged_models.full.uri, model_id=logged_models.full.model_id, await_creation_for=0
    )
    client.set_registered_model_alias(model, "Production", "1")
    auth = auth_client(uri)
    for logical, level in (("ml_engineers", "EDIT"), ("inference_jobs", "READ"), ("dashboards", "READ")):
        role = auth.create_role("default", roles[logical], None)
        auth.add_role_permission(int(role["id"]), "registered_model", model, level)
    return Stack(project, "it", model, roles)


def _by_item(report_models: list[dict[str, Any]]) -> dict[tuple[str, str | None], dict[str, Any]]:
    [model] = report_models
    return {(c["item"], c["version"]): c for c in model["checks"]}


def test_the_command_reports_every_item_and_fails_on_the_missing_input_example(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    out = stack.project / "audit.md"

    code = audit.main(["--stack", stack.stack, "--project", str(stack.project), "--out", str(out)])

    assert code == 1  # version 2 has no input example: a mandatory item
    printed = capsys.readouterr().out
    assert printed == out.read_text()
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["exitCode"] == 1
    checks = _by_item(data["models"])
    status = {key: c["status"] for key, c in checks.items()}
    assert status == two_version_statuses("pass")
    assert checks[("input-example", "2")]["evidence"] == (
        "logged without an input example; log the model with input_example=<a few rows>"
    )
    assert checks[("input-example", "1")]["evidence"] == "saved as input_example.json, dataframe"
    assert checks[("signature", "1")]["evidence"] == "inputs: x double; outputs: y double"
    ml = stack.roles["ml_engineers"]
    assert checks[("create-model", None)]["evidence"].startswith(
        f"on model {stack.model}: {ml} (role ml_engineers): EDIT via role {ml} (MLflow has no CREATE MODEL"
    )
    assert checks[("production-alias", None)]["evidence"].startswith("Production -> 1 (READY)")
    assert data["models"][0]["latestVersion"] == {"version": "2", "uri": f"models:/{stack.model}/2"}
    assert "| Registration | Version has an input example | 2 | ❌ fail |" in printed


def test_lineage_shows_the_pinned_version_s_run_source_and_datasets(
    stack: Stack, with_input_example: LoggedModel, client: MlflowClient
) -> None:
    spec = build_from_files(stack.project, stack.stack)

    report = evaluate(spec, read_mlflow(spec), Options())

    [model] = report.models
    [row] = model.lineage
    assert (row.version, row.aliases, row.run_id) == ("1", ("Production",), with_input_example.run_id)
    assert row.source == client.get_model_version(stack.model, "1").source
    [dataset] = row.datasets
    run = client.get_run(with_input_example.run_id)
    [logged] = run.inputs.dataset_inputs
    expected = f"usage@{logged.dataset.digest} [training] ({logged.dataset.source_type}: "
    assert dataset.startswith(expected) and "synthetic" in dataset


def test_grants_missing_on_the_server_fail_the_permission_items(stack: Stack, uri: str) -> None:
    spec = build_from_files(stack.project, stack.stack)
    auth = auth_client(uri)
    role = next(r for r in auth.list_all_roles() if r["name"] == stack.roles["dashboards"])
    for perm in role.get("permissions", []):
        auth.remove_role_permission(int(perm["id"]))

    report = evaluate(spec, read_mlflow(spec), Options())

    [model] = report.models
    check = next(c for c in model.checks if c.item == "use-model-dashboards")
    assert check.status == "fail"
    assert f"{stack.roles['dashboards']} (role dashboards) holds nothing, not READ or more" in check.evidence


def test_a_non_admin_reads_the_model_but_not_the_grants_and_the_items_say_so(
    stack: Stack, uri: str, make_user: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = build_from_files(stack.project, stack.stack)
    user = make_user("auditor")
    auth_client(uri).grant_user_permission(user.username, "registered_model", stack.model, "READ")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user.password)

    report = evaluate(spec, read_mlflow(spec), Options())

    [model] = report.models
    by_item = {(c.item, c.version): c for c in model.checks}
    assert by_item[("description", None)].status == "pass"  # the model was read
    for item in ("create-model", "use-model-inference", "use-model-dashboards"):
        check = by_item[(item, None)]
        assert check.status == "fail"
        assert "could not read the grants: listing MLflow's users and roles needs an admin" in check.evidence

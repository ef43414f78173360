"""The audit's Unity Catalog path, on a loopback server posing as Databricks: the exact requests it makes.

The fixtures of tests/integration/test_databricks_uc_contract.py, extended: besides the registry's
models and versions, this server answers what the audit reads on a workspace, with the clients a
Databricks user would use:
- each version's MLmodel, through MLflow's Unity Catalog artifact repository (temporary credentials
  for `DEFAULT_STORAGE`, then a presigned download URL, as
  mlflow/store/artifact/presigned_url_artifact_repo.py does);
- the run behind the pinned version, on the `databricks` tracking server (`runs/get`);
- the effective grants on the schema and on the model, through the Databricks SDK
  (`/api/2.1/unity-catalog/effective-permissions/<type>/<name>`; a model's type is `function`).

As in the contract test, the server only checks what we send; it is no stand-in for Databricks.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.audit.checklist import Options, evaluate
from components.audit.report import to_markdown
from components.databricks.audit import read_uc
from components.spec import build, load_stack_file
from tests.integration.conftest import two_version_statuses
from tests.integration.test_databricks_uc_contract import TOKEN, point_databricks_at, uc_env  # noqa: F401 (fixture)
from tests.loopback import Request, serving

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MODEL = "dev_catalog.gold_features.cost_anomaly_detector"
PATH = "/Models/dev_catalog/gold_features/cost_anomaly_detector"
UC = "/api/2.0/mlflow/unity-catalog"
RUN = "0123456789abcdef0123456789abcdef"
MLMODEL = """artifact_path: model
flavors:
  python_function: {{loader_module: mlflow.pyfunc.model, python_version: 3.11.0}}
mlflow_version: 3.17.2
model_uuid: 0f1e2d3c
signature:
  inputs: '[{{"type": "double", "name": "daily_dbu", "required": true}}]'
  outputs: '[{{"type": "double", "name": "anomaly_score", "required": true}}]'
  params: null
{example}utc_time_created: '2026-11-01 00:00:00.000000'
"""
EXAMPLE = (
    "saved_input_example_info: {artifact_path: input_example.json, type: dataframe, pandas_orient: split}\n"
)


@dataclass
class Workspace:
    """What the loopback server holds and received."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request to the workspace's APIs and the presigned URL, in order."""
        with self.lock:
            return [(r.method, r.path) for r in self.requests if r.path.startswith(("/api/", "/presigned/"))]

    def answer(self, r: Request) -> tuple[int, Any]:
        route = (r.method, r.path.removeprefix(UC))
        if route == ("GET", "/registered-models/get"):
            model = {
                "name": MODEL,
                "description": "Cost Anomaly Detector\n\nPurpose: detect unusual spend.",
                "aliases": [{"alias": "Champion", "version": "2"}],
                "tags": [
                    {"key": "domain", "value": "cost"},
                    {"key": "algorithm", "value": "isolation_forest"},
                    {"key": "model_type", "value": "anomaly_detection"},
                ],
            }
            return 200, {"registered_model": model}
        if route == ("GET", "/model-versions/search"):
            return 200, {"model_versions": [{"name": MODEL, "version": v} for v in ("2", "1")]}
        if route == ("GET", "/model-versions/get"):
            version = r.query["version"][0]
            return 200, {
                "model_version": {
                    "name": MODEL,
                    "version": version,
                    "status": "READY",
                    "description": {"1": "Initial version", "2": ""}[version],
                    "creation_timestamp": 1_780_000_000_000 + int(version),
                    "run_id": RUN if version == "2" else "",
                    "source": f"dbfs:/databricks/mlflow-tracking/1/{RUN}/artifacts/model",
                }
            }
        if r.path == f"{UC}/registered-models:is-databricks-sdk-models-artifact-repository-enabled":
            return 200, {"is_databricks_sdk_models_artifact_repository_enabled": False}
        if route == ("POST", "/model-versions/generate-temporary-credentials"):
            return 200, {"credentials": {"storage_mode": "DEFAULT_STORAGE"}}
        if r.path.startswith("/api/2.0/fs/directories/"):
            return 404, {"error_code": "NOT_FOUND", "message": "Not a directory"}
        if r.path == "/api/2.0/fs/create-download-url":
            version = str((r.body or {})["path"]).split("/")[-2]
            return 200, {"url": f"{self.url}/presigned/{version}/MLmodel", "headers": []}
        if r.path.startswith("/presigned/"):
            version = r.path.split("/")[2]
            return 200, MLMODEL.format(example=EXAMPLE if version == "1" else "").encode()
        if r.path == "/api/2.0/mlflow/runs/get":
            return 200, {"run": _run()}
        if r.path == "/api/2.1/unity-catalog/effective-permissions/schema/dev_catalog.gold_features":
            return 200, {
                "privilege_assignments": [
                    {"principal": "dev-ml-engineers", "privileges": [{"privilege": "CREATE_MODEL"}]},
                    {"principal": "dev-bi-dashboards", "privileges": [{"privilege": "USE_SCHEMA"}]},
                ]
            }
        if r.path == f"/api/2.1/unity-catalog/effective-permissions/function/{MODEL}":
            inherited = {"inherited_from_type": "SCHEMA", "inherited_from_name": "dev_catalog.gold_features"}
            return 200, {
                "privilege_assignments": [
                    {
                        "principal": "b7e4d2a0-6c3f-4e8b-a1d5-0f2c9e7b3a21",
                        "privileges": [{"privilege": "EXECUTE"}],
                    },
                    {"principal": "dev-bi-dashboards", "privileges": [{"privilege": "EXECUTE", **inherited}]},
                ]
            }
        return 200, {}  # host metadata and whatever else a client asks first


def _run() -> dict[str, Any]:
    dataset = {"name": "cost_features", "digest": "a1b2c3", "source_type": "delta_table", "source": "cat.s.t"}
    return {
        "info": {"run_id": RUN, "run_uuid": RUN, "experiment_id": "1", "status": "FINISHED"},
        "data": {},
        "inputs": {
            "dataset_inputs": [
                {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}
            ]
        },
    }


@pytest.fixture
def workspace(uc_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:  # noqa: F811
    ws = Workspace()
    with serving(ws) as url:
        ws.url = url
        point_databricks_at(monkeypatch, ws.url)
        monkeypatch.delenv("MLFLOW_ENABLE_UC_NATIVE_MODEL_REGISTRY", raising=False)
        yield ws


def _dev_with_one_model() -> Any:
    raw = copy.deepcopy(load_stack_file(ROOT, "dev"))
    raw["models"] = {"budget_forecaster": None, "failure_predictor": None, "usage_trend_forecaster": None,
                     "cost_anomaly_detector": {"aliases": {"Champion": 2}}}  # fmt: skip
    return build("dev", raw, ROOT)


def test_the_audit_reads_unity_catalog_with_these_requests_and_nothing_else(workspace: Workspace) -> None:
    spec = _dev_with_one_model()

    snapshot = read_uc(spec)

    mlmodel = [
        ("GET", f"{UC}/registered-models:is-databricks-sdk-models-artifact-repository-enabled"),
        ("POST", f"{UC}/model-versions/generate-temporary-credentials"),
        ("GET", f"/api/2.0/fs/directories{PATH}/{{v}}/MLmodel"),
        ("GET", f"/api/2.0/fs/directories{PATH}/{{v}}/"),
        ("POST", "/api/2.0/fs/create-download-url"),
        ("GET", "/presigned/{v}/MLmodel"),
    ]
    assert workspace.calls() == [
        ("GET", f"{UC}/registered-models/get"),
        ("GET", f"{UC}/model-versions/search"),
        ("GET", f"{UC}/model-versions/get"),
        ("GET", f"{UC}/model-versions/get"),
        *[(m, p.format(v="1")) for m, p in mlmodel],
        *[(m, p.format(v="2")) for m, p in mlmodel],
        ("GET", "/api/2.0/mlflow/runs/get"),  # the pinned version's run, for its datasets
        ("GET", "/api/2.1/unity-catalog/effective-permissions/schema/dev_catalog.gold_features"),
        ("GET", f"/api/2.1/unity-catalog/effective-permissions/function/{MODEL}"),
    ]
    writes = [r for r in workspace.requests if r.method != "GET"]
    # The only POSTs ask for read credentials and a download URL, for READ_MODEL_VERSION: nothing changes.
    assert [r.body for r in writes] == [
        {"name": MODEL, "version": "1", "operation": "MODEL_VERSION_OPERATION_READ"},
        {"path": f"{PATH}/1/MLmodel"},
        {"name": MODEL, "version": "2", "operation": "MODEL_VERSION_OPERATION_READ"},
        {"path": f"{PATH}/2/MLmodel"},
    ]
    api = [r for r in workspace.requests if r.path.startswith("/api/")]
    assert {r.authorization for r in api} == {f"Bearer {TOKEN}"}
    versions = [r.query for r in workspace.requests if r.path == f"{UC}/model-versions/get"]
    # In the search's order; then the MLmodel files oldest first.
    assert versions == [{"name": [MODEL], "version": ["2"]}, {"name": [MODEL], "version": ["1"]}]
    assert [r.query for r in workspace.requests if r.path == "/api/2.0/mlflow/runs/get"] == [
        {"run_id": [RUN], "run_uuid": [RUN]}
    ]
    [model] = snapshot.models
    assert [v.version for v in model.versions] == ["1", "2"]
    assert snapshot.target == "databricks" and snapshot.registry.startswith("databricks-uc (")


def test_the_checklist_on_unity_catalog(workspace: Workspace) -> None:
    spec = _dev_with_one_model()

    report = evaluate(spec, read_uc(spec), Options())

    [model] = report.models
    by = {(c.item, c.version): c for c in model.checks}
    assert {k: c.status for k, c in by.items()} == two_version_statuses("fail")
    assert by[("create-model", None)].evidence == (
        "on schema dev_catalog.gold_features: dev-ml-engineers (role ml_engineers): CREATE_MODEL"
    )
    assert by[("use-model-dashboards", None)].evidence == (
        f"on model {MODEL}: dev-bi-dashboards (role dashboards): EXECUTE via inherited from schema "
        "dev_catalog.gold_features (USE MODEL is EXECUTE on Unity Catalog)"
    )
    assert by[("production-alias", None)].severity == "advisory"  # dev is not a production environment
    assert by[("signature", "1")].evidence == "inputs: daily_dbu double; outputs: anomaly_score double"
    [row] = model.lineage
    assert (row.version, row.aliases, row.run_id) == ("2", ("Champion",), RUN)
    assert row.datasets == ("cost_features@a1b2c3 [training] (delta_table: cat.s.t)",)
    assert "| Champion | 2 |" in to_markdown(report)
    assert report.exit_code == 1

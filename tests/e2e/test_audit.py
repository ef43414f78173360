"""`make audit STACK=local`, after a real `pulumi up` on a trained server: every checklist item, per model.

The audit runs as `make audit` runs it (`python -m localdev.audit --stack local`), on the test's copy
of the project, whose stack points at the counting proxy: so the test also sees that an audit only
reads. The same `up` exports `latestVersions` and `lineage`, and examples/score.py scores its batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.audit.checklist import ITEMS
from tests.conftest import ROOT
from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e

MODELS = ("cost_anomaly_detector", "budget_forecaster", "failure_predictor")
VERSIONS = {
    "cost_anomaly_detector": ["1", "2", "3"],
    "budget_forecaster": ["1", "2"],
    "failure_predictor": ["1", "2"],
}


def _audit(stack: LocalStack, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        **stack.registry.server.credentials_env,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "localdev.audit", "--stack", "local", "--project", str(stack.project),
         "--state", str(tmp_path / "audit-state")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_audit_after_up_reports_every_item_for_every_model(local_stack: LocalStack, tmp_path: Path) -> None:
    local_stack.up()
    local_stack.proxy.reset()

    proc = _audit(local_stack, tmp_path)

    assert proc.returncode == 0, proc.stdout + proc.stderr  # every mandatory item passes after `up`
    assert "Traceback" not in proc.stderr
    assert local_stack.proxy.writes() == []  # an audit only reads
    markdown = (tmp_path / "audit-state" / "audit-local.md").read_text()
    assert proc.stdout == markdown
    data = json.loads((tmp_path / "audit-state" / "audit-local.json").read_text())
    assert [m["name"] for m in data["models"]] == list(MODELS)
    for model in data["models"]:
        seen = {(c["item"], c["version"]): c["status"] for c in model["checks"]}
        expected = {
            (i.id, v) for i in ITEMS for v in (VERSIONS[model["name"]] if i.scope == "version" else [None])
        }
        assert set(seen) == expected, model["name"]
        not_passed = {k: s for k, s in seen.items() if s != "pass"}
        # No retention rule in the local stack; failure_predictor pins no Production (advisory here).
        assert not_passed == (
            {("old-versions-archived", None): "skip"}
            | ({("production-alias", None): "fail"} if model["name"] == "failure_predictor" else {})
        ), model["name"]
        for c in model["checks"]:
            assert c["evidence"], (model["name"], c)
    cad = "local_catalog.gold_features.cost_anomaly_detector"
    assert f"## `{cad}`" in markdown
    assert (
        "| Registration | Version has an input example | 3 | ✅ pass | saved as input_example.json"
        in markdown
    )
    assert "| Permissions | CREATE MODEL granted to ML team |  | ✅ pass | on model " + cad in markdown
    lineage = data["models"][0]["lineage"]
    assert [(r["version"], r["aliases"]) for r in lineage] == [("2", ["Champion", "Production"])]
    assert lineage[0]["runId"] and lineage[0]["source"].startswith("models:/m-")

    outputs = local_stack.outputs()
    assert outputs["latestVersions"]["cost_anomaly_detector"] == {"version": "3", "uri": f"models:/{cad}/3"}
    assert outputs["lineage"]["cost_anomaly_detector"] == {
        "2": {"runId": lineage[0]["runId"], "source": lineage[0]["source"]}
    }
    assert set(outputs["latestVersions"]) == set(MODELS)
    assert set(outputs["lineage"]) == {"cost_anomaly_detector", "budget_forecaster"}  # the pinned ones

    # The demo scores a batch drawn from the training generator: a few days flagged, not 9 of 10.
    summary = _score_demo(local_stack)
    flagged = int(summary.split()[1])
    assert summary.startswith(f"flagged {flagged} of 10 days as anomalies (") and flagged <= 3, summary
    assert summary.endswith("the version was trained to flag about 8% of days (contamination 0.08)")


def test_audit_of_a_registry_that_is_down_is_one_message(local_stack: LocalStack, tmp_path: Path) -> None:
    local_stack.registry.stop()
    proc = _audit(local_stack, tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("audit of stack 'local' cannot run: the MLflow server at ")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def _score_demo(stack: LocalStack) -> str:
    """examples/score.py's summary line, after `up`."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        **stack.registry.server.credentials_env,
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "score.py"), "--tracking-uri", stack.registry.url],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [summary] = [x for x in proc.stdout.splitlines() if x.startswith("flagged ")]
    return summary

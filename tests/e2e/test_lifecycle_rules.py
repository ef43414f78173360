"""Retention and promotion gates under the real engine, on the local stack.

Like test_lifecycle.py, each test runs the `local` stack in a project copy against its own MLflow
server (holding the demo's trained versions, whose runs log `val_f1` / `val_rmse`), behind a counting
proxy. The provider's clock is `MRGOV_NOW` in the CLI's environment: the engine starts the provider
with it, so versions become old without waiting.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlflow import MlflowClient

from tests.e2e.conftest import LocalStack
from tests.e2e.test_lifecycle import BF, CAD, FP, edit_stack_file

pytestmark = pytest.mark.e2e

CAD_METADATA = "registry-mlflow-cost_anomaly_detector-metadata"


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def register_like(client: MlflowClient, model: str, like: str, **metrics: float) -> str:
    """A new version of `model` from version `like`'s logged model, with a run logging `metrics`."""
    base = client.get_model_version(model, like)
    experiment = client.get_experiment_by_name("/mrgov-demo")
    assert experiment is not None
    run = client.create_run(experiment.experiment_id)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    # The source is the logged model's `models:/<model id>`, which MLflow wants named as `model_id` too.
    model_id = base.model_id or str(base.source).removeprefix("models:/")
    version = client.create_model_version(
        model, source=base.source, run_id=run.info.run_id, model_id=model_id, await_creation_for=0
    )
    return str(version.version)


def version_tags(client: MlflowClient, model: str, version: str) -> dict[str, str]:
    tags = client.get_model_version(model, version).tags
    return {k: v for k, v in tags.items() if not k.startswith("mlflow.")}


def archived_versions(step: dict[str, Any]) -> set[str]:
    """The versions whose archive tags a preview step adds (`versionTags["3"]` or `...["archived"]`)."""
    found = set()
    for key, diff in (step.get("detailedDiff") or {}).items():
        m = re.fullmatch(r'versionTags\["(\d+)"\](\["archived"\])?', key)
        if m and diff["kind"] == "add":
            found.add(m.group(1))
    return found


def test_retention_archives_exactly_what_preview_lists_and_a_pin_unarchives(local_stack: LocalStack) -> None:
    local_stack.up()
    client = local_stack.registry.client()
    # cost_anomaly_detector: 1, 2, 3 trained (Production and Champion on 2), 4 to 6 registered now.
    new = [register_like(client, CAD, "3", val_f1=0.7) for _ in range(3)]
    assert new == ["4", "5", "6"]
    client.set_registered_model_alias(CAD, "Challenger", "4")  # a training job's alias
    local_stack.proxy.reset()
    local_stack.cli.run("preview")
    before = len(local_stack.proxy.requests)

    # Two months from now every version is old; retention on every model, keeping the newest two.
    now = datetime.now(UTC) + timedelta(days=60)
    local_stack.cli.env["MRGOV_NOW"] = now.isoformat()
    edit_stack_file(
        local_stack, lambda c: c["mrgov:modelDefaults"].update(archive={"afterDays": 30, "keepLatest": 2})
    )
    local_stack.proxy.reset()
    steps = {s["urn"].rsplit("::", 1)[-1]: s for s in local_stack.preview_steps("--diff")}
    with_retention = len(local_stack.proxy.requests)
    print(f"preview: {before} requests without retention, {with_retention} with it on 3 models")
    assert local_stack.proxy.writes() == []
    # 2 is pinned, 4 is the Challenger's, 5 and 6 the newest: exactly 1 and 3. The other models have
    # two versions each, their newest two.
    assert archived_versions(steps[CAD_METADATA]) == {"1", "3"}
    assert archived_versions(steps["registry-mlflow-budget_forecaster-metadata"]) == set()
    assert archived_versions(steps["registry-mlflow-failure_predictor-metadata"]) == set()

    local_stack.up()
    date = now.date().isoformat()
    held = {v: version_tags(client, CAD, v) for v in ["1", "2", "3", "4", "5", "6"]}
    assert held == {
        "1": {"archived": "true", "archived_at": date},
        "2": {},
        "3": {"archived": "true", "archived_at": date},
        "4": {},
        "5": {},
        "6": {},
    }
    for model in (BF, FP):
        assert all(
            not version_tags(client, model, v.version)
            for v in client.search_model_versions(f"name='{model}'")
        )

    # A day later, the same set and the same dates: nothing to do, nothing written.
    local_stack.cli.env["MRGOV_NOW"] = (now + timedelta(days=1)).isoformat()
    local_stack.proxy.reset()
    again = local_stack.up()
    assert re.search(r"\b\d+ unchanged", again.stdout), again.stdout
    assert local_stack.proxy.writes() == []

    # Pinning Champion to archived version 1 unarchives it in the same up.
    local_stack.set("mrgov:models.cost_anomaly_detector.aliases.Champion", "1")
    step = next(s for s in local_stack.preview_steps("--diff") if s["urn"].endswith(f"::{CAD_METADATA}"))
    assert {k: d["kind"] for k, d in step["detailedDiff"].items()} == {
        'aliases["Champion"]': "update",
        'versionTags["1"]': "delete",
    }
    local_stack.up()
    assert client.get_model_version_by_alias(CAD, "Champion").version == "1"
    assert version_tags(client, CAD, "1") == {}
    assert version_tags(client, CAD, "3") == {"archived": "true", "archived_at": date}


def test_gates_refuse_a_worse_version_pass_a_better_one_and_an_override_is_recorded(
    local_stack: LocalStack,
) -> None:
    local_stack.up()
    client = local_stack.registry.client()
    production = client.get_model_version_by_alias(CAD, "Production")
    current_f1 = client.get_run(production.run_id).data.metrics["val_f1"]  # the trained version 2's
    worse = register_like(client, CAD, "2", val_f1=round(current_f1 - 0.2, 4))
    local_stack.set("mrgov:models.cost_anomaly_detector.aliases.Production", worse)
    local_stack.proxy.reset()

    # A failing gate fails the preview (and the up) with the comparison table; the alias stays.
    for out in local_stack.refused():
        assert CAD_METADATA in out and "aliases.Production" in out
        assert f"cannot point alias 'Production' at version {worse}: its promotion gate failed" in out
        assert "val_f1, higher is better, against the current version: FAILED" in out
        assert re.search(rf"Version 2 \(current\)\s+Version {worse} \(new\)\s+Threshold", out), out
        assert f"{current_f1:.4f}" in out and f"{current_f1 - 0.2:.4f}" in out
    assert local_stack.proxy.writes() == []
    assert client.get_model_version_by_alias(CAD, "Production").version == "2"

    # A passing gate moves the alias, and the preview shows its table.
    better = register_like(client, CAD, "2", val_f1=0.99)
    local_stack.set("mrgov:models.cost_anomaly_detector.aliases.Production", better)
    preview = output(local_stack.cli.run("preview"))
    assert "val_f1, higher is better, against the current version: PASSED" in preview, preview
    assert re.search(rf"val_f1\s+{current_f1:.4f}\s+0\.9900", preview), preview
    local_stack.up()
    assert client.get_model_version_by_alias(CAD, "Production").version == better

    # Break glass: back to the worse version, with a reason; the version records it and who did it.
    edit_stack_file(
        local_stack,
        lambda c: c["mrgov:models"]["cost_anomaly_detector"].update(
            aliases={"Production": int(worse), "Champion": 2},
            overrides={"Production": {"reason": "INC-123: rollback"}},
        ),
    )
    up = output(local_stack.up())
    assert "FAILED, OVERRIDDEN (INC-123: rollback)" in up, up
    assert client.get_model_version_by_alias(CAD, "Production").version == worse
    record = {"promotion_override_reason": "INC-123: rollback", "promotion_override_by": "admin"}
    assert version_tags(client, CAD, worse) == record
    # Removing the override leaves the record.
    edit_stack_file(local_stack, lambda c: c["mrgov:models"]["cost_anomaly_detector"].pop("overrides"))
    local_stack.up()
    assert version_tags(client, CAD, worse) == record
    assert client.get_model_version_by_alias(CAD, "Production").version == worse

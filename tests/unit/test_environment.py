"""The Environment component under mocks: the local stack's MLflow resource graph, inputs and options."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from components.environment import Environment, EnvironmentArgs, mlflow_grants
from components.spec import StackSpec, build, load_stack_file
from components.validate import ROOT
from tests.unit.conftest import MockRun

MODEL_TYPE = "pulumi-python:dynamic/mrgov:RegisteredModel"
URI = "http://127.0.0.1:5000"


def spec_of(edit: Callable[[dict[str, Any]], None] | None = None) -> StackSpec:
    raw = copy.deepcopy(load_stack_file(ROOT, "local"))
    if edit is not None:
        edit(raw)
    return build("local", raw, ROOT)


def deploy(mock_program: Callable[..., MockRun], spec: StackSpec) -> MockRun:
    def program() -> dict[str, Any]:
        env = Environment("registry", EnvironmentArgs(spec=spec))
        return {"models": env.model_names, "alias_uris": env.alias_uris, "grants": env.grants}

    return mock_program(program, stack="local")


def test_local_stack_graph(mock_program: Callable[..., MockRun]) -> None:
    run = deploy(mock_program, spec_of())
    env = run.by_name("registry")
    assert env.type == "mrgov:index:Environment"
    assert run.by_name("registry-mlflow").parent == env.urn
    models = run.of_type(MODEL_TYPE)
    assert sorted(m.name for m in models) == [
        "registry-mlflow-budget_forecaster",
        "registry-mlflow-cost_anomaly_detector",
        "registry-mlflow-failure_predictor",
    ]
    cad = run.by_name("registry-mlflow-cost_anomaly_detector")
    assert cad.inputs["name"] == "local_catalog.gold_features.cost_anomaly_detector"
    assert cad.inputs["registry_uri"] == URI
    assert cad.inputs["initial_tags"] == {
        "algorithm": "isolation_forest",
        "domain": "cost",
        "model_type": "anomaly_detection",
    }
    children = sorted(r.name for r in run.registrations if r.parent == cad.urn)
    assert children == [
        "registry-mlflow-cost_anomaly_detector-alias-Champion",
        "registry-mlflow-cost_anomaly_detector-alias-Production",
        "registry-mlflow-cost_anomaly_detector-grant-dashboards",
        "registry-mlflow-cost_anomaly_detector-grant-inference_jobs",
        "registry-mlflow-cost_anomaly_detector-grant-ml_engineers",
        "registry-mlflow-cost_anomaly_detector-tags",
        "registry-mlflow-cost_anomaly_detector-v1-description",
        "registry-mlflow-cost_anomaly_detector-v2-description",
        "registry-mlflow-cost_anomaly_detector-v3-description",
    ]
    production = run.by_name("registry-mlflow-cost_anomaly_detector-alias-Production")
    assert {k: production.inputs[k] for k in ("model", "alias", "version")} == {
        "model": "local_catalog.gold_features.cost_anomaly_detector",
        "alias": "Production",
        "version": "2",
    }
    assert run.constructed_before_wait == len(run.registrations)  # nothing created inside an apply


def test_a_retained_model_keeps_its_aliases_tags_and_grants(mock_program: Callable[..., MockRun]) -> None:
    def drop_retention(raw: dict[str, Any]) -> None:
        raw["models"]["failure_predictor"] = {"retainOnDelete": False}

    run = deploy(mock_program, spec_of(drop_retention))
    for model, retained in (("cost_anomaly_detector", True), ("failure_predictor", False)):
        parent = run.by_name(f"registry-mlflow-{model}")
        # The model's own provider honours retain_on_delete (it also refuses to delete versions).
        assert parent.inputs["retain_on_delete"] is retained
        kids = [r for r in run.registrations if r.parent == parent.urn]
        assert kids and all(k.retain_on_delete is retained for k in kids), model


def test_outputs_name_models_aliases_and_grants(mock_program: Callable[..., MockRun]) -> None:
    spec = spec_of()
    run = deploy(mock_program, spec)
    assert run.outputs["models"]["budget_forecaster"] == "local_catalog.gold_features.budget_forecaster"
    assert run.outputs["alias_uris"]["cost_anomaly_detector"] == {
        "Champion": "models:/local_catalog.gold_features.cost_anomaly_detector@Champion",
        "Production": "models:/local_catalog.gold_features.cost_anomaly_detector@Production",
    }
    assert run.outputs["grants"] == mlflow_grants(spec)
    assert run.outputs["grants"]["local_catalog.gold_features.failure_predictor"] == {
        "EDIT": ["ml_engineers"],
        "READ": ["dashboards", "inference_jobs"],
    }


def test_adopt_in_a_databricks_stack_imports_that_model(mock_program: Callable[..., MockRun]) -> None:
    raw = copy.deepcopy(load_stack_file(ROOT, "dev"))
    raw["models"]["budget_forecaster"] = {"adopt": True}
    spec = build("dev", raw, ROOT)
    assert [m.name for m in spec.models if m.adopt] == ["budget_forecaster"]

    def program() -> dict[str, Any]:
        Environment("registry", EnvironmentArgs(spec=spec))
        return {}

    run = mock_program(program, stack="dev")
    models = run.of_type("databricks:index/registeredModel:RegisteredModel")
    imported = {m.inputs["name"]: m.import_id for m in models}
    assert imported == {
        "budget_forecaster": "dev_catalog.gold_features.budget_forecaster",
        "cost_anomaly_detector": "",
        "failure_predictor": "",
        "usage_trend_forecaster": "",
    }

"""The Environment component under mocks: the local stack's MLflow resource graph, inputs and options."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest
from pulumi.runtime import config as runtime_config
from pulumi.runtime import rpc

from components.environment import Environment, EnvironmentArgs, export_outputs, mlflow_grants
from components.spec import StackSpec, build, load_stack_file, mlflow_password
from components.validate import ROOT
from provider import VERSION
from tests.unit.conftest import (
    MRGOV_METADATA,
    MRGOV_MODEL,
    MRGOV_PERMISSIONS,
    MRGOV_PROVIDER,
    MRGOV_ROLE,
    MRGOV_TYPES,
    EchoMocks,
    MockRun,
    Registration,
)
from tests.unit.example_model import cad_metadata

URI = "http://127.0.0.1:5000"
CAD = "local_catalog.gold_features.cost_anomaly_detector"
ROLES = {"ml_engineers": "EDIT", "dashboards": "READ", "inference_jobs": "READ"}


def spec_of(edit: Callable[[dict[str, Any]], None] | None = None) -> StackSpec:
    raw = copy.deepcopy(load_stack_file(ROOT, "local"))
    if edit is not None:
        edit(raw)
    return build("local", raw, ROOT)


def deploy(
    mock_program: Callable[..., MockRun], spec: StackSpec, *, mocks: EchoMocks | None = None
) -> MockRun:
    def program() -> dict[str, Any]:
        env = Environment("registry", EnvironmentArgs(spec=spec, mlflow_password=mlflow_password(spec)))
        return {
            "models": env.outputs.model_names,
            "alias_uris": env.outputs.alias_uris,
            "grants": env.outputs.grants,
            "unmanaged_aliases": env.outputs.unmanaged_aliases,
            "adopted_models": env.outputs.adopted_models,
        }

    return mock_program(program, stack="local", mocks=mocks)


def test_local_stack_graph(mock_program: Callable[..., MockRun]) -> None:
    run = deploy(mock_program, spec_of())
    env = run.by_name("registry")
    assert env.type == "mrgov:index:Environment"
    assert run.by_name("registry-mlflow").parent == env.urn
    provider = run.by_name("registry-mlflow-provider")
    assert (provider.type, provider.parent_name) == (MRGOV_PROVIDER, "registry-mlflow")
    assert not provider.protect
    models = run.of_type(MRGOV_MODEL)
    assert sorted(m.name for m in models) == [
        "registry-mlflow-budget_forecaster",
        "registry-mlflow-cost_anomaly_detector",
        "registry-mlflow-failure_predictor",
    ]
    cad = run.by_name("registry-mlflow-cost_anomaly_detector")
    assert cad.inputs == {
        "name": CAD,
        "description": spec_of().model_by_name("cost_anomaly_detector").description,
        "initialTags": {"algorithm": "isolation_forest", "domain": "cost", "model_type": "anomaly_detection"},
        "retainOnDelete": True,
    }
    assert cad.parent_name == "registry-mlflow"
    children = sorted(r.name for r in run.registrations if r.parent == cad.urn)
    assert children == [
        "registry-mlflow-cost_anomaly_detector-metadata",
        "registry-mlflow-cost_anomaly_detector-permissions",
    ]
    metadata = run.by_name("registry-mlflow-cost_anomaly_detector-metadata")
    assert metadata.type == MRGOV_METADATA
    assert metadata.inputs == cad_metadata(CAD, {"Champion": "2", "Production": "2"})
    # Deleting a model deletes what is on it; grants are held by roles and users, so they are revoked.
    assert metadata.deleted_with == cad.urn and cad.urn in metadata.dependencies
    permissions = run.by_name("registry-mlflow-cost_anomaly_detector-permissions")
    assert permissions.type == MRGOV_PERMISSIONS
    assert permissions.inputs == {"model": CAD, "users": {}, "roles": ROLES, "workspace": "default"}
    assert permissions.deleted_with == ""
    # The roles exist before their grants are made.
    roles = {r.inputs["name"]: r for r in run.of_type(MRGOV_ROLE)}
    assert sorted(roles) == sorted(ROLES)
    assert {r.name for r in roles.values()} == {f"registry-mlflow-role-{g}" for g in ROLES}
    assert roles["ml_engineers"].inputs == {
        "name": "ml_engineers",
        "description": "Train, register and version models.",
        "workspace": "default",
    }
    assert {r.urn for r in roles.values()} | {cad.urn} <= set(permissions.dependencies)
    # Every mrgov resource goes through the stack's explicit provider; none names the server itself.
    mrgov = [r for r in run.registrations if r.type in MRGOV_TYPES]
    assert len(mrgov) == 3 + 3 * 3
    assert {r.provider_urn for r in mrgov} == {provider.urn}
    assert all(not {"trackingUri", "registryUri"} & set(r.inputs) for r in mrgov)
    assert run.constructed_before_wait == len(run.registrations)  # nothing created inside an apply


def test_a_retained_model_keeps_its_aliases_tags_and_grants(mock_program: Callable[..., MockRun]) -> None:
    def drop_retention(raw: dict[str, Any]) -> None:
        raw["models"]["failure_predictor"] = {"retainOnDelete": False}

    run = deploy(mock_program, spec_of(drop_retention))
    for model, retained in (("cost_anomaly_detector", True), ("failure_predictor", False)):
        parent = run.by_name(f"registry-mlflow-{model}")
        # The engine leaves a retained model without asking the provider (the option); the provider
        # honours the input too, for a stack that declares the resource itself.
        assert (parent.retain_on_delete, parent.inputs["retainOnDelete"]) == (retained, retained)
        kids = [r for r in run.registrations if r.parent == parent.urn]
        assert sorted(k.type for k in kids) == [MRGOV_PERMISSIONS, MRGOV_METADATA], model
        assert all(k.retain_on_delete is retained for k in kids), model


# ------------------------------------------------------------------------------------------------------
# The explicit mrgov provider: what it is given, per target
# ------------------------------------------------------------------------------------------------------
@pytest.fixture
def mlflow_password_config() -> Iterator[str]:
    """The stack's secret config holds the MLflow password (`pulumi config set --secret`)."""
    password = "s3cret-unit-test-password"
    runtime_config.set_all_config({"mrgov:mlflowPassword": password}, ["mrgov:mlflowPassword"])
    try:
        yield password
    finally:
        runtime_config.set_all_config({}, [])


def test_mlflow_provider_gets_the_server_and_no_credential(
    monkeypatch: pytest.MonkeyPatch, mock_program: Callable[..., MockRun]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "env-user")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "env-password-never-sent")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "env-token-never-sent")
    run = deploy(mock_program, spec_of())
    (provider,) = run.of_type(MRGOV_PROVIDER)
    # The provider process reads the credentials from the environment at call time.
    assert provider.inputs == {"trackingUri": URI}
    everything = repr([r.inputs for r in run.registrations])
    assert "env-password-never-sent" not in everything and "env-token-never-sent" not in everything


def test_mlflow_provider_gets_the_named_secret_as_a_secret(
    mlflow_password_config: str, mock_program: Callable[..., MockRun]
) -> None:
    def with_secret(raw: dict[str, Any]) -> None:
        raw["target"] = {
            "kind": "mlflow",
            "trackingUri": f"{URI}/",
            "username": "deployer",
            "passwordSecret": "mrgov:mlflowPassword",
        }

    run = deploy(mock_program, spec_of(with_secret))
    (provider,) = run.of_type(MRGOV_PROVIDER)
    assert set(provider.inputs) == {"trackingUri", "username", "password"}
    assert (provider.inputs["trackingUri"], provider.inputs["username"]) == (URI, "deployer")
    password = provider.inputs["password"]
    assert rpc.is_rpc_secret(password) and rpc.unwrap_rpc_secret(password) == mlflow_password_config
    others = [r.inputs for r in run.registrations if r is not provider]
    assert mlflow_password_config not in repr(others)


def test_databricks_mrgov_provider_gets_the_registry_and_no_credential(
    monkeypatch: pytest.MonkeyPatch, mock_program: Callable[..., MockRun]
) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-never-sent")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "env-password-never-sent")
    spec = build("dev", load_stack_file(ROOT, "dev"), ROOT)
    run = mock_program(lambda: Environment("registry", EnvironmentArgs(spec=spec)) and None, stack="dev")
    (provider,) = run.of_type(MRGOV_PROVIDER)
    assert provider.name == "registry-databricks-mrgov"
    assert provider.inputs == {"registryUri": "databricks-uc"}
    assert "dapi-never-sent" not in repr([r.inputs for r in run.registrations])
    # Unity Catalog: models, grants and groups are pulumi-databricks'; mrgov holds the metadata only.
    assert {r.type for r in run.registrations if r.type in MRGOV_TYPES} == {MRGOV_METADATA}
    assert {r.provider_urn for r in run.of_type(MRGOV_METADATA)} == {provider.urn}


def test_every_mrgov_registration_asks_for_the_version_this_project_ships(
    mock_program: Callable[..., MockRun],
) -> None:
    run = deploy(mock_program, spec_of())
    mrgov = [r for r in run.registrations if r.type in (MRGOV_PROVIDER, *MRGOV_TYPES)]
    assert mrgov and {r.version for r in mrgov} == {VERSION}


# ------------------------------------------------------------------------------------------------------
# Protection: a protected stack protects its models, never what is on them
# ------------------------------------------------------------------------------------------------------
def protected_local(raw: dict[str, Any]) -> None:
    raw["protect"] = True


def test_mlflow_children_are_never_protected_even_when_the_stack_protects(
    mock_program: Callable[..., MockRun],
) -> None:
    run = deploy(mock_program, spec_of(protected_local))
    models = run.of_type(MRGOV_MODEL)
    assert {r.name for r in run.registrations if r.protect} == {m.name for m in models}
    kids = [r for r in run.registrations if r.parent in {m.urn for m in models}]
    assert sorted({k.type for k in kids}) == [MRGOV_PERMISSIONS, MRGOV_METADATA]
    assert len(kids) == 2 * len(models)
    assert not any(k.protect for k in kids)


def _protected_alias_change(
    mock_program: Callable[..., MockRun], change: Callable[[dict[str, Any]], None]
) -> tuple[dict[str, Registration], dict[str, Registration], str]:
    """The protected local stack's resources by URN before and after `change` to its raw config,
    and the URN of the one resource whose inputs change: cost_anomaly_detector's metadata."""

    def changed_stack(raw: dict[str, Any]) -> None:
        protected_local(raw)
        change(raw)

    before = {r.urn: r for r in deploy(mock_program, spec_of(protected_local)).registrations}
    after = {r.urn: r for r in deploy(mock_program, spec_of(changed_stack)).registrations}
    # Nothing leaves the stack (no protected resource would have to be deleted) ...
    assert before.keys() == after.keys()
    changed = [urn for urn in before if before[urn].inputs != after[urn].inputs]
    assert [after[urn].name for urn in changed] == ["registry-mlflow-cost_anomaly_detector-metadata"]
    (urn,) = changed
    return before, after, urn


def test_a_protected_stack_can_still_move_an_alias(mock_program: Callable[..., MockRun]) -> None:
    def move_champion(raw: dict[str, Any]) -> None:
        raw["models"]["cost_anomaly_detector"]["aliases"]["Champion"] = 3

    before, after, urn = _protected_alias_change(mock_program, move_champion)
    assert (before[urn].inputs["aliases"], after[urn].inputs["aliases"]) == (
        {"Champion": "2", "Production": "2"},
        {"Champion": "3", "Production": "2"},
    )
    # The resource that changes is an unprotected update, so `pulumi up` may apply it.
    assert not after[urn].protect
    assert {(r.protect, r.parent, r.dependencies) for r in before.values()} == {
        (r.protect, r.parent, r.dependencies) for r in after.values()
    }


def test_a_protected_stacks_model_children_opt_out_of_the_models_protection(
    mock_program: Callable[..., MockRun],
) -> None:
    run = deploy(mock_program, spec_of(protected_local))
    for model in run.of_type(MRGOV_MODEL):
        assert model.protect, model.name
        metadata = run.by_name(f"{model.name}-metadata")
        permissions = run.by_name(f"{model.name}-permissions")
        # Pulumi gives a child its parent's `protect` unless the child says otherwise: each says False.
        assert (metadata.parent, metadata.protect) == (model.urn, False)
        assert (permissions.parent, permissions.protect) == (model.urn, False)
        # The metadata (aliases, tags) goes with the model; grants are revoked one by one.
        assert (metadata.deleted_with, permissions.deleted_with) == (model.urn, "")
        assert model.urn in metadata.dependencies and model.urn in permissions.dependencies


def test_a_protected_stack_can_still_remove_an_alias(mock_program: Callable[..., MockRun]) -> None:
    def drop_champion(raw: dict[str, Any]) -> None:
        del raw["models"]["cost_anomaly_detector"]["aliases"]["Champion"]

    before, after, urn = _protected_alias_change(mock_program, drop_champion)
    # ... and the alias goes by an update of the unprotected metadata, which drops it from the model.
    assert (before[urn].inputs["aliases"], after[urn].inputs["aliases"]) == (
        {"Champion": "2", "Production": "2"},
        {"Production": "2"},
    )
    assert not after[urn].protect


# ------------------------------------------------------------------------------------------------------
# Outputs
# ------------------------------------------------------------------------------------------------------
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
    # A fresh registry: nothing adopted, no alias set by anyone else.
    assert (run.outputs["adopted_models"], run.outputs["unmanaged_aliases"]) == ([], {})


def test_unmanaged_aliases_are_what_each_models_metadata_reports(
    mock_program: Callable[..., MockRun],
) -> None:
    held = {
        CAD: {"Champion": 1, "Production": 2, "Challenger": 3},
        "local_catalog.gold_features.failure_predictor": {"shadow": 1},
    }
    run = deploy(mock_program, spec_of(), mocks=EchoMocks(registry_aliases=held))
    # The declared pins are managed, so never listed, wherever the registry points them now.
    assert run.outputs["unmanaged_aliases"] == {
        "cost_anomaly_detector": {"Challenger": "3"},
        "failure_predictor": {"shadow": "1"},
    }


def test_adopted_models_lists_the_models_that_existed_before_the_stack(
    monkeypatch: pytest.MonkeyPatch, mock_program: Callable[..., MockRun]
) -> None:
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))
    spec = spec_of()
    existing = [f"local_catalog.gold_features.{m}" for m in ("failure_predictor", "budget_forecaster")]

    def program() -> dict[str, Any]:
        export_outputs(spec, Environment("registry", EnvironmentArgs(spec=spec)))
        return dict(exported)

    run = mock_program(program, stack="local", mocks=EchoMocks(existing_models=existing))
    # Sorted short names, from each RegisteredModel's `adopted` output (the training pipeline's models).
    assert run.outputs["adoptedModels"] == ["budget_forecaster", "failure_predictor"]
    assert set(run.outputs) == {
        "target", "catalog", "models", "aliasUris", "grants", "unmanagedAliases", "adoptedModels",
        "latestVersions", "lineage",
    }  # fmt: skip


def test_adopt_in_a_databricks_stack_imports_that_model(mock_program: Callable[..., MockRun]) -> None:
    raw = copy.deepcopy(load_stack_file(ROOT, "dev"))
    raw["models"]["budget_forecaster"] = {"adopt": True}
    spec = build("dev", raw, ROOT)
    assert [m.name for m in spec.models if m.adopt] == ["budget_forecaster"]

    def program() -> dict[str, Any]:
        return {"adopted_models": Environment("registry", EnvironmentArgs(spec=spec)).outputs.adopted_models}

    run = mock_program(program, stack="dev")
    models = run.of_type("databricks:index/registeredModel:RegisteredModel")
    imported = {m.inputs["name"]: m.import_id for m in models}
    assert imported == {
        "budget_forecaster": "dev_catalog.gold_features.budget_forecaster",
        "cost_anomaly_detector": "",
        "failure_predictor": "",
        "usage_trend_forecaster": "",
    }
    # On Databricks the models to adopt are the ones the stack imports.
    assert run.outputs["adopted_models"] == ["budget_forecaster"]

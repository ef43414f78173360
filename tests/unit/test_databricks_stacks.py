"""The dev, staging and prod stacks on the Databricks target, under Pulumi mocks.

Each stack is built from the real stack files (registry.yaml + Pulumi.<stack>.yaml, through the spec's
pure builder) and handed to DatabricksRegistry. The recording monitor in conftest.py keeps what the
engine would be asked: type, logical name, parent, exact inputs and resource options.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.databricks.registry import DatabricksRegistry, DatabricksRegistryArgs
from components.spec import StackSpec, build, load_stack_file
from tests.unit.conftest import (
    MRGOV_METADATA,
    MRGOV_PROVIDER,
    MRGOV_TYPES,
    EchoMocks,
    MockRun,
    Registration,
)
from tests.unit.example_model import cad_metadata

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")

REGISTRY = "mrgov:databricks:DatabricksRegistry"
CATALOG_C = "mrgov:databricks:Catalog"
SCHEMA_C = "mrgov:databricks:Schema"
MODEL_C = "mrgov:databricks:RegisteredModel"
PROVIDER = "pulumi:providers:databricks"
CATALOG = "databricks:index/catalog:Catalog"
SCHEMA = "databricks:index/schema:Schema"
MODEL = "databricks:index/registeredModel:RegisteredModel"
GRANTS = "databricks:index/grants:Grants"
METADATA = MRGOV_METADATA

DEPLOYER = {
    "dev": "3f0c2a55-8b1e-4d6a-9c2f-1a7e5b9d0c11",
    "staging": "8d2b6e14-3a7c-4f90-b5e1-c4a9f0d27e36",
    "prod": "e91f4c07-5d2a-4b83-8f6e-2a0d9c4b7f58",
}
PROD_INFERENCE = "a4d8e2c6-1f9b-4e35-8c7a-6b0e3d5f9a13"


# registry.yaml's promotion gate of budget_forecaster's Production, as the provider receives it.
BF_GATE = {
    "metric": "val_rmse", "higherIsBetter": False, "against": "current", "minDelta": 0.0, "max": 900.0
}  # fmt: skip


def spec_of(stack: str, edit: Callable[[dict[str, Any]], None] | None = None) -> StackSpec:
    """The stack's resolved spec from the files on disk, optionally after editing its raw config."""
    raw = copy.deepcopy(load_stack_file(ROOT, stack))
    if edit is not None:
        edit(raw)
    return build(stack, raw, ROOT)


def deploy(
    mock_program: Callable[..., MockRun],
    spec: StackSpec,
    *,
    preview: bool = False,
    mocks: EchoMocks | None = None,
    adopt_models: frozenset[str] = frozenset(),
) -> MockRun:
    def program() -> dict[str, Any]:
        registry = DatabricksRegistry("registry", DatabricksRegistryArgs(spec, adopt_models=adopt_models))
        return {
            "model_names": registry.model_names,
            "alias_uris": registry.alias_uris,
            "grants": registry.grants,
            "unmanaged_aliases": registry.unmanaged_aliases,
        }

    return mock_program(program, stack=spec.stack, preview=preview, mocks=mocks)


def inputs(reg: Registration) -> dict[str, Any]:
    """A resource's inputs, exactly as the engine would get them."""
    return dict(reg.inputs)


def mrgov_resources(run: MockRun) -> list[Registration]:
    """The resources the mrgov provider serves (on Unity Catalog: one ModelMetadata per model)."""
    return [r for r in run.registrations if r.type in MRGOV_TYPES]


def grants_of(run: MockRun, name: str) -> dict[str, list[str]]:
    return {g["principal"]: g["privileges"] for g in run.by_name(name).inputs["grants"]}


def expected_tree(spec: StackSpec) -> set[tuple[str, str, str]]:
    """(type, logical name, parent's logical name) of every resource the spec calls for."""
    tree = {
        (REGISTRY, "registry", f"mrgov-{spec.stack}"),
        (PROVIDER, "registry-provider", "registry"),
        (MRGOV_PROVIDER, "registry-mrgov", "registry"),
        (CATALOG_C, "registry-catalog", "registry"),
        (CATALOG, "registry-catalog-catalog", "registry-catalog"),
        (GRANTS, "registry-catalog-grants", "registry-catalog"),
    }
    for s in spec.schemas:
        comp = f"registry-schema-{s.name}"
        tree |= {
            (SCHEMA_C, comp, "registry"),
            (SCHEMA, f"{comp}-schema", comp),
            (GRANTS, f"{comp}-grants", comp),
        }
    for m in spec.models:
        comp = f"registry-model-{m.name}"
        model = f"{comp}-model"
        tree |= {(MODEL_C, comp, "registry"), (MODEL, model, comp), (GRANTS, f"{comp}-grants", model)}
        # Tags, alias pins and version descriptions: one ModelMetadata per model, whatever it declares.
        tree.add((METADATA, f"{comp}-metadata", model))
    return tree


@pytest.fixture(scope="module")
def specs() -> dict[str, StackSpec]:
    return {stack: spec_of(stack) for stack in STACKS}


# ------------------------------------------------------------------------------------------------------
# The resource graph
# ------------------------------------------------------------------------------------------------------
def test_prod_resource_tree_exactly(
    mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    run = deploy(mock_program, specs["prod"])
    cad, bf = "registry-model-cost_anomaly_detector", "registry-model-budget_forecaster"
    schema = "registry-schema-gold_features"
    assert {(r.type, r.name, r.parent_name) for r in run.registrations} == {
        (REGISTRY, "registry", "mrgov-prod"),
        (PROVIDER, "registry-provider", "registry"),
        (MRGOV_PROVIDER, "registry-mrgov", "registry"),
        (CATALOG_C, "registry-catalog", "registry"),
        (CATALOG, "registry-catalog-catalog", "registry-catalog"),
        (GRANTS, "registry-catalog-grants", "registry-catalog"),
        (SCHEMA_C, schema, "registry"),
        (SCHEMA, f"{schema}-schema", schema),
        (GRANTS, f"{schema}-grants", schema),
        (MODEL_C, cad, "registry"),
        (MODEL, f"{cad}-model", cad),
        (GRANTS, f"{cad}-grants", f"{cad}-model"),
        (METADATA, f"{cad}-metadata", f"{cad}-model"),
        (MODEL_C, bf, "registry"),
        (MODEL, f"{bf}-model", bf),
        (GRANTS, f"{bf}-grants", f"{bf}-model"),
        (METADATA, f"{bf}-metadata", f"{bf}-model"),
    }
    # Parents are the model resource itself, not the component that holds it.
    assert {r.parent_type for r in run.of_type(METADATA)} == {MODEL}
    assert len(run.registrations) == 17  # nothing registered twice


@pytest.mark.parametrize("stack", STACKS)
def test_resource_tree_follows_the_spec(
    stack: str, mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    run = deploy(mock_program, specs[stack])
    assert {(r.type, r.name, r.parent_name) for r in run.registrations} == expected_tree(specs[stack])
    assert len(run.registrations) == len(expected_tree(specs[stack]))


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_every_resource_is_registered_before_any_apply_runs(
    stack: str, preview: bool, mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    """The constructor registers everything synchronously: no resource waits for an output."""
    run = deploy(mock_program, specs[stack], preview=preview)
    assert run.constructed_before_wait == len(run.registrations) == len(expected_tree(specs[stack]))


def test_the_apply_check_can_fail(mock_program: Callable[..., MockRun]) -> None:
    """Control for the test above: a resource created inside an apply is caught by the count."""

    def program() -> None:
        parent = pulumi.ComponentResource("mrgov:test:Parent", "parent")
        pulumi.Output.from_input("x").apply(
            lambda _: pulumi.ComponentResource(
                "mrgov:test:Late", "late", opts=pulumi.ResourceOptions(parent=parent)
            )
        )

    run = mock_program(program)
    assert run.constructed_before_wait == 1
    assert len(run.registrations) == 2


# ------------------------------------------------------------------------------------------------------
# Exact inputs
# ------------------------------------------------------------------------------------------------------
def test_prod_catalog_and_schema_inputs(
    mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    run = deploy(mock_program, specs["prod"])
    assert inputs(run.by_name("registry-catalog-catalog")) == {
        "name": "prod_catalog",
        "comment": "ML model registry for the cost and reliability analytics, governed by mrgov.",
        "owner": "prod-platform-admins",
        "properties": {"managed_by": "mrgov"},
    }
    assert inputs(run.by_name("registry-schema-gold_features-schema")) == {
        "catalogName": "prod_catalog",
        "name": "gold_features",
        "comment": "Gold-layer features and the models trained on them.",
    }


def test_prod_grants_per_securable_and_principal(
    mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    run = deploy(mock_program, specs["prod"])
    deployer = DEPLOYER["prod"]
    # (Grants resource, its securable's attribute, the securable's full name) -> privileges per principal
    expected: dict[tuple[str, str, str], dict[str, list[str]]] = {
        # The catalog is owned by prod-platform-admins, so the deployer keeps MANAGE and USE_CATALOG by grant.
        ("registry-catalog-grants", "catalog", "prod_catalog"): {
            PROD_INFERENCE: ["USE_CATALOG"],
            deployer: ["MANAGE", "USE_CATALOG"],
            "prod-bi-dashboards": ["USE_CATALOG"],
            "prod-ml-engineers": ["USE_CATALOG"],
        },
        ("registry-schema-gold_features-grants", "schema", "prod_catalog.gold_features"): {
            PROD_INFERENCE: ["USE_SCHEMA"],
            deployer: ["MANAGE", "USE_SCHEMA"],
            "prod-bi-dashboards": ["USE_SCHEMA"],
            "prod-ml-engineers": ["CREATE_MODEL", "USE_SCHEMA"],
        },
    }
    for model in ("cost_anomaly_detector", "budget_forecaster"):
        expected[(f"registry-model-{model}-grants", "model", f"prod_catalog.gold_features.{model}")] = {
            PROD_INFERENCE: ["EXECUTE"],
            deployer: ["MANAGE"],
            "prod-bi-dashboards": ["EXECUTE"],
            "prod-ml-engineers": ["APPLY_TAG", "CREATE_MODEL_VERSION"],
        }
    for (name, securable, full_name), privileges in expected.items():
        inputs = run.by_name(name).inputs
        # One securable, through the provider's attribute for its kind (a model's is `model`).
        assert set(inputs) == {securable, "grants"}, name
        assert inputs[securable] == full_name
        assert grants_of(run, name) == privileges


@pytest.mark.parametrize("stack", STACKS)
def test_grant_lists_are_sorted_and_keep_the_deployer(
    stack: str, mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    run = deploy(mock_program, specs[stack])
    keeps = {"catalog": ["MANAGE", "USE_CATALOG"], "schema": ["MANAGE", "USE_SCHEMA"], "model": ["MANAGE"]}
    grants = run.of_type(GRANTS)
    assert len(grants) == 2 + len(specs[stack].models)
    for reg in grants:
        blocks = reg.inputs["grants"]
        principals = [g["principal"] for g in blocks]
        assert principals == sorted(principals), reg.name
        assert all(g["privileges"] == sorted(set(g["privileges"])) for g in blocks), reg.name
        (securable,) = {"catalog", "schema", "model"} & set(reg.inputs)
        assert set(keeps[securable]) <= set(grants_of(run, reg.name)[DEPLOYER[stack]]), reg.name


def test_grant_inputs_do_not_depend_on_declaration_order(mock_program: Callable[..., MockRun]) -> None:
    """Reordering roles and privileges in config must not change a single input (no permanent diffs)."""

    def reorder(raw: dict[str, Any]) -> None:
        shared = raw.setdefault("catalog", {})
        if isinstance(shared, str):
            raw["catalog"] = shared = {"name": shared}
        shared["grants"] = [
            {"roles": ["dashboards", "inference_jobs", "ml_engineers"], "privileges": ["USE_CATALOG"]}
        ]
        raw["roles"] = dict(reversed(list(raw["roles"].items())))

    plain = deploy(mock_program, spec_of("dev"))
    reordered = deploy(mock_program, spec_of("dev", reorder))
    assert {r.urn: r.inputs for r in plain.registrations} == {
        r.urn: r.inputs for r in reordered.registrations
    }


@pytest.mark.parametrize(
    ("stack", "pins"),
    [
        ("dev", {"cost_anomaly_detector": {"Champion": "3"}, "budget_forecaster": {"Champion": "2"}}),
        (
            "staging",
            {
                "cost_anomaly_detector": {"Champion": "3", "Production": "3"},
                "budget_forecaster": {"Champion": "2", "Production": "2"},
                "failure_predictor": {"Champion": "1"},
            },
        ),
        (
            "prod",
            {
                "cost_anomaly_detector": {"Champion": "3", "Production": "3"},
                "budget_forecaster": {"Production": "2"},
            },
        ),
    ],
)
def test_alias_pins_and_their_uris(
    stack: str,
    pins: dict[str, dict[str, str]],
    mock_program: Callable[..., MockRun],
    specs: dict[str, StackSpec],
) -> None:
    run = deploy(mock_program, specs[stack])
    catalog = f"{stack}_catalog"
    found: dict[str, dict[str, str]] = {}
    metadata = run.of_type(METADATA)
    assert len(metadata) == len(specs[stack].models)
    for reg in metadata:
        model = reg.inputs["model"].rsplit(".", 1)[1]
        assert reg.inputs["model"] == f"{catalog}.gold_features.{model}"
        assert reg.name == f"registry-model-{model}-metadata"
        # The pins are one map of the model's ModelMetadata, versions as text (what MLflow's API takes).
        assert all(isinstance(v, str) for v in reg.inputs["aliases"].values()), reg.name
        if reg.inputs["aliases"]:
            found[model] = reg.inputs["aliases"]
    assert found == pins
    # Models without a managed alias have no entry (the same shape as on the MLflow target).
    assert run.outputs["alias_uris"] == {
        model: {a: f"models:/{catalog}.gold_features.{model}@{a}" for a in aliases}
        for model, aliases in pins.items()
    }


def test_prod_model_inputs_tags_and_version_descriptions(
    mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    run = deploy(mock_program, specs["prod"])
    model = run.by_name("registry-model-budget_forecaster-model")
    assert inputs(model) == {
        "catalogName": "prod_catalog",
        "schemaName": "gold_features",
        "name": "budget_forecaster",
        "comment": (
            "Budget Forecaster\n\n"
            "Purpose: Forecast month-end Databricks spend per workspace against its budget\n"
            "Algorithm: Gradient-boosted regression on daily cost history\n"
            "Features: Daily DBU and cost, 7/30-day rolling averages, calendar features\n"
            "Output: Forecast month-end cost and the probability of exceeding the budget"
        ),
    }
    assert inputs(run.by_name("registry-model-budget_forecaster-metadata")) == {
        "model": "prod_catalog.gold_features.budget_forecaster",
        "tags": {"algorithm": "gradient_boosting", "domain": "cost", "model_type": "forecasting"},
        "aliases": {"Production": "2"},
        "versionDescriptions": {
            "1": "Initial version",
            "2": "Added calendar features and 30-day rolling averages.",
        },
        "versionTags": {},
        "archiveKeepLatest": 0.0,
        "gates": {"Production": BF_GATE},
        "gateOverrides": {},
    }
    assert inputs(run.by_name("registry-model-cost_anomaly_detector-metadata")) == cad_metadata(
        "prod_catalog.gold_features.cost_anomaly_detector", {"Champion": "3", "Production": "3"}
    )


@pytest.mark.parametrize("stack", STACKS)
def test_what_is_never_sent(
    stack: str, mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    """No `aliases` on the provider's model (it is not applied), no force_destroy, no owner made up."""
    run = deploy(mock_program, specs[stack])
    for reg in run.of_type(MODEL):
        assert "aliases" not in reg.inputs
        assert "owner" not in reg.inputs  # the spec names no model owner: the creator (deployer) owns it
    for reg in run.registrations:
        assert "forceDestroy" not in reg.inputs, reg.name
        assert "__provider" not in reg.inputs, reg.name  # nothing pickled: no dynamic provider left
    # The registry is the mrgov provider's config, never an input of its resources.
    (mrgov,) = run.of_type(MRGOV_PROVIDER)
    assert inputs(mrgov) == {"registryUri": "databricks-uc"}
    for reg in mrgov_resources(run):
        assert not {"registryUri", "trackingUri", "registry_uri", "tracking_uri"} & set(reg.inputs), reg.name
        assert reg.provider_urn == mrgov.urn, reg.name


# ------------------------------------------------------------------------------------------------------
# Resource options: protect, retain_on_delete, deleted_with
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_protect_only_catalog_schema_and_models_in_prod(
    stack: str, mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    run = deploy(mock_program, specs[stack])
    protected = {r.name for r in run.registrations if r.protect}
    if stack == "prod":
        assert protected == {
            "registry-catalog-catalog",
            "registry-schema-gold_features-schema",
            "registry-model-cost_anomaly_detector-model",
            "registry-model-budget_forecaster-model",
        }
    else:
        assert protected == set()


def test_prod_models_are_retained_with_their_aliases(
    mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    run = deploy(mock_program, specs["prod"])
    retained = {r.name for r in run.registrations if r.retain_on_delete}
    under_models = {r.name for r in run.registrations if r.parent_type == MODEL or r.type == MODEL}
    # Both prod models say retainOnDelete: they and everything under them stay when they leave the stack.
    assert retained == under_models
    model_urns = {r.urn for r in run.of_type(MODEL)}
    for reg in run.registrations:
        if reg.parent_type == MODEL:
            assert reg.deleted_with == reg.parent and reg.deleted_with in model_urns, reg.name
            assert reg.parent in reg.dependencies, reg.name


def test_dev_retains_nothing(mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]) -> None:
    run = deploy(mock_program, specs["dev"])
    assert [r.name for r in run.registrations if r.retain_on_delete] == []
    assert [r.name for r in run.registrations if r.import_id] == []


def test_ordering_dependencies(mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]) -> None:
    run = deploy(mock_program, specs["dev"])
    catalog = run.by_name("registry-catalog-catalog").urn
    schema = run.by_name("registry-schema-gold_features-schema")
    assert schema.dependencies == (catalog,)
    for reg in run.of_type(MODEL):
        assert reg.dependencies == (schema.urn,), reg.name
    assert run.by_name("registry-catalog-grants").dependencies == (catalog,)


# ------------------------------------------------------------------------------------------------------
# One alias pin changes one resource
# ------------------------------------------------------------------------------------------------------
def test_changing_one_alias_pin_changes_exactly_one_resource(mock_program: Callable[..., MockRun]) -> None:
    def move_champion(raw: dict[str, Any]) -> None:
        raw["models"]["cost_anomaly_detector"]["aliases"]["Champion"] = 2

    before = {r.urn: r for r in deploy(mock_program, spec_of("prod")).registrations}
    after = {r.urn: r for r in deploy(mock_program, spec_of("prod", move_champion)).registrations}
    assert before.keys() == after.keys()
    changed = [urn for urn in before if before[urn].inputs != after[urn].inputs]
    assert [after[urn].name for urn in changed] == ["registry-model-cost_anomaly_detector-metadata"]
    (urn,) = changed
    # One key of one input of that resource: the Champion pin; Production and the rest stay.
    b_in, a_in = before[urn].inputs, after[urn].inputs
    assert [k for k in b_in.keys() | a_in.keys() if b_in.get(k) != a_in.get(k)] == ["aliases"]
    assert (b_in["aliases"], a_in["aliases"]) == (
        {"Champion": "3", "Production": "3"},
        {"Champion": "2", "Production": "3"},
    )
    # Options do not move either: same protection, parents and dependencies everywhere.
    for key in before:
        b, a = before[key], after[key]
        assert (b.protect, b.retain_on_delete, b.parent, b.dependencies) == (
            a.protect,
            a.retain_on_delete,
            a.parent,
            a.dependencies,
        )


# ------------------------------------------------------------------------------------------------------
# Outputs for StackReference consumers
# ------------------------------------------------------------------------------------------------------
def test_outputs(mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]) -> None:
    workspace = {
        "staging_catalog.gold_features.cost_anomaly_detector": {
            "Champion": 3,
            "Production": 3,
            "Challenger": 4,
        },
        "staging_catalog.gold_features.failure_predictor": {"Champion": 1, "shadow": 2},
    }
    mocks = EchoMocks(registry_aliases=workspace)
    run = deploy(mock_program, specs["staging"], mocks=mocks)
    assert run.outputs["model_names"] == {
        "cost_anomaly_detector": "staging_catalog.gold_features.cost_anomaly_detector",
        "budget_forecaster": "staging_catalog.gold_features.budget_forecaster",
        "failure_predictor": "staging_catalog.gold_features.failure_predictor",
    }
    # Only what the stack does not declare; the declared Champion and Production are not listed.
    assert run.outputs["unmanaged_aliases"] == {
        "cost_anomaly_detector": {"Challenger": "4"},
        "failure_predictor": {"shadow": "2"},
    }
    # They come from each model's ModelMetadata (`otherAliases`): no data source is invoked any more.
    assert mocks.calls == []
    grants = run.outputs["grants"]
    assert set(grants) == {
        "staging_catalog",
        "staging_catalog.gold_features",
        *run.outputs["model_names"].values(),
    }
    assert grants["staging_catalog.gold_features.failure_predictor"] == {
        "APPLY_TAG": ["staging-ml-engineers"],
        "CREATE_MODEL_VERSION": ["staging-ml-engineers"],
        "EXECUTE": ["5c1a9f3e-2b8d-4a67-9e0f-7d3c1b5a8e42", "staging-bi-dashboards"],
        "MANAGE": [DEPLOYER["staging"]],
    }


# ------------------------------------------------------------------------------------------------------
# Adoption, profiles, credentials
# ------------------------------------------------------------------------------------------------------
def test_adopted_catalog_is_imported_and_never_deleted(mock_program: Callable[..., MockRun]) -> None:
    def adopt(raw: dict[str, Any]) -> None:
        raw["catalog"] = {"name": "dev_catalog", "adopt": True}

    run = deploy(mock_program, spec_of("dev", adopt))
    catalog = run.by_name("registry-catalog-catalog")
    assert (catalog.import_id, catalog.retain_on_delete, catalog.protect) == ("dev_catalog", True, False)
    assert run.by_name("registry-catalog-grants").retain_on_delete
    assert [r.name for r in run.registrations if r.import_id] == ["registry-catalog-catalog"]


def test_adopted_model_is_imported_by_full_name(mock_program: Callable[..., MockRun]) -> None:
    run = deploy(mock_program, spec_of("dev"), adopt_models=frozenset({"failure_predictor"}))
    assert {r.name: r.import_id for r in run.registrations if r.import_id} == {
        "registry-model-failure_predictor-model": "dev_catalog.gold_features.failure_predictor"
    }


def test_adopt_models_must_name_declared_models(mock_program: Callable[..., MockRun]) -> None:
    with pytest.raises(ValueError, match=r"adopt_models names models the stack does not declare: \['nope'\]"):
        deploy(mock_program, spec_of("dev"), adopt_models=frozenset({"nope"}))


def test_a_profile_selects_credentials_for_both_sides(mock_program: Callable[..., MockRun]) -> None:
    def profile(raw: dict[str, Any]) -> None:
        raw["target"] = {"kind": "databricks", "profile": "DEV", "host": "https://dev.cloud.databricks.com"}

    mocks = EchoMocks()
    run = deploy(mock_program, spec_of("dev", profile), mocks=mocks)
    assert inputs(run.by_name("registry-provider")) == {
        "profile": "DEV",
        "host": "https://dev.cloud.databricks.com",
    }
    # The mrgov provider reads the same profile through MLflow's `databricks-uc://<profile>` registry.
    assert inputs(run.by_name("registry-mrgov")) == {
        "registryUri": "databricks-uc://DEV",
        "host": "https://dev.cloud.databricks.com",
    }
    # Every databricks resource goes through the databricks provider, every mrgov one through mrgov's.
    provider = f"{run.by_name('registry-provider').urn}::registry-provider-id"
    databricks_resources = [r for r in run.registrations if r.type.startswith("databricks:")]
    assert len(databricks_resources) == 2 + 2 + 2 * len(spec_of("dev").models)
    assert {r.provider for r in databricks_resources} == {provider}
    mrgov = f"{run.by_name('registry-mrgov').urn}::registry-mrgov-id"
    assert len(mrgov_resources(run)) == len(spec_of("dev").models)
    assert {r.provider for r in mrgov_resources(run)} == {mrgov}
    assert mocks.calls == []


def test_no_token_in_any_input_or_provider_config(
    monkeypatch: pytest.MonkeyPatch, mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    token = "dapi-unit-test-token-4f2a9c"
    monkeypatch.setenv("DATABRICKS_TOKEN", token)
    monkeypatch.setenv("DATABRICKS_HOST", "https://example.cloud.databricks.com")
    run = deploy(mock_program, specs["prod"])
    assert token not in repr([r.inputs for r in run.registrations])
    # Both providers read the token from the environment at call time: no credential in their config,
    # and the host only when the stack names one (prod does not).
    assert inputs(run.by_name("registry-provider")) == {}
    assert inputs(run.by_name("registry-mrgov")) == {"registryUri": "databricks-uc"}


def test_an_mlflow_spec_is_refused(mock_program: Callable[..., MockRun]) -> None:
    spec = build_local_spec()
    with pytest.raises(
        ValueError, match=r"stack 'local': DatabricksRegistry needs mrgov:target.kind databricks"
    ):
        deploy(mock_program, spec)


def build_local_spec() -> StackSpec:
    return build("local", load_stack_file(ROOT, "local"), ROOT)


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_catalog_inputs_outside_prod(
    stack: str, mock_program: Callable[..., MockRun], specs: dict[str, StackSpec]
) -> None:
    run = deploy(mock_program, specs[stack])
    # No owner declared: the creating deployer owns the catalog, so no owner input (and no diff) at all.
    assert inputs(run.by_name("registry-catalog-catalog")) == {
        "name": f"{stack}_catalog",
        "comment": "ML model registry for the cost and reliability analytics, governed by mrgov.",
        "properties": {"managed_by": "mrgov"},
    }


def test_warns_when_a_model_with_aliases_is_owned_by_someone_else(
    monkeypatch: pytest.MonkeyPatch, mock_program: Callable[..., MockRun]
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))

    def owned(raw: dict[str, Any]) -> None:
        raw["models"]["cost_anomaly_detector"]["owner"] = "dev-ml-engineers"
        raw["models"]["budget_forecaster"]["owner"] = DEPLOYER["dev"]

    run = deploy(mock_program, spec_of("dev", owned))
    assert warnings == [
        "stack 'dev': model 'cost_anomaly_detector' is owned by 'dev-ml-engineers', not the deployer "
        f"'{DEPLOYER['dev']}'; setting its aliases fails unless the deployer belongs to that owner"
    ]
    assert run.by_name("registry-model-cost_anomaly_detector-model").inputs["owner"] == "dev-ml-engineers"
    # The deployer owns budget_forecaster: it needs no MANAGE grant there, and gets none.
    assert DEPLOYER["dev"] not in grants_of(run, "registry-model-budget_forecaster-grants")
    assert grants_of(run, "registry-model-cost_anomaly_detector-grants")[DEPLOYER["dev"]] == ["MANAGE"]

"""Registry events under Pulumi's mocks: the local stack's webhooks and a Databricks stack's deployment
jobs, with the exact inputs and options of every resource they add."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest
from pulumi.runtime import config as runtime_config
from pulumi.runtime import rpc

from components.databricks.registry import DatabricksRegistry, DatabricksRegistryArgs
from components.environment import Environment, EnvironmentArgs
from components.spec import StackSpec, build, load_stack_file, mlflow_password, webhook_secrets
from components.validate import ROOT
from provider.events.webhook import WebhookProps
from provider.registry.deployment_job_link import DeploymentJobLinkProps
from tests.unit.conftest import MRGOV_METADATA, MRGOV_MODEL, MRGOV_PROVIDER, MockRun

WEBHOOK = WebhookProps.TOKEN
LINK = DeploymentJobLinkProps.TOKEN
JOB = "databricks:index/job:Job"
SECRET = "whsec-unit-test-0123456789"
CAD = "cost_anomaly_detector"


@pytest.fixture
def hook_secret() -> Iterator[str]:
    """The stack's secret config holds the signing secret (`pulumi config set --secret`)."""
    runtime_config.set_all_config({"mrgov:deployHookSecret": SECRET}, ["mrgov:deployHookSecret"])
    try:
        yield SECRET
    finally:
        runtime_config.set_all_config({}, [])


def local_spec(**hook: Any) -> StackSpec:
    raw = copy.deepcopy(load_stack_file(ROOT, "local"))
    raw["webhooks"] = {
        "deploy": {
            "url": "https://ci.example/hooks/mlflow",
            "events": ["model_version_alias.created"],
            "secret": "mrgov:deployHookSecret",
            **hook,
        }
    }
    return build("local", raw, ROOT, secret_keys={"mrgov:deployHookSecret"})


def test_a_webhook_is_one_resource_with_its_secret_as_a_secret_and_models_wait_for_it(
    hook_secret: str, mock_program: Callable[..., MockRun]
) -> None:
    spec = local_spec(description="Tell CI when Production moves.")

    def program() -> None:
        args = EnvironmentArgs(
            spec, mlflow_password=mlflow_password(spec), webhook_secrets=webhook_secrets(spec)
        )
        Environment("registry", args)

    run = mock_program(program, stack="local")
    (hook,) = run.of_type(WEBHOOK)
    (provider,) = run.of_type(MRGOV_PROVIDER)
    assert (hook.name, hook.parent_name, hook.provider_urn) == (
        "registry-mlflow-webhook-deploy",
        "registry-mlflow",
        provider.urn,
    )
    secret = hook.inputs.pop("secret")
    assert rpc.is_rpc_secret(secret) and rpc.unwrap_rpc_secret(secret) == hook_secret
    assert hook.inputs == {
        "name": "deploy",
        "url": "https://ci.example/hooks/mlflow",
        "events": ["model_version_alias.created"],
        "description": "Tell CI when Production moves.",
        "status": "ACTIVE",
    }
    assert (hook.protect, hook.retain_on_delete) == (False, False)
    # What the same `up` registers or pins is delivered: models (and so their metadata) wait for it.
    for model in run.of_type(MRGOV_MODEL):
        assert hook.urn in model.dependencies, model.name
    for metadata in run.of_type(MRGOV_METADATA):
        assert hook.urn not in metadata.dependencies and metadata.parent_type == MRGOV_MODEL
    assert hook_secret not in repr([r.inputs for r in run.registrations if r is not hook])


def test_a_stack_without_webhooks_declares_none(mock_program: Callable[..., MockRun]) -> None:
    spec = build("local", load_stack_file(ROOT, "local"), ROOT)
    assert spec.webhooks == () and webhook_secrets(spec) == {}
    run = mock_program(lambda: Environment("registry", EnvironmentArgs(spec)) and None, stack="local")
    assert run.of_type(WEBHOOK) == []


def test_a_webhook_without_its_secret_is_refused_before_anything_registers(
    mock_program: Callable[..., MockRun],
) -> None:
    spec = local_spec()
    with pytest.raises(Exception, match=r"no signing secret was given for webhook\(s\) \['deploy'\]"):
        mock_program(lambda: Environment("registry", EnvironmentArgs(spec)) and None, stack="local")


# ------------------------------------------------------------------------------------------------------
# Unity Catalog: deployment jobs
# ------------------------------------------------------------------------------------------------------
def dev_spec() -> StackSpec:
    raw = copy.deepcopy(load_stack_file(ROOT, "dev"))
    raw.setdefault("models", {})
    raw["models"][CAD] = {
        **raw["models"].get(CAD, {}),
        "deploymentJob": {
            "job": {
                "name": "deploy-cost-anomaly-detector",
                "notebookPath": "/Workspace/Shared/deploy_model",
                "parameters": {"approver": "ml-leads"},
            }
        },
    }
    raw["models"]["budget_forecaster"] = {
        **raw["models"].get("budget_forecaster", {}),
        "deploymentJob": {"jobId": 987654},
    }
    return build("dev", raw, ROOT)


def test_deployment_jobs_owned_and_linked_with_exact_inputs(mock_program: Callable[..., MockRun]) -> None:
    spec = dev_spec()
    cad, bf = spec.model_by_name(CAD), spec.model_by_name("budget_forecaster")
    run = mock_program(
        lambda: DatabricksRegistry("registry", DatabricksRegistryArgs(spec)) and None, stack="dev"
    )

    (job,) = run.of_type(JOB)
    model = run.by_name(f"registry-model-{CAD}-model")
    assert job.name == f"registry-model-{CAD}-deployment-job"
    assert (job.parent, job.dependencies) == (model.urn, (model.urn,))
    assert job.provider_urn == run.by_name("registry-provider").urn  # the stack's databricks provider
    assert (job.protect, job.retain_on_delete, job.deleted_with) == (False, cad.retain_on_delete, "")
    assert job.inputs == {
        "name": "deploy-cost-anomaly-detector",
        "description": f"Deployment job of {cad.full_name} (stack dev, managed by mrgov).",
        "parameters": [
            {"name": "model_name", "default": cad.full_name},
            {"name": "model_version", "default": ""},
            {"name": "approver", "default": "ml-leads"},
        ],
        "tasks": [{"taskKey": "deploy", "notebookTask": {"notebookPath": "/Workspace/Shared/deploy_model"}}],
        "trigger": {
            "model": {
                "condition": "MODEL_ALIAS_SET",
                "aliases": ["Production"],
                "securableName": cad.full_name,
            }
        },
    }

    links = {r.name: r for r in run.of_type(LINK)}
    assert sorted(links) == [
        "registry-model-budget_forecaster-deployment-job-link",
        f"registry-model-{CAD}-deployment-job-link",
    ]
    mrgov = run.by_name("registry-mrgov")
    owned = links[f"registry-model-{CAD}-deployment-job-link"]
    # The job's id, as the provider gives it (the mocks answer `<name>-id`).
    assert owned.inputs == {"model": cad.full_name, "jobId": f"{job.name}-id"}
    assert (owned.parent, owned.provider_urn, owned.deleted_with) == (model.urn, mrgov.urn, model.urn)
    assert owned.dependencies == tuple(sorted((model.urn, job.urn)))
    assert (owned.protect, owned.retain_on_delete) == (False, cad.retain_on_delete)

    existing = links["registry-model-budget_forecaster-deployment-job-link"]
    bf_model = run.by_name("registry-model-budget_forecaster-model")
    assert existing.inputs == {"model": bf.full_name, "jobId": "987654"}
    assert (existing.parent, existing.provider_urn, existing.dependencies) == (
        bf_model.urn,
        mrgov.urn,
        (bf_model.urn,),
    )
    assert run.constructed_before_wait == len(run.registrations)  # nothing is created inside an apply


def test_a_job_without_trigger_aliases_has_no_trigger(mock_program: Callable[..., MockRun]) -> None:
    raw = copy.deepcopy(load_stack_file(ROOT, "dev"))
    raw.setdefault("models", {})[CAD] = {
        **raw.get("models", {}).get(CAD, {}),
        "deploymentJob": {"job": {"name": "d", "notebookPath": "/Workspace/d", "triggerAliases": []}},
    }
    spec = build("dev", raw, ROOT)
    run = mock_program(
        lambda: DatabricksRegistry("registry", DatabricksRegistryArgs(spec)) and None, stack="dev"
    )
    (job,) = run.of_type(JOB)
    assert "trigger" not in job.inputs


def test_the_stack_files_declare_no_events_by_default() -> None:
    for stack in ("local", "dev", "staging", "prod"):
        spec = build(stack, load_stack_file(ROOT, stack), ROOT)
        assert spec.webhooks == () and all(m.deployment_job is None for m in spec.models), stack
    assert pulumi  # the SDK's runtime is what the mocks drive

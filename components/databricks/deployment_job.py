"""A Unity Catalog model's deployment job: the job (when the stack owns it) and the link on the model.

MLflow 3 deployment jobs (https://docs.databricks.com/aws/en/mlflow/deployment-job): Databricks runs
the job linked to a registered model when a new version of it is registered, with the job parameters
`model_name` and `model_version`. The link is `mrgov:registry:DeploymentJobLink`
(provider/registry/deployment_job_link.py), through the mrgov provider on `databricks-uc`.

`deploymentJob.jobId` links a job that exists. `deploymentJob.job` makes the stack own a
`databricks.Job` (pulumi-databricks 1.118) with one notebook task, the two parameters (the model's
full name, and an empty version that each run fills), and a model update trigger (`trigger.model`,
condition `MODEL_ALIAS_SET`, https://docs.databricks.com/aws/en/jobs/model-update-triggers) on the
model's `triggerAliases` (default `Production`): when Production moves, the job runs. Without a
cluster the task runs on serverless jobs compute; for anything else, create the job elsewhere and
link it by id.

Both are children of the `databricks.RegisteredModel` and share its `retain_on_delete` (a model that
stays in the workspace keeps its job and link); the link is deleted with the model, the job is not:
it is a workspace object of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from components.model_layout import child_options
from components.spec import ModelSpec
from provider import sdk

TASK_KEY = "deploy"
MODEL_ALIAS_SET = "MODEL_ALIAS_SET"


@dataclass(frozen=True)
class DeploymentJob:
    """What one model's deployment job declares: the job when the stack owns it, and the link."""

    job: databricks.Job | None
    link: sdk.DeploymentJobLink


def deployment_job(
    name: str,
    model: databricks.RegisteredModel,
    registry: pulumi.ProviderResource,
    spec: ModelSpec,
    *,
    stack: str,
) -> DeploymentJob | None:
    """`{name}-deployment-job` (databricks.Job, when owned) and `{name}-deployment-job-link`; None when
    the model declares no deployment job. `registry` is the mrgov provider on `databricks-uc`."""
    declared = spec.deployment_job
    if declared is None:
        return None
    job: databricks.Job | None = None
    if declared.owned:
        job = databricks.Job(
            f"{name}-deployment-job",
            name=declared.name,
            description=f"Deployment job of {spec.full_name} (stack {stack}, managed by mrgov).",
            parameters=[
                databricks.JobParameterArgs(name="model_name", default=spec.full_name),
                databricks.JobParameterArgs(name="model_version", default=""),
                *(databricks.JobParameterArgs(name=k, default=v) for k, v in declared.parameters.items()),
            ],
            tasks=[
                databricks.JobTaskArgs(
                    task_key=TASK_KEY,
                    notebook_task=databricks.JobTaskNotebookTaskArgs(notebook_path=declared.notebook_path),
                )
            ],
            trigger=(
                databricks.JobTriggerArgs(
                    model=databricks.JobTriggerModelArgs(
                        condition=MODEL_ALIAS_SET,
                        aliases=list(declared.trigger_aliases),
                        securable_name=spec.full_name,
                    )
                )
                if declared.trigger_aliases
                else None
            ),
            opts=pulumi.ResourceOptions(
                parent=model,
                depends_on=[model],  # the trigger names the model
                retain_on_delete=spec.retain_on_delete,
            ),
        )
    job_id: pulumi.Input[str] = job.id if job is not None else str(declared.job_id)
    link = sdk.DeploymentJobLink(
        f"{name}-deployment-job-link",
        sdk.DeploymentJobLinkArgs(model=spec.full_name, job_id=job_id),  # type: ignore[arg-type]
        child_options(model, registry, spec, *([job] if job is not None else [])),
    )
    return DeploymentJob(job, link)

"""DeploymentJobLink: a Unity Catalog registered model's deployment job (`mrgov:registry:DeploymentJobLink`).

MLflow 3 deployment jobs (https://docs.databricks.com/aws/en/mlflow/deployment-job): a Databricks job
linked to a registered model runs when a new version of the model is registered, and its runs show on
the model's page. The link is the model's `deployment_job_id`, which MLflow's Unity Catalog registry
client sets with `update_registered_model(name, description=None, deployment_job_id=...)`
(mlflow/store/_unity_catalog/registry/rest_store.py: a PATCH of
`/api/2.0/mlflow/unity-catalog/registered-models/update` with `name` and `deployment_job_id` only,
so the model's comment is left alone). An empty id disconnects the job (mlflow/mlflow#18488).

Its own resource, not a `ModelMetadata` input: the job id of a job the stack creates is unknown until
the job exists, and an unknown input makes the provider skip a resource's registry checks in that
preview (provider/server.py `check`), which would stop the preview from vetting the model's alias
pins; the link is also Unity Catalog's only, while `ModelMetadata` serves both targets.

- The id is the model's full name; import reads the linked job from it. A model whose job was
  unlinked by hand, or that is gone, has no link: refresh drops it, the next `up` links it again.
- `jobState` is Unity Catalog's verdict on the link: `CONNECTED`, `NOT_FOUND` (no such job) or
  `REQUIRED_PARAMETERS_CHANGED` (the job lacks the `model_name` and `model_version` parameters).
- Delete disconnects the job; the job itself is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provider.config import Connection
from provider.declare import Props, arg, out
from provider.limits import model_name_problem
from provider.registry import state
from provider.registry.client import is_not_found, registry_client
from provider.resource import Failures, NotFoundError, ProviderError, Resource

UNSPECIFIED = "DEPLOYMENT_JOB_CONNECTION_STATE_UNSPECIFIED"


@dataclass(frozen=True)
class DeploymentJobLinkProps(Props):
    TOKEN = "mrgov:registry:DeploymentJobLink"
    DESCRIPTION = (
        "The deployment job of a Unity Catalog registered model (MLflow 3 deployment jobs): Databricks "
        "runs the linked job when a new version of the model is registered. Deleting it disconnects the "
        "job and leaves the job alone. Unity Catalog only; an MLflow server notifies through "
        "`mrgov:events:Webhook` instead."
    )
    ID = "the model's full name, `catalog.schema.model`"

    model: str = arg("The registered model's full name, `catalog.schema.model`.", replace=True)
    job_id: str = arg(
        "The Databricks job id of the deployment job (digits). The job needs the parameters `model_name` "
        "and `model_version`."
    )
    job_state: str = out(
        "Unity Catalog's verdict on the link, as last seen on create, update or refresh: `CONNECTED`, "
        "`NOT_FOUND` (no such job) or `REQUIRED_PARAMETERS_CHANGED` (the job lacks its parameters).",
        default="",
    )


Link = DeploymentJobLinkProps


def _job_state(entity: Any) -> str:
    seen = str(getattr(entity, "deployment_job_state", "") or "")
    return "" if seen == UNSPECIFIED else seen


def _link(conn: Connection, model: str, job_id: str) -> Any:
    """Set the model's deployment job (`""` disconnects it); returns the model as UC answers."""
    try:
        return registry_client(conn.registry_uri).update_registered_model(
            model, None, deployment_job_id=job_id
        )
    finally:
        state.forget_model(conn.registry_uri, model)  # ModelMetadata's cached read is stale now


class DeploymentJobLink(Resource[DeploymentJobLinkProps]):
    PROPS = DeploymentJobLinkProps

    def check(self, conn: Connection, news: Link, olds: Link | None) -> Failures:
        if not conn.uc:
            return [
                (
                    "model",
                    "deployment jobs are a Unity Catalog feature; on an MLflow server declare a webhook "
                    "(mrgov:events:Webhook, or webhooks in the stack spec) instead",
                )
            ]
        failures: Failures = []
        if problem := model_name_problem(news.model, uc=True):
            failures.append(("model", problem))
        if not news.job_id.isdigit() or int(news.job_id) < 1:
            reason = f"must be a Databricks job id (digits, such as 123), got {news.job_id!r}"
            failures.append(("jobId", reason))
        return failures

    def create(self, conn: Connection, props: Link) -> tuple[str, Link]:
        try:
            linked = _link(conn, props.model, props.job_id)
        except Exception as exc:
            if is_not_found(exc):
                raise ProviderError(
                    f"registered model {props.model!r} does not exist on {conn.label}; create it first",
                    "model",
                ) from None
            raise
        return props.model, Link(model=props.model, job_id=props.job_id, job_state=_job_state(linked))

    def read(self, conn: Connection, id_: str, props: Link | None) -> Link | None:
        try:
            current = registry_client(conn.registry_uri).get_registered_model(id_)
        except Exception as exc:
            if not is_not_found(exc):
                raise
            current = None
        job_id = str(getattr(current, "deployment_job_id", "") or "")
        if not job_id:
            if props is None and current is not None:  # an import: say why there is nothing to import
                raise NotFoundError(f"registered model {id_!r} on {conn.label} has no deployment job linked")
            return None  # gone (or unlinked by hand): refresh drops it, the next up links it again
        return Link(model=id_, job_id=job_id, job_state=_job_state(current))

    def update(self, conn: Connection, id_: str, olds: Link, news: Link) -> Link:
        if news.job_id == olds.job_id:
            return Link(model=news.model, job_id=news.job_id, job_state=olds.job_state)
        linked = _link(conn, news.model, news.job_id)
        return Link(model=news.model, job_id=news.job_id, job_state=_job_state(linked))

    def delete(self, conn: Connection, id_: str, props: Link) -> None:
        try:
            _link(conn, props.model, "")  # disconnect; the job stays
        except Exception as exc:
            if not is_not_found(exc):  # the model is gone, and its link with it
                raise

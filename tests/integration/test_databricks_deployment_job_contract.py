"""Our side of the `databricks-uc` contract for a model's deployment job, on the loopback server of
test_databricks_uc_contract.py.

`mrgov:registry:DeploymentJobLink` sets the model's `deployment_job_id` through MLflow's Unity Catalog
registry store (`update_registered_model(name, description=None, deployment_job_id=...)` in
mlflow/store/_unity_catalog/registry/rest_store.py). These tests assert the exact request: method,
path and JSON body, with no `description` (the model's comment belongs to databricks.RegisteredModel),
and an empty id to disconnect (mlflow/mlflow#18488). The server remembers the link so reads make sense.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from provider.registry.deployment_job_link import DeploymentJobLinkProps
from tests.integration.conftest import MakeMrgov, Mrgov
from tests.integration.test_databricks_uc_contract import (
    TOKEN,
    UC,
    FakeUc,
    Request,
    assert_no_token,
    point_databricks_at,
)
from tests.integration.test_databricks_uc_contract import uc_env as uc_env  # a fixture
from tests.loopback import serving

pytestmark = pytest.mark.integration

LINK = DeploymentJobLinkProps.TOKEN
MODEL = "dev_catalog.gold_features.cost_anomaly_detector"
UPDATE = f"{UC}/registered-models/update"


@dataclass
class FakeUcWithJobs(FakeUc):
    """The loopback registry, also holding each model's deployment job id and its connection state."""

    job_id: str = ""
    exists: bool = True

    def answer(self, r: Request) -> tuple[int, dict[str, Any]]:
        route = (r.method, r.path.removeprefix(UC))
        if not self.exists and route in (
            ("GET", "/registered-models/get"),
            ("PATCH", "/registered-models/update"),
        ):
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Model {MODEL} not found"}
        if route == ("PATCH", "/registered-models/update") and "deployment_job_id" in (r.body or {}):
            self.job_id = str((r.body or {})["deployment_job_id"])
            return 200, {"registered_model": self._model(MODEL)}
        return super().answer(r)

    def _model(self, name: str) -> dict[str, Any]:
        model = super()._model(name)
        if self.job_id:
            model |= {"deployment_job_id": self.job_id, "deployment_job_state": "CONNECTED"}
        return model


@pytest.fixture
def fake(uc_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUcWithJobs]:
    served = FakeUcWithJobs()
    with serving(served) as url:
        point_databricks_at(monkeypatch, url)
        yield served


@pytest.fixture
def mrgov(fake: FakeUcWithJobs, make_mrgov: MakeMrgov) -> Mrgov:
    return make_mrgov(registryUri="databricks-uc")


def test_link_change_read_import_and_disconnect(mrgov: Mrgov, fake: FakeUcWithJobs) -> None:
    inputs = mrgov.checked(LINK, {"model": MODEL, "jobId": "123456"})
    assert fake.writes() == []  # the check reads nothing

    id_, state = mrgov.create(LINK, inputs)
    assert fake.writes() == [("PATCH", UPDATE, {"name": MODEL, "deployment_job_id": "123456"})]
    assert (id_, state) == (MODEL, {"model": MODEL, "jobId": "123456", "jobState": "CONNECTED"})
    assert {r.authorization for r in fake.requests if r.path.startswith(UC)} == {f"Bearer {TOKEN}"}

    fake.clear()
    news = mrgov.checked(LINK, {"model": MODEL, "jobId": "654321"}, inputs)
    assert mrgov.diff(LINK, id_, state, news)["detailed"] == {"jobId": "update"}
    moved = mrgov.update(LINK, id_, state, news)
    assert fake.writes() == [("PATCH", UPDATE, {"name": MODEL, "deployment_job_id": "654321"})]
    assert moved == {"model": MODEL, "jobId": "654321", "jobState": "CONNECTED"}

    fake.clear()
    refreshed, imported = mrgov.read(LINK, id_, moved), mrgov.read(LINK, id_)
    assert refreshed is not None and refreshed.outs == moved
    assert imported is not None and imported.inputs == {"model": MODEL, "jobId": "654321"}
    assert fake.writes() == []

    mrgov.delete(LINK, id_, moved)
    # An empty id disconnects the job (mlflow/mlflow#18488); the job itself is not touched.
    assert fake.writes() == [("PATCH", UPDATE, {"name": MODEL, "deployment_job_id": ""})]
    assert mrgov.read(LINK, id_, moved) is None  # unlinked: refresh drops it
    assert_no_token(inputs, state, moved, refreshed, imported)


def test_importing_a_model_without_a_job_says_so(mrgov: Mrgov) -> None:
    assert mrgov.refusal("read", LINK, MODEL) == (
        f"registered model {MODEL!r} on Unity Catalog has no deployment job linked"
    )


def test_linking_a_model_that_does_not_exist_is_one_clean_message(mrgov: Mrgov, fake: FakeUcWithJobs) -> None:
    fake.exists = False
    message = mrgov.refusal("create", LINK, {"model": MODEL, "jobId": "123456"})
    assert message == f"model: registered model {MODEL!r} does not exist on Unity Catalog; create it first"
    mrgov.delete(LINK, MODEL, {"model": MODEL, "jobId": "123456", "jobState": ""})  # gone with the model

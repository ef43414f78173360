"""ModelMetadata's lineage outputs on a real MLflow server: `latestVersion` and each pin's run and source."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from localdev.counting_proxy import CountingProxy
from tests.integration.conftest import MM, LoggedModels, MakeMrgov, MakeVersions, Mrgov, new_process

pytestmark = pytest.mark.integration


def _register_from_a_run(client: MlflowClient, logged_models: LoggedModels, name: str) -> tuple[str, str]:
    """A new version logged by a run, as a training job registers one: (version, run id)."""
    experiment = client.get_experiment_by_name("/integration-models")
    assert experiment is not None
    run = client.create_run(experiment.experiment_id)
    mv = client.create_model_version(
        name,
        source=logged_models.full.uri,
        run_id=run.info.run_id,
        model_id=logged_models.full.model_id,
        await_creation_for=0,
    )
    return str(mv.version), run.info.run_id


def test_latest_version_and_lineage_of_the_pins_on_create_update_and_refresh(
    make_mrgov: MakeMrgov,
    proxy: CountingProxy,
    client: MlflowClient,
    logged_models: LoggedModels,
    model_name: str,
    make_versions: MakeVersions,
) -> None:
    make_versions(model_name, "full")
    v2, run2 = _register_from_a_run(client, logged_models, model_name)
    counted = make_mrgov(trackingUri=proxy.url)
    inputs = counted.checked(MM, {"model": model_name, "aliases": {"Production": v2, "Champion": v2}})
    proxy.reset()

    _, created = counted.create(MM, inputs)

    source = client.get_model_version(model_name, v2).source
    assert created["latestVersion"] == "2"
    assert created["lineage"] == {"2": {"runId": run2, "source": source}}
    # The model's GET only: it carries the latest version (`latest_versions`), both pins' lineage is
    # the check's GET of version 2, and the first version is never read.
    routes = [f"{r.method} {r.path.split('?', 1)[0]}" for r in proxy.requests if not r.is_write]
    assert routes == ["GET /api/2.0/mlflow/registered-models/get"]

    v3, _ = _register_from_a_run(client, logged_models, model_name)  # a training job registers one more
    new_process()
    read = counted.read(MM, model_name, created)
    assert read is not None
    assert read.outs["latestVersion"] == v3 == "3"
    assert read.outs["lineage"] == {"2": {"runId": run2, "source": source}}

    news = counted.checked(MM, {"model": model_name, "aliases": {"Production": v3, "Champion": "1"}}, inputs)
    updated = counted.update(MM, model_name, read.outs, news)
    assert updated["latestVersion"] == "3"
    assert set(updated["lineage"]) == {"1", "3"}
    assert updated["lineage"]["1"]["runId"] == ""  # registered from a logged model, without a run
    assert updated["lineage"]["3"]["runId"] != ""


def test_a_model_without_versions_has_no_latest_version(
    mrgov: Mrgov, client: MlflowClient, model_name: str
) -> None:
    client.create_registered_model(model_name)
    _, created = mrgov.create(MM, mrgov.checked(MM, {"model": model_name, "tags": {"domain": "cost"}}))
    assert (created["latestVersion"], created["lineage"]) == ("", {})

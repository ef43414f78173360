"""The real pulumi CLI on a copy of the local stack: up, a no-op up, destroy."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from localdev.mlflow_server import Server
from tests.conftest import PulumiCli

pytestmark = pytest.mark.e2e

MODEL = "local_catalog.gold_features.cost_anomaly_detector"


def _client(server: Server) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def test_up_then_noop_then_destroy(
    pulumi_cli: PulumiCli, mlflow_server: Server, admin_env: dict[str, str]
) -> None:
    cli = pulumi_cli
    cli.run("stack", "init", "local")
    cli.run("config", "set", "--path", "mrgov:target.trackingUri", mlflow_server.url)

    up = cli.run("up", "--yes", "--skip-preview")
    assert "created" in up.stdout
    model = _client(mlflow_server).get_registered_model(MODEL)
    assert model.name == MODEL
    assert model.description

    outputs = json.loads(cli.run("stack", "output", "--json").stdout)
    assert outputs["models"]["cost_anomaly_detector"] == MODEL

    again = cli.run("preview", "--json")
    steps = json.loads(again.stdout)["steps"]
    assert {s["op"] for s in steps} == {"same"}, steps

    cli.run("destroy", "--yes", "--skip-preview")
    with pytest.raises(Exception, match="RESOURCE_DOES_NOT_EXIST"):
        _client(mlflow_server).get_registered_model(MODEL)

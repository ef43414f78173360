"""The counting proxy forwards real MLflow traffic unchanged and classifies writes correctly."""

from __future__ import annotations

import uuid

import pytest
from mlflow import MlflowClient

from localdev.counting_proxy import CountingProxy, Recorded
from localdev.mlflow_server import Server

pytestmark = pytest.mark.integration


def test_reads_and_writes_are_counted(mlflow_server: Server, admin_env: dict[str, str]) -> None:
    name = f"proxy.test.m_{uuid.uuid4().hex[:8]}"
    with CountingProxy(mlflow_server.url) as proxy:
        client = MlflowClient(tracking_uri=proxy.url, registry_uri=proxy.url)
        client.create_registered_model(name, description="via proxy")
        assert client.get_registered_model(name).description == "via proxy"
        client.search_registered_models(filter_string=f"name = '{name}'")
        writes = proxy.writes()
        assert [w.path for w in writes] == ["/api/2.0/mlflow/registered-models/create"]
        assert len(proxy.requests) > len(writes)
    direct = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    assert direct.get_registered_model(name).name == name
    direct.delete_registered_model(name)


@pytest.mark.parametrize(
    ("method", "path", "write"),
    [
        ("GET", "/api/2.0/mlflow/registered-models/get?name=a", False),
        ("POST", "/api/2.0/mlflow/registered-models/search", False),
        ("POST", "/api/2.0/mlflow/registered-models/set-tag", True),
        ("PATCH", "/api/2.0/mlflow/registered-models/update", True),
        ("DELETE", "/api/2.0/mlflow/registered-models/alias", True),
    ],
)
def test_write_classification(method: str, path: str, write: bool) -> None:
    assert Recorded(method, path, 200).is_write is write

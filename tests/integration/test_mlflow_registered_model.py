"""RegisteredModel provider against a real MLflow server: create, adopt, read, update, delete, import."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mlflow import MlflowClient

from components.mlflow.base import RegistryError
from components.mlflow.registered_model import RegisteredModelProvider
from components.mlflow.state import CACHE
from tests.integration.conftest import checked, failures

pytestmark = pytest.mark.integration

P = RegisteredModelProvider()


def _inputs(uri: str, name: str, **extra: object) -> dict[str, object]:
    return checked(P, {"registry_uri": uri, "name": name, **extra})


def test_create_sends_description_and_initial_tags(uri: str, client: MlflowClient, model_name: str) -> None:
    props = _inputs(uri, model_name, description="Detects spikes", initial_tags={"domain": "cost"})
    result = P.create(props)

    assert result.id == model_name
    held = client.get_registered_model(model_name)
    assert (held.description, held.tags) == ("Detects spikes", {"domain": "cost"})
    assert result.outs["registry_aliases"] == {}
    # A second check of the same inputs, diffed against what create returned: nothing to do.
    assert (
        P.diff(model_name, result.outs, _inputs(uri, model_name, description="Detects spikes")).changes
        is False
    )


def test_create_adopts_an_existing_model(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")  # a training pipeline registered it first
    client.update_registered_model(model_name, description="by the pipeline")
    client.set_registered_model_tag(model_name, "git_sha", "abc123")
    client.set_registered_model_alias(model_name, "Challenger", "1")

    result = P.create(_inputs(uri, model_name, description="Declared"))

    held = client.get_registered_model(model_name)
    assert held.description == "Declared"
    assert held.tags == {"git_sha": "abc123"}  # the pipeline's tag is not ours to touch
    assert [v.version for v in client.search_model_versions(f"name='{model_name}'")] == ["1"]
    assert result.outs["registry_aliases"] == {"Challenger": "1"}


def test_update_changes_the_description_in_place(uri: str, client: MlflowClient, model_name: str) -> None:
    olds = P.create(_inputs(uri, model_name, description="old")).outs
    news = _inputs(uri, model_name, description="new")

    diff = P.diff(model_name, olds, news)
    assert (diff.changes, diff.replaces) == (True, [])
    P.update(model_name, olds, news)

    assert client.get_registered_model(model_name).description == "new"


def test_retain_on_delete_change_is_state_only(uri: str, model_name: str) -> None:
    olds = P.create(_inputs(uri, model_name)).outs
    news = _inputs(uri, model_name, retain_on_delete=True)
    assert P.diff(model_name, olds, news).changes is True
    assert P.update(model_name, olds, news).outs["retain_on_delete"] is True


def test_name_or_registry_change_is_a_replacement(uri: str, model_name: str) -> None:
    olds = _inputs(uri, model_name)
    assert P.diff(model_name, olds, _inputs(uri, model_name + "_v2")).replaces == ["name"]
    assert P.diff(model_name, olds, _inputs("http://127.0.0.1:1", model_name)).replaces == ["registry_uri"]


def test_read_reports_drift_and_gone(uri: str, client: MlflowClient, model_name: str) -> None:
    props = _inputs(uri, model_name, description="declared")
    outs = P.create(props).outs
    client.update_registered_model(model_name, description="edited by hand")
    CACHE.clear()

    read = P.read(model_name, outs)
    assert (read.id, read.outs["description"]) == (model_name, "edited by hand")
    assert P.diff(model_name, read.outs, props).changes is True  # so `up` restores it

    client.delete_registered_model(model_name)
    CACHE.clear()
    assert P.read(model_name, outs).id is None


def test_import_reads_by_id(uri: str, client: MlflowClient, model_name: str) -> None:
    client.create_registered_model(model_name, description="existing")
    inputs = _inputs(uri, model_name, description="existing")

    read = P.read(model_name, inputs)  # on import the engine passes the program's inputs

    assert read.id == model_name
    assert P.diff(model_name, read.outs, inputs).changes is False


def test_delete_removes_a_model_without_versions(uri: str, client: MlflowClient, model_name: str) -> None:
    outs = P.create(_inputs(uri, model_name)).outs
    P.delete(model_name, outs)
    with pytest.raises(Exception, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_registered_model(model_name)
    P.delete(model_name, outs)  # already gone: fine


def test_delete_refuses_while_versions_exist(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    outs = P.create(_inputs(uri, model_name)).outs
    make_versions(model_name, "full", "full")

    with pytest.raises(RegistryError) as err:
        P.delete(model_name, outs)

    assert str(err.value) == (
        f"refusing to delete registered model {model_name!r} on {uri}: it still has 2 version(s) (1, 2), "
        "and deleting the model would delete them. Delete the versions first, or set retainOnDelete: true "
        "on the model to leave it in the registry when it leaves the stack."
    )
    assert len(client.search_model_versions(f"name='{model_name}'")) == 2


def test_retain_on_delete_leaves_the_model(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    outs = P.create(_inputs(uri, model_name, description="keep me", retain_on_delete=True)).outs
    make_versions(model_name, "full")

    P.delete(model_name, outs)

    assert client.get_registered_model(model_name).description == "keep me"
    assert len(client.search_model_versions(f"name='{model_name}'")) == 1


def test_check_normalises_and_rejects(uri: str, model_name: str) -> None:
    inputs = _inputs(uri + "/", model_name, initial_tags={"version": 2})
    assert inputs["registry_uri"] == uri
    assert inputs["initial_tags"] == {"version": "2"}
    assert (inputs["description"], inputs["retain_on_delete"]) == ("", False)

    bad = failures(P, {"registry_uri": uri, "name": "a/b:c", "initial_tags": {"mlflow.x": "1"}})
    assert "contains ['/', ':']" in bad["name"]
    assert "'mlflow.' prefix is reserved" in bad["initial_tags"]
    uc = failures(P, {"registry_uri": "databricks-uc", "name": "two.parts"})
    assert "three parts" in uc["name"]

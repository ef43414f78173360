"""ModelTags and VersionDescription providers against a real MLflow server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mlflow import MlflowClient

from components.mlflow.base import RegistryError
from components.mlflow.state import CACHE
from components.mlflow.tags import ModelTagsProvider
from components.mlflow.version_description import VersionDescriptionProvider
from tests.integration.conftest import checked, failures

pytestmark = pytest.mark.integration

T = ModelTagsProvider()
V = VersionDescriptionProvider()


def _tags(uri: str, model: str, tags: dict[str, object]) -> dict[str, object]:
    return checked(T, {"registry_uri": uri, "model": model, "tags": tags})


# ---------------------------------------------------------------------------------------------- tags
def test_create_sets_declared_tags_only(uri: str, client: MlflowClient, model_name: str) -> None:
    client.create_registered_model(model_name, tags={"git_sha": "abc", "domain": "old"})

    result = T.create(_tags(uri, model_name, {"domain": "cost", "algorithm": "isolation_forest"}))

    assert result.id == model_name
    assert client.get_registered_model(model_name).tags == {
        "git_sha": "abc",
        "domain": "cost",
        "algorithm": "isolation_forest",
    }


def test_create_on_a_missing_model_says_so(uri: str, model_name: str) -> None:
    with pytest.raises(
        RegistryError, match=f"cannot tag registered model '{model_name}' on {uri}: it does not exist"
    ):
        T.create(_tags(uri, model_name, {"domain": "cost"}))


def test_update_sets_changed_and_deletes_removed_keys(
    uri: str, client: MlflowClient, model_name: str
) -> None:
    client.create_registered_model(model_name, tags={"git_sha": "abc"})
    olds = T.create(_tags(uri, model_name, {"domain": "cost", "tier": "gold"})).outs
    news = _tags(uri, model_name, {"domain": "reliability"})

    diff = T.diff(model_name, olds, news)
    assert (diff.changes, diff.replaces) == (True, [])
    T.update(model_name, olds, news)

    assert client.get_registered_model(model_name).tags == {"git_sha": "abc", "domain": "reliability"}


def test_read_sees_hand_edits_of_declared_keys_only(uri: str, client: MlflowClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    declared = _tags(uri, model_name, {"domain": "cost", "tier": "gold"})
    outs = T.create(declared).outs
    client.set_registered_model_tag(model_name, "domain", "hand-edited")
    client.delete_registered_model_tag(model_name, "tier")
    client.set_registered_model_tag(model_name, "owner_note", "not ours")
    CACHE.clear()

    read = T.read(model_name, outs)

    assert read.outs["tags"] == {"domain": "hand-edited"}
    assert T.diff(model_name, read.outs, declared).changes is True
    T.update(model_name, read.outs, declared)  # what `up` does after the refresh
    assert client.get_registered_model(model_name).tags == {
        "domain": "cost",
        "tier": "gold",
        "owner_note": "not ours",
    }


def test_import_reads_by_id_and_gone_is_gone(uri: str, client: MlflowClient, model_name: str) -> None:
    client.create_registered_model(model_name, tags={"domain": "cost"})
    declared = _tags(uri, model_name, {"domain": "cost"})

    read = T.read(model_name, declared)
    assert read.id == model_name
    assert T.diff(model_name, read.outs, declared).changes is False

    client.delete_registered_model(model_name)
    CACHE.clear()
    assert T.read(model_name, declared).id is None


def test_delete_removes_declared_keys_and_tolerates_a_gone_model(
    uri: str, client: MlflowClient, model_name: str
) -> None:
    client.create_registered_model(model_name, tags={"git_sha": "abc"})
    outs = T.create(_tags(uri, model_name, {"domain": "cost"})).outs

    T.delete(model_name, outs)
    assert client.get_registered_model(model_name).tags == {"git_sha": "abc"}

    client.delete_registered_model(model_name)
    T.delete(model_name, outs)


def test_tag_check_rules(uri: str, model_name: str) -> None:
    assert _tags(uri, model_name, {"b": 2, "a": True})["tags"] == {"a": "True", "b": "2"}
    uc = failures(T, {"registry_uri": "databricks-uc", "model": "c.s.m", "tags": {"model-type": "x"}})
    assert "Unity Catalog keys" in uc["tags"]


# ------------------------------------------------------------------------------ version descriptions
def _desc(uri: str, model: str, version: object, text: str) -> dict[str, object]:
    return checked(V, {"registry_uri": uri, "model": model, "version": version, "description": text})


def test_version_description_lifecycle(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full", "full")

    outs = V.create(_desc(uri, model_name, 2, "Added z-score features")).outs
    assert outs["version"] == "2"
    assert client.get_model_version(model_name, "2").description == "Added z-score features"
    assert client.get_model_version(model_name, "1").description == ""

    news = _desc(uri, model_name, "2", "Retrained")
    assert V.diff(f"{model_name}/2", outs, news).replaces == []
    outs = V.update(f"{model_name}/2", outs, news).outs
    assert client.get_model_version(model_name, "2").description == "Retrained"

    client.update_model_version(model_name, "2", "hand edit")
    CACHE.clear()
    read = V.read(f"{model_name}/2", outs)
    assert read.outs["description"] == "hand edit"

    V.delete(f"{model_name}/2", outs)  # someone else's text by now: kept
    assert client.get_model_version(model_name, "2").description == "hand edit"
    V.delete(f"{model_name}/2", read.outs)  # ours: cleared
    assert client.get_model_version(model_name, "2").description == ""


def test_version_description_import_and_gone(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")
    client.update_model_version(model_name, "1", "Initial version")
    declared = _desc(uri, model_name, 1, "Initial version")

    read = V.read(f"{model_name}/1", {"registry_uri": uri})  # the id alone names the version
    assert (read.id, read.outs["model"], read.outs["version"]) == (f"{model_name}/1", model_name, "1")
    assert V.diff(read.id, read.outs, declared).changes is False

    client.delete_model_version(model_name, "1")
    CACHE.clear()
    assert V.read(f"{model_name}/1", declared).id is None


def test_version_description_of_a_missing_version(
    uri: str, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")
    with pytest.raises(RegistryError) as err:
        V.create(_desc(uri, model_name, 3, "nope"))
    assert str(err.value) == f"cannot describe version 3 of model {model_name!r}: it does not exist on {uri}"
    assert (
        "must be a version number"
        in failures(V, {"registry_uri": uri, "model": model_name, "version": "v2"})["version"]
    )

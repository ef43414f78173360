"""mrgov:registry:RegisteredModel on a real MLflow server: create, adopt, read, update, delete, import."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient

from provider.resource import ProviderError
from provider.server import message_of
from tests.integration.conftest import RM, MakeMrgov, MakeVersions, Mrgov, import_refused, new_process

pytestmark = pytest.mark.integration


def _inputs(mrgov: Mrgov, name: str, **extra: Any) -> dict[str, Any]:
    return mrgov.checked(RM, {"name": name, **extra})


def test_create_sends_description_and_initial_tags(
    mrgov: Mrgov, client: MlflowClient, model_name: str
) -> None:
    props = _inputs(mrgov, model_name, description="Detects spikes", initialTags={"domain": "cost"})
    id_, outs = mrgov.create(RM, props)

    assert id_ == model_name
    held = client.get_registered_model(model_name)
    assert (held.description, held.tags) == ("Detects spikes", {"domain": "cost"})
    assert (outs["registryAliases"], outs["adopted"]) == ({}, False)
    # The next run's inputs, diffed against what create returned: nothing to do. Initial tags are
    # create-only, so dropping them from the program is not a change either.
    again = _inputs(mrgov, model_name, description="Detects spikes")
    assert mrgov.diff(RM, id_, outs, again)["changes"] is False


def test_create_adopts_an_existing_model(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full")  # a training pipeline registered it first
    client.update_registered_model(model_name, description="by the pipeline")
    client.set_registered_model_tag(model_name, "git_sha", "abc123")
    client.set_registered_model_alias(model_name, "Challenger", "1")

    id_, outs = mrgov.create(RM, _inputs(mrgov, model_name, description="Declared"))

    assert id_ == model_name
    held = client.get_registered_model(model_name)
    assert held.description == "Declared"
    assert held.tags == {"git_sha": "abc123"}  # the pipeline's tag is not ours to touch
    assert [v.version for v in client.search_model_versions(f"name='{model_name}'")] == ["1"]
    assert (outs["adopted"], outs["registryAliases"]) == (True, {"Challenger": "1"})


def test_update_changes_the_description_in_place(mrgov: Mrgov, client: MlflowClient, model_name: str) -> None:
    id_, olds = mrgov.create(RM, _inputs(mrgov, model_name, description="old"))
    news = _inputs(mrgov, model_name, description="new")

    diff = mrgov.diff(RM, id_, olds, news)
    assert (diff["changes"], diff["replaces"], diff["detailed"]) == (True, [], {"description": "update"})
    outs = mrgov.update(RM, id_, olds, news)

    assert client.get_registered_model(model_name).description == "new"
    assert outs["description"] == "new"


def test_retain_on_delete_change_is_state_only(make_mrgov: MakeMrgov, proxy: Any, model_name: str) -> None:
    mrgov = make_mrgov(trackingUri=proxy.url)
    id_, olds = mrgov.create(RM, _inputs(mrgov, model_name))
    news = _inputs(mrgov, model_name, retainOnDelete=True)
    proxy.reset()

    assert mrgov.diff(RM, id_, olds, news)["detailed"] == {"retainOnDelete": "update"}
    assert mrgov.update(RM, id_, olds, news)["retainOnDelete"] is True
    assert proxy.requests == []


def test_name_or_registry_change_is_a_replacement(mrgov: Mrgov, uri: str, model_name: str) -> None:
    olds = _inputs(mrgov, model_name)
    diff = mrgov.diff(RM, model_name, olds, _inputs(mrgov, model_name + "_v2"))
    assert (diff["replaces"], diff["detailed"]) == (["name"], {"name": "update_replace"})
    # The registry is the provider's configuration now: another server means other objects.
    config = mrgov.diff_config({"trackingUri": uri}, {"trackingUri": "http://127.0.0.1:1"})
    assert (config["changes"], config["replaces"]) == (True, ["trackingUri"])
    assert mrgov.diff_config({"trackingUri": uri}, {"trackingUri": uri})["changes"] is False


def test_read_reports_drift_and_gone(mrgov: Mrgov, client: MlflowClient, model_name: str) -> None:
    props = _inputs(mrgov, model_name, description="declared")
    id_, outs = mrgov.create(RM, props)
    client.update_registered_model(model_name, description="edited by hand")
    new_process()

    read = mrgov.read(RM, id_, outs)
    assert read is not None
    assert (read.id, read.outs["description"], read.inputs["description"]) == (
        model_name,
        "edited by hand",
        "edited by hand",
    )
    assert read.outs["adopted"] is False  # kept from the state
    assert mrgov.diff(RM, id_, read.outs, props)["detailed"] == {"description": "update"}  # `up` restores it

    client.delete_registered_model(model_name)
    new_process()
    assert mrgov.read(RM, id_, outs) is None  # refresh drops it from the state


def test_import_reads_by_id(mrgov: Mrgov, client: MlflowClient, model_name: str) -> None:
    client.create_registered_model(model_name, description="existing")

    read = mrgov.read(RM, model_name)  # `pulumi import`: the id alone

    assert read is not None
    assert read.id == model_name
    assert read.inputs == {
        "name": model_name,
        "description": "existing",
        "initialTags": {},
        "retainOnDelete": False,
    }
    declared = _inputs(mrgov, model_name, description="existing")
    assert mrgov.diff(RM, read.id, read.outs, declared)["changes"] is False


def test_import_of_a_missing_model_is_a_clean_not_found(mrgov: Mrgov, uri: str, model_name: str) -> None:
    expected = (
        f"{model_name!r} was not found on {uri}; the id is the model's full name, `catalog.schema.model`"
    )
    assert import_refused(mrgov, RM, model_name) == expected


def test_delete_removes_a_model_without_versions(mrgov: Mrgov, client: MlflowClient, model_name: str) -> None:
    id_, outs = mrgov.create(RM, _inputs(mrgov, model_name))
    mrgov.delete(RM, id_, outs)
    with pytest.raises(Exception, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_registered_model(model_name)
    mrgov.delete(RM, id_, outs)  # already gone: fine


def test_delete_refuses_while_versions_exist(
    mrgov: Mrgov, uri: str, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    id_, outs = mrgov.create(RM, _inputs(mrgov, model_name))
    make_versions(model_name, "full", "full")
    expected = (
        f"refusing to delete registered model {model_name!r} on {uri}: it still has 2 version(s) (1, 2), "
        "and deleting the model would delete them. Delete the versions first, or set retainOnDelete: true "
        "on the model to leave it in the registry when it leaves the stack."
    )

    with pytest.raises(ProviderError) as err:
        mrgov.delete(RM, id_, outs)

    assert message_of(err.value) == expected
    assert mrgov.refusal("delete", RM, id_, outs) == expected  # what the engine shows
    assert len(client.search_model_versions(f"name='{model_name}'")) == 2
    assert client.get_registered_model(model_name).name == model_name


def test_retain_on_delete_leaves_the_model(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    id_, outs = mrgov.create(RM, _inputs(mrgov, model_name, description="keep me", retainOnDelete=True))
    make_versions(model_name, "full")

    mrgov.delete(RM, id_, outs)

    assert client.get_registered_model(model_name).description == "keep me"
    assert len(client.search_model_versions(f"name='{model_name}'")) == 1


def test_check_normalises_and_rejects(make_mrgov: MakeMrgov, uri: str, model_name: str) -> None:
    slashed = make_mrgov(trackingUri=uri + "/")  # one spelling per server
    inputs = _inputs(slashed, model_name, initialTags={"version": 2})
    assert inputs == {"name": model_name, "description": "", "initialTags": {"version": "2"},
                      "retainOnDelete": False}  # fmt: skip
    assert slashed.refusal("read", RM, model_name).startswith(f"{model_name!r} was not found on {uri};")

    bad = slashed.failures(RM, {"name": "a/b:c", "initialTags": {"mlflow.x": "1"}})
    assert "contains ['/', ':']" in bad["name"]
    assert "'mlflow.' prefix is reserved" in bad["initialTags"]
    assert slashed.failures(RM, {"description": "no name"}) == {"name": "is required"}
    assert slashed.failures(RM, {"name": model_name, "retainOnDelete": "yes"}) == {
        "retainOnDelete": "must be true or false, got 'yes'"
    }

    uc = make_mrgov(registryUri="databricks-uc").failures(RM, {"name": "two.parts"})
    assert "three parts" in uc["name"]
    assert "on Unity Catalog the model is a databricks.RegisteredModel" in uc["name"]

"""mrgov:registry:ModelMetadata on a real MLflow server: model tags, version descriptions, version tags."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient

from provider.resource import ProviderError
from provider.server import message_of
from tests.integration.conftest import MM, MakeMrgov, MakeVersions, Mrgov, import_refused, new_process

pytestmark = pytest.mark.integration


# No retention, no promotion gates: the defaults every checked ModelMetadata carries.
NO_LIFECYCLE = {"archiveAfterDays": None, "archiveKeepLatest": 0.0, "gates": {}, "gateOverrides": {}}


def _meta(mrgov: Mrgov, model: str, **props: Any) -> dict[str, Any]:
    return mrgov.checked(MM, {"model": model, **props})


def _version_tags(client: MlflowClient, model: str, version: str) -> dict[str, str]:
    """A version's tags, without MLflow's own."""
    tags = client.get_model_version(model, version).tags
    return {k: v for k, v in tags.items() if not k.startswith("mlflow.")}


# ---------------------------------------------------------------------------------------------- tags
def test_create_sets_declared_tags_only(mrgov: Mrgov, client: MlflowClient, model_name: str) -> None:
    client.create_registered_model(model_name, tags={"git_sha": "abc", "domain": "old"})

    id_, outs = mrgov.create(MM, _meta(mrgov, model_name, tags={"domain": "cost", "algorithm": "iforest"}))

    assert id_ == model_name
    assert client.get_registered_model(model_name).tags == {
        "git_sha": "abc",
        "domain": "cost",
        "algorithm": "iforest",
    }
    assert outs["tags"] == {"domain": "cost", "algorithm": "iforest"}


def test_create_on_a_missing_model_says_so(mrgov: Mrgov, uri: str, model_name: str) -> None:
    inputs = _meta(mrgov, model_name, tags={"domain": "cost"})
    expected = f"model: registered model {model_name!r} does not exist on {uri}; create it first"

    with pytest.raises(ProviderError) as err:
        mrgov.create(MM, inputs)

    assert (err.value.prop, message_of(err.value)) == ("model", expected)
    assert mrgov.refusal("create", MM, inputs) == expected


def test_update_sets_changed_and_deletes_removed_keys(
    mrgov: Mrgov, client: MlflowClient, model_name: str
) -> None:
    client.create_registered_model(model_name, tags={"git_sha": "abc"})
    id_, olds = mrgov.create(MM, _meta(mrgov, model_name, tags={"domain": "cost", "tier": "gold"}))
    news = _meta(mrgov, model_name, tags={"domain": "reliability"})

    diff = mrgov.diff(MM, id_, olds, news)
    assert (diff["changes"], diff["replaces"]) == (True, [])
    assert diff["detailed"] == {'tags["domain"]': "update", 'tags["tier"]': "delete"}
    mrgov.update(MM, id_, olds, news)

    # Removing a key deletes only that tag; the training job's is left alone.
    assert client.get_registered_model(model_name).tags == {"git_sha": "abc", "domain": "reliability"}


def test_read_sees_hand_edits_of_declared_keys_only(
    mrgov: Mrgov, client: MlflowClient, model_name: str
) -> None:
    client.create_registered_model(model_name)
    declared = _meta(mrgov, model_name, tags={"domain": "cost", "tier": "gold"})
    id_, outs = mrgov.create(MM, declared)
    client.set_registered_model_tag(model_name, "domain", "hand-edited")
    client.delete_registered_model_tag(model_name, "tier")
    client.set_registered_model_tag(model_name, "owner_note", "not ours")
    new_process()

    read = mrgov.read(MM, id_, outs)

    assert read is not None
    assert read.outs["tags"] == {"domain": "hand-edited"}
    assert mrgov.diff(MM, id_, read.outs, declared)["detailed"] == {
        'tags["domain"]': "update",
        'tags["tier"]': "add",
    }
    mrgov.update(MM, id_, read.outs, declared)  # what `up` does after the refresh
    assert client.get_registered_model(model_name).tags == {
        "domain": "cost",
        "tier": "gold",
        "owner_note": "not ours",
    }


def test_delete_removes_declared_keys_and_tolerates_a_gone_model(
    mrgov: Mrgov, client: MlflowClient, model_name: str
) -> None:
    client.create_registered_model(model_name, tags={"git_sha": "abc"})
    id_, outs = mrgov.create(MM, _meta(mrgov, model_name, tags={"domain": "cost"}))

    mrgov.delete(MM, id_, outs)
    assert client.get_registered_model(model_name).tags == {"git_sha": "abc"}

    client.delete_registered_model(model_name)
    mrgov.delete(MM, id_, outs)


def test_tag_check_rules(mrgov: Mrgov, make_mrgov: MakeMrgov, model_name: str) -> None:
    inputs = _meta(mrgov, model_name, tags={"b": 2, "a": "x"})
    assert inputs == {
        "model": model_name,
        "tags": {"a": "x", "b": "2"},
        "aliases": {},
        "versionDescriptions": {},
        "versionTags": {},
        **NO_LIFECYCLE,
    }
    assert mrgov.failures(MM, {"model": model_name, "tags": {"flag": True}}) == {
        "tags.flag": "must be text, got bool"
    }
    assert (
        "'mlflow.' prefix is reserved"
        in mrgov.failures(MM, {"model": model_name, "tags": {"mlflow.x": "1"}})["tags"]
    )
    assert mrgov.failures(MM, {"tags": {}}) == {"model": "is required"}
    uc = make_mrgov(registryUri="databricks-uc")
    assert "Unity Catalog keys" in uc.failures(MM, {"model": "c.s.m", "tags": {"model-type": "x"}})["tags"]
    assert "three parts" in uc.failures(MM, {"model": "two.parts"})["model"]


# ---------------------------------------------------------------------------------------------- import
def test_import_reads_everything_on_the_model(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")
    client.set_registered_model_tag(model_name, "domain", "cost")
    client.set_registered_model_alias(model_name, "Champion", "1")
    client.update_model_version(model_name, "2", "Retrained")
    client.set_model_version_tag(model_name, "1", "validated", "yes")

    read = mrgov.read(MM, model_name)  # `pulumi import`: the id alone

    assert read is not None
    assert read.id == model_name
    assert read.inputs == {
        "model": model_name,
        "tags": {"domain": "cost"},
        "aliases": {"Champion": "1"},
        "versionDescriptions": {"2": "Retrained"},
        "versionTags": {"1": {"validated": "yes"}},
        **NO_LIFECYCLE,
    }
    source = client.get_model_version(model_name, "1").source
    assert read.outs == {
        **read.inputs,
        "otherAliases": {},
        "latestVersion": "2",
        "lineage": {"1": {"runId": "", "source": source}},  # registered from a logged model, not a run
    }
    # The program that declares exactly this has nothing to change after the import.
    declared = _meta(mrgov, model_name, **{k: v for k, v in read.inputs.items() if k != "model"})
    assert mrgov.diff(MM, read.id, read.outs, declared)["changes"] is False


def test_import_of_a_missing_model_and_refresh_of_a_gone_one(
    mrgov: Mrgov, uri: str, client: MlflowClient, model_name: str
) -> None:
    expected = (
        f"{model_name!r} was not found on {uri}; the id is the model's full name, `catalog.schema.model`"
    )
    assert import_refused(mrgov, MM, model_name) == expected

    new_process()  # this process has seen the model missing
    client.create_registered_model(model_name, tags={"domain": "cost"})
    id_, outs = mrgov.create(MM, _meta(mrgov, model_name, tags={"domain": "cost"}))
    client.delete_registered_model(model_name)
    new_process()
    assert mrgov.read(MM, id_, outs) is None


# ------------------------------------------------------------------------------ version descriptions
def test_version_description_lifecycle(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")

    inputs = _meta(mrgov, model_name, versionDescriptions={"2": "Added z-score features"})
    id_, outs = mrgov.create(MM, inputs)
    assert outs["versionDescriptions"] == {"2": "Added z-score features"}
    assert client.get_model_version(model_name, "2").description == "Added z-score features"
    assert client.get_model_version(model_name, "1").description == ""

    news = _meta(mrgov, model_name, versionDescriptions={"2": "Retrained"})
    diff = mrgov.diff(MM, id_, outs, news)
    assert (diff["replaces"], diff["detailed"]) == ([], {'versionDescriptions["2"]': "update"})
    outs = mrgov.update(MM, id_, outs, news)
    assert client.get_model_version(model_name, "2").description == "Retrained"

    client.update_model_version(model_name, "2", "hand edit")
    new_process()
    read = mrgov.read(MM, id_, outs)
    assert read is not None
    assert read.outs["versionDescriptions"] == {"2": "hand edit"}

    mrgov.delete(MM, id_, outs)  # someone else's text by now: kept
    assert client.get_model_version(model_name, "2").description == "hand edit"
    mrgov.delete(MM, id_, read.outs)  # ours: cleared
    assert client.get_model_version(model_name, "2").description == ""


def test_removing_a_version_description_clears_only_ours(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")
    id_, olds = mrgov.create(MM, _meta(mrgov, model_name, versionDescriptions={"1": "One", "2": "Two"}))
    client.update_model_version(model_name, "2", "edited since")

    news = _meta(mrgov, model_name)
    assert mrgov.diff(MM, id_, olds, news)["detailed"] == {
        'versionDescriptions["1"]': "delete",
        'versionDescriptions["2"]': "delete",
    }
    mrgov.update(MM, id_, olds, news)

    assert client.get_model_version(model_name, "1").description == ""
    assert client.get_model_version(model_name, "2").description == "edited since"


def test_a_version_deleted_by_hand_drops_out_on_refresh(
    mrgov: Mrgov, uri: str, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")
    declared = _meta(mrgov, model_name, versionDescriptions={"1": "Initial version"})
    id_, outs = mrgov.create(MM, declared)

    client.delete_model_version(model_name, "1")
    new_process()
    read = mrgov.read(MM, id_, outs)

    assert read is not None
    assert read.outs["versionDescriptions"] == {}
    assert mrgov.diff(MM, id_, read.outs, declared)["detailed"] == {'versionDescriptions["1"]': "add"}
    expected = f"cannot describe version 1 of model {model_name!r}: it does not exist on {uri}"
    assert mrgov.refusal("update", MM, id_, read.outs, declared) == f"versionDescriptions.1: {expected}"


def test_version_description_of_a_missing_version(
    mrgov: Mrgov, uri: str, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full")
    inputs = _meta(mrgov, model_name, versionDescriptions={3: "nope"})
    assert inputs["versionDescriptions"] == {"3": "nope"}

    with pytest.raises(ProviderError) as err:
        mrgov.create(MM, inputs)

    assert err.value.prop == "versionDescriptions.3"
    reason = f"cannot describe version 3 of model {model_name!r}: it does not exist on {uri}"
    assert message_of(err.value) == f"versionDescriptions.3: {reason}"
    bad = mrgov.failures(MM, {"model": model_name, "versionDescriptions": {"v2": "x"}})
    assert bad == {"versionDescriptions.v2": "must be a version number (1, 2, ...), got 'v2'"}


# ------------------------------------------------------------------------------------- version tags
def test_version_tags_set_change_and_remove_only_declared_keys(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")
    client.set_model_version_tag(model_name, "1", "validated_by", "ci")  # someone else's

    first = _meta(mrgov, model_name, versionTags={"1": {"stage": "candidate", "owner": "ds"}})
    id_, outs = mrgov.create(MM, first)
    assert outs["versionTags"] == {"1": {"stage": "candidate", "owner": "ds"}}
    assert _version_tags(client, model_name, "1") == {
        "validated_by": "ci",
        "stage": "candidate",
        "owner": "ds",
    }

    news = _meta(mrgov, model_name, versionTags={"1": {"stage": "approved"}, "2": {"stage": "candidate"}})
    diff = mrgov.diff(MM, id_, outs, news)
    assert (diff["changes"], diff["replaces"]) == (True, [])
    assert diff["detailed"] == {
        'versionTags["1"]["owner"]': "delete",
        'versionTags["1"]["stage"]': "update",
        'versionTags["2"]': "add",
    }
    outs = mrgov.update(MM, id_, outs, news)
    assert _version_tags(client, model_name, "1") == {"validated_by": "ci", "stage": "approved"}
    assert _version_tags(client, model_name, "2") == {"stage": "candidate"}

    client.set_model_version_tag(model_name, "2", "stage", "hand-edited")
    client.set_model_version_tag(model_name, "2", "note", "not ours")
    new_process()
    read = mrgov.read(MM, id_, outs)
    assert read is not None
    assert read.outs["versionTags"] == {"1": {"stage": "approved"}, "2": {"stage": "hand-edited"}}
    assert mrgov.diff(MM, id_, read.outs, news)["detailed"] == {'versionTags["2"]["stage"]': "update"}

    last = _meta(mrgov, model_name, versionTags={"2": {"stage": "candidate"}})
    mrgov.update(MM, id_, read.outs, last)  # version 1 leaves the declaration: our keys go, theirs stay
    assert _version_tags(client, model_name, "1") == {"validated_by": "ci"}
    assert _version_tags(client, model_name, "2") == {"stage": "candidate", "note": "not ours"}


def test_version_tags_of_a_missing_version_name_it(
    mrgov: Mrgov, uri: str, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full")
    inputs = _meta(mrgov, model_name, tags={"domain": "cost"}, versionTags={"7": {"stage": "x"}})
    expected = f"versionTags.7: cannot tag version 7 of model {model_name!r}: it does not exist on {uri}"

    with pytest.raises(ProviderError) as err:
        mrgov.create(MM, inputs)

    assert (err.value.prop, message_of(err.value)) == ("versionTags.7", expected)
    assert mrgov.refusal("create", MM, inputs) == expected


def test_version_tag_check_rules(mrgov: Mrgov, model_name: str) -> None:
    assert _meta(mrgov, model_name, versionTags={"02": {"n": 1}})["versionTags"] == {"2": {"n": "1"}}
    bad = mrgov.failures(
        MM, {"model": model_name, "versionTags": {"x": {"a": "b"}, "1": {"mlflow.source": "y"}}}
    )
    assert bad["versionTags.x"] == "must be a version number (1, 2, ...), got 'x'"
    assert "'mlflow.' prefix is reserved" in bad["versionTags.1"]
    assert mrgov.failures(MM, {"model": model_name, "versionTags": {"1": "flat"}}) == {
        "versionTags.1": "must be a mapping, got str"
    }

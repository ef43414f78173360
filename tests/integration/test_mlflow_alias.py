"""ModelMetadata's alias pins on a real MLflow server: checked first, moved in place, only ours touched."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient
from pulumi.provider.experimental.property_value import Computed

from localdev.counting_proxy import CountingProxy
from tests.integration.conftest import MM, MakeMrgov, MakeVersions, Mrgov, SetStatus, new_process

pytestmark = pytest.mark.integration

NO_SIGNATURE = (
    "the version was logged without a signature; log the model with "
    "signature=infer_signature(model_input, model_output) and register a new version"
)
INPUTS_ONLY = (
    "the version's signature has no outputs; log the model with a signature that describes both "
    "inputs and outputs and register a new version"
)


def _pins(mrgov: Mrgov, model: str, olds: dict[str, Any] | None = None, **aliases: Any) -> dict[str, Any]:
    return mrgov.checked(MM, {"model": model, "aliases": aliases}, olds)


def _aliases(client: MlflowClient, model: str) -> dict[str, str]:
    return dict(client.get_registered_model(model).aliases)


def test_create_points_the_alias(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")

    id_, outs = mrgov.create(MM, _pins(mrgov, model_name, Production=2))

    assert id_ == model_name
    assert (outs["aliases"], outs["otherAliases"]) == ({"Production": "2"}, {})
    assert _aliases(client, model_name) == {"Production": "2"}


def test_moving_is_an_update_and_leaves_other_aliases(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")
    client.set_registered_model_alias(model_name, "Challenger", "2")  # a training job's
    first = _pins(mrgov, model_name, Production=1)
    id_, olds = mrgov.create(MM, first)
    assert olds["otherAliases"] == {"Challenger": "2"}
    news = _pins(mrgov, model_name, first, Production=2)  # check reads version 2: full signature

    diff = mrgov.diff(MM, id_, olds, news)
    assert (diff["changes"], diff["replaces"]) == (True, [])
    assert diff["detailed"] == {'aliases["Production"]': "update"}
    outs = mrgov.update(MM, id_, olds, news)

    assert _aliases(client, model_name) == {"Production": "2", "Challenger": "2"}
    assert (outs["aliases"], outs["otherAliases"]) == ({"Production": "2"}, {"Challenger": "2"})


def test_an_update_reports_the_other_aliases_as_they_are_now(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")
    client.set_registered_model_alias(model_name, "Challenger", "1")
    first = _pins(mrgov, model_name, Production=1)
    id_, olds = mrgov.create(MM, first)
    assert olds["otherAliases"] == {"Challenger": "1"}
    client.set_registered_model_alias(model_name, "Challenger", "2")  # the training job moved on
    new_process()

    outs = mrgov.update(MM, id_, olds, _pins(mrgov, model_name, first, Production=2))

    assert outs["otherAliases"] == {"Challenger": "2"}


def test_renaming_an_alias_sets_the_new_one_before_deleting_the_old(
    make_mrgov: MakeMrgov,
    proxy: CountingProxy,
    client: MlflowClient,
    model_name: str,
    make_versions: MakeVersions,
) -> None:
    make_versions(model_name, "full")
    mrgov = make_mrgov(trackingUri=proxy.url)
    first = _pins(mrgov, model_name, Champion=1)
    id_, olds = mrgov.create(MM, first)
    news = _pins(mrgov, model_name, first, Production=1)

    diff = mrgov.diff(MM, id_, olds, news)
    assert (diff["replaces"], diff["detailed"]) == (
        [],
        {'aliases["Champion"]': "delete", 'aliases["Production"]': "add"},
    )
    proxy.reset()
    mrgov.update(MM, id_, olds, news)

    # The version never goes without a pin in between.
    assert [(w.method, w.path) for w in proxy.writes()] == [
        ("POST", "/api/2.0/mlflow/registered-models/alias"),
        ("DELETE", "/api/2.0/mlflow/registered-models/alias"),
    ]
    assert _aliases(client, model_name) == {"Production": "1"}


def test_another_model_is_a_replacement(mrgov: Mrgov, model_name: str) -> None:
    olds = {"model": model_name, "aliases": {"Production": "1"}}
    diff = mrgov.diff(MM, model_name, olds, {**olds, "model": model_name + "_v2"})
    assert (diff["replaces"], diff["delete_before_replace"]) == (["model"], False)


@pytest.mark.parametrize(("kind", "reason"), [("unsigned", NO_SIGNATURE), ("inputs_only", INPUTS_ONLY)])
def test_refuses_a_version_without_a_full_signature(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions, kind: str, reason: str
) -> None:
    make_versions(model_name, "full", kind)
    first = _pins(mrgov, model_name, Production=1)
    mrgov.create(MM, first)

    found = mrgov.failures(MM, {"model": model_name, "aliases": {"Production": 2}}, first)

    assert found == {"aliases.Production": f"cannot point alias 'Production' at version 2: {reason}"}
    assert _aliases(client, model_name) == {"Production": "1"}  # nothing changed


def test_refuses_a_missing_version(
    mrgov: Mrgov, uri: str, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full")

    found = mrgov.failures(MM, {"model": model_name, "aliases": {"Production": 5, "Champion": 1}})

    missing = f"version 5 of {model_name!r} does not exist on {uri}"
    assert found == {"aliases.Production": f"cannot point alias 'Production' at version 5: {missing}"}
    assert _aliases(client, model_name) == {}


def test_refuses_a_version_that_is_not_ready(
    mrgov: Mrgov,
    client: MlflowClient,
    model_name: str,
    make_versions: MakeVersions,
    set_version_status: SetStatus,
) -> None:
    make_versions(model_name, "full", "full")
    first = _pins(mrgov, model_name, Production=1)
    mrgov.create(MM, first)
    set_version_status(model_name, "2", "PENDING_REGISTRATION")

    found = mrgov.failures(MM, {"model": model_name, "aliases": {"Production": "2"}}, first)

    assert found == {
        "aliases.Production": (
            "cannot point alias 'Production' at version 2: the version's status is PENDING_REGISTRATION, "
            "not READY; wait until its registration finishes (or register it again) and rerun"
        )
    }
    assert _aliases(client, model_name) == {"Production": "1"}


def test_refusals_are_clean_text(mrgov: Mrgov, model_name: str, make_versions: MakeVersions) -> None:
    make_versions(model_name, "full", "unsigned", "inputs_only")
    _, found = mrgov.check(MM, {"model": model_name, "aliases": {"A": 2, "B": 3, "C": 9}})
    assert [prop for prop, _ in found] == ["aliases.A", "aliases.B", "aliases.C"]
    for _, reason in found:
        assert "Traceback" not in reason and "\n" not in reason, reason


def test_only_changed_pins_are_read(
    make_mrgov: MakeMrgov,
    proxy: CountingProxy,
    model_name: str,
    make_versions: MakeVersions,
    set_version_status: SetStatus,
) -> None:
    make_versions(model_name, "full", "full")
    mrgov = make_mrgov(trackingUri=proxy.url)
    first = _pins(mrgov, model_name, Champion=1, Production=2)
    mrgov.create(MM, first)
    set_version_status(model_name, "2", "FAILED_REGISTRATION")  # once pinned, a pin is not re-verified
    new_process()
    proxy.reset()

    news = _pins(mrgov, model_name, first, Champion=1, Production=2)

    assert news["aliases"] == {"Champion": "1", "Production": "2"}
    assert proxy.requests == []


def test_a_preview_of_a_model_not_created_yet_reads_nothing(
    make_mrgov: MakeMrgov, proxy: CountingProxy, model_name: str
) -> None:
    mrgov = make_mrgov(trackingUri=proxy.url)
    # The model's name is the output of a RegisteredModel the preview has not created: unknown.
    inputs, found = mrgov.check(MM, {"model": Computed(), "aliases": {"Production": "1"}, "tags": {"a": "b"}})

    assert found == []
    assert isinstance(inputs["model"], Computed)
    assert inputs["aliases"] == {"Production": "1"}
    assert proxy.requests == []


def test_read_detects_a_moved_or_deleted_alias(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")
    declared = _pins(mrgov, model_name, Production=1)
    id_, outs = mrgov.create(MM, declared)

    client.set_registered_model_alias(model_name, "Production", "2")  # by hand
    client.set_registered_model_alias(model_name, "Challenger", "2")
    new_process()
    read = mrgov.read(MM, id_, outs)
    assert read is not None
    assert (read.outs["aliases"], read.outs["otherAliases"]) == ({"Production": "2"}, {"Challenger": "2"})
    assert mrgov.diff(MM, id_, read.outs, declared)["detailed"] == {'aliases["Production"]': "update"}
    mrgov.update(MM, id_, read.outs, declared)  # `up` puts it back
    assert _aliases(client, model_name) == {"Production": "1", "Challenger": "2"}

    client.delete_registered_model_alias(model_name, "Production")
    new_process()
    read = mrgov.read(MM, id_, outs)
    assert read is not None
    assert read.outs["aliases"] == {}
    assert mrgov.diff(MM, id_, read.outs, declared)["detailed"] == {'aliases["Production"]': "add"}

    client.delete_registered_model(model_name)
    new_process()
    assert mrgov.read(MM, id_, outs) is None


def test_import_reads_every_alias(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full", "full")
    client.set_registered_model_alias(model_name, "Champion", "1")
    client.set_registered_model_alias(model_name, "Challenger", "2")

    read = mrgov.read(MM, model_name)

    assert read is not None
    assert (read.outs["aliases"], read.outs["otherAliases"]) == ({"Challenger": "2", "Champion": "1"}, {})
    declared = _pins(mrgov, model_name, Champion="1", Challenger="2")
    assert mrgov.diff(MM, read.id, read.outs, declared)["changes"] is False


def test_delete_removes_only_our_alias(
    mrgov: Mrgov, client: MlflowClient, model_name: str, make_versions: MakeVersions
) -> None:
    make_versions(model_name, "full")
    client.set_registered_model_alias(model_name, "Challenger", "1")
    id_, outs = mrgov.create(MM, _pins(mrgov, model_name, Production=1))

    mrgov.delete(MM, id_, outs)

    assert _aliases(client, model_name) == {"Challenger": "1"}
    client.delete_registered_model(model_name)
    mrgov.delete(MM, id_, outs)  # model gone: nothing to do


def test_alias_check_rules(mrgov: Mrgov, model_name: str, make_versions: MakeVersions) -> None:
    for alias in ("latest", "LATEST", "v3"):
        found = mrgov.failures(MM, {"model": model_name, "aliases": {alias: 1}})
        assert "reserved" in found[f"aliases.{alias}"]
    found = mrgov.failures(MM, {"model": model_name, "aliases": {"a b": 1, "Production": "x"}})
    assert "letters, digits" in found["aliases.a b"]
    assert found["aliases.Production"] == "must be a version number (1, 2, ...), got 'x'"
    make_versions(model_name, "full", "full")
    assert _pins(mrgov, model_name, Production="02")["aliases"] == {"Production": "2"}

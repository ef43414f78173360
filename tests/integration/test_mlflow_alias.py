"""ModelAlias provider against a real MLflow server: pinned, verified, moved in place, only ours touched."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mlflow import MlflowClient

from components.mlflow.alias import ModelAliasProvider
from components.mlflow.base import RegistryError
from components.mlflow.state import CACHE
from tests.integration.conftest import checked, failures

pytestmark = pytest.mark.integration

A = ModelAliasProvider()


def _alias(uri: str, model: str, version: object, alias: str = "Production") -> dict[str, object]:
    return checked(A, {"registry_uri": uri, "model": model, "alias": alias, "version": version})


def _aliases(client: MlflowClient, model: str) -> dict[str, str]:
    return dict(client.get_registered_model(model).aliases)


def test_create_points_the_alias(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full", "full")

    result = A.create(_alias(uri, model_name, 2))

    assert result.id == f"{model_name}@Production"
    assert result.outs["version"] == "2"
    assert _aliases(client, model_name) == {"Production": "2"}


def test_moving_is_an_update_and_leaves_other_aliases(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full", "full")
    client.set_registered_model_alias(model_name, "Challenger", "2")  # a training job's
    olds = A.create(_alias(uri, model_name, 1)).outs
    news = _alias(uri, model_name, 2)

    diff = A.diff(f"{model_name}@Production", olds, news)
    assert (diff.changes, diff.replaces) == (True, [])
    A.update(f"{model_name}@Production", olds, news)

    assert _aliases(client, model_name) == {"Production": "2", "Challenger": "2"}


def test_renaming_the_alias_is_a_replacement(uri: str, model_name: str) -> None:
    olds = _alias(uri, model_name, 1, "Champion")
    assert A.diff(f"{model_name}@Champion", olds, _alias(uri, model_name, 1, "Production")).replaces == [
        "alias"
    ]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (
            "unsigned",
            "the version was logged without a signature; log the model with "
            "signature=infer_signature(model_input, model_output) and register a new version",
        ),
        (
            "inputs_only",
            "the version's signature has no outputs; log the model with a signature that describes both "
            "inputs and outputs and register a new version",
        ),
    ],
)
def test_refuses_a_version_without_a_full_signature(
    uri: str,
    client: MlflowClient,
    model_name: str,
    make_versions: Callable[..., list[str]],
    kind: str,
    reason: str,
) -> None:
    make_versions(model_name, "full", kind)
    olds = A.create(_alias(uri, model_name, 1)).outs

    with pytest.raises(RegistryError) as err:
        A.update(f"{model_name}@Production", olds, _alias(uri, model_name, 2))

    assert str(err.value) == f"cannot point alias 'Production' of model {model_name!r} at version 2: {reason}"
    assert _aliases(client, model_name) == {"Production": "1"}  # nothing changed


def test_refuses_a_missing_version(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")

    with pytest.raises(RegistryError) as err:
        A.create(_alias(uri, model_name, 5))

    assert str(err.value) == (
        f"cannot point alias 'Production' of model {model_name!r} at version 5: "
        f"version 5 does not exist on {uri}"
    )
    assert _aliases(client, model_name) == {}


def test_refuses_a_version_that_is_not_ready(
    uri: str,
    client: MlflowClient,
    model_name: str,
    make_versions: Callable[..., list[str]],
    set_version_status: Callable[[str, str, str], None],
) -> None:
    make_versions(model_name, "full", "full")
    olds = A.create(_alias(uri, model_name, 1)).outs
    set_version_status(model_name, "2", "PENDING_REGISTRATION")

    with pytest.raises(RegistryError) as err:
        A.update(f"{model_name}@Production", olds, _alias(uri, model_name, 2))

    assert str(err.value) == (
        f"cannot point alias 'Production' of model {model_name!r} at version 2: the version's status is "
        "PENDING_REGISTRATION, not READY; wait until its registration finishes (or register it again) "
        "and rerun"
    )
    assert _aliases(client, model_name) == {"Production": "1"}


def test_read_detects_a_moved_or_deleted_alias(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full", "full")
    declared = _alias(uri, model_name, 1)
    outs = A.create(declared).outs
    alias_id = f"{model_name}@Production"

    client.set_registered_model_alias(model_name, "Production", "2")  # by hand
    CACHE.clear()
    read = A.read(alias_id, outs)
    assert read.outs["version"] == "2"
    assert A.diff(alias_id, read.outs, declared).changes is True
    A.update(alias_id, read.outs, declared)  # `up` puts it back
    assert _aliases(client, model_name) == {"Production": "1"}

    client.delete_registered_model_alias(model_name, "Production")
    CACHE.clear()
    assert A.read(alias_id, outs).id is None

    client.delete_registered_model(model_name)
    CACHE.clear()
    assert A.read(alias_id, outs).id is None


def test_import_reads_by_id(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")
    client.set_registered_model_alias(model_name, "Champion", "1")

    read = A.read(f"{model_name}@Champion", {"registry_uri": uri})

    assert read.outs == {"registry_uri": uri, "model": model_name, "alias": "Champion", "version": "1"}
    assert A.diff(read.id, read.outs, _alias(uri, model_name, "1", "Champion")).changes is False


def test_delete_removes_only_our_alias(
    uri: str, client: MlflowClient, model_name: str, make_versions: Callable[..., list[str]]
) -> None:
    make_versions(model_name, "full")
    client.set_registered_model_alias(model_name, "Challenger", "1")
    outs = A.create(_alias(uri, model_name, 1)).outs

    A.delete(f"{model_name}@Production", outs)

    assert _aliases(client, model_name) == {"Challenger": "1"}
    client.delete_registered_model(model_name)
    A.delete(f"{model_name}@Production", outs)  # model gone: nothing to do


def test_alias_check_rules(uri: str, model_name: str) -> None:
    for alias in ("latest", "LATEST", "v3"):
        assert (
            "reserved"
            in failures(A, {"registry_uri": uri, "model": model_name, "alias": alias, "version": 1})["alias"]
        )
    assert (
        "letters, digits"
        in failures(A, {"registry_uri": uri, "model": model_name, "alias": "a b", "version": 1})["alias"]
    )
    assert _alias(uri, model_name, "02")["version"] == "2"

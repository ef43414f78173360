"""Our side of the `databricks-uc` HTTP contract, checked on a loopback server.

On the Databricks target, a model's aliases, tags, version descriptions and version tags are one
`mrgov:registry:ModelMetadata`, served by the mrgov provider configured with
`registryUri: databricks-uc`: MLflow's Unity Catalog registry store, reading DATABRICKS_HOST and
DATABRICKS_TOKEN (or a config profile) at call time, or the provider config's `host` and `token`.
Here those point at a stdlib HTTP server on 127.0.0.1 that records every request and answers with
minimal JSON, keeping just enough state (aliases, tags, descriptions, version tags) for the
provider's reads to make sense.

The tests drive the real provider (check, create, update, read, delete) and assert the method, path
and JSON body MLflow's UC store sends for set alias, delete alias, set tag, delete tag, update version
description, set and delete version tag; that the requests carry the token; and that the token never
reaches a resource's inputs, state or the provider object.

This checks what we send. It is not a stand-in for Databricks: the server accepts anything, so
permissions, validation, error answers and Databricks' real responses are not exercised here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import MM, MakeMrgov, Mrgov
from tests.loopback import Request, serving

pytestmark = pytest.mark.integration

TOKEN = "dapi-contract-test-0123456789abcdef"  # fake; must never appear in outputs
MODEL = "dev_catalog.gold_features.cost_anomaly_detector"
UC = "/api/2.0/mlflow/unity-catalog"


@dataclass
class FakeUc:
    """What the loopback server received, and the little it remembers to answer reads."""

    requests: list[Request] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    version_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """The requests that change something, as (method, path, JSON body)."""
        with self.lock:
            return [(r.method, r.path, r.body) for r in self.requests if r.method != "GET"]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def answer(self, r: Request) -> tuple[int, dict[str, Any]]:
        name = (r.body or {}).get("name") or r.query.get("name", [MODEL])[0]
        version = str((r.body or {}).get("version") or r.query.get("version", ["1"])[0])
        route = (r.method, r.path.removeprefix(UC))
        if route == ("GET", "/registered-models/get"):
            return 200, {"registered_model": self._model(name)}
        if route == ("GET", "/model-versions/get"):
            return 200, {"model_version": self._version(name, version)}
        if route == ("GET", "/registered-models/alias"):
            alias = r.query.get("alias", [""])[0]
            if alias not in self.aliases:
                return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"Alias {alias} not found"}
            return 200, {"model_version": self._version(name, self.aliases[alias])}
        body = r.body or {}
        if route == ("POST", "/registered-models/alias"):
            self.aliases[body["alias"]] = str(body["version"])
        elif route == ("DELETE", "/registered-models/alias"):
            self.aliases.pop(body["alias"], None)
        elif route == ("POST", "/registered-models/set-tag"):
            self.tags[body["key"]] = body["value"]
        elif route == ("DELETE", "/registered-models/delete-tag"):
            self.tags.pop(body["key"], None)
        elif route == ("POST", "/model-versions/set-tag"):
            self.version_tags.setdefault(version, {})[body["key"]] = body["value"]
        elif route == ("DELETE", "/model-versions/delete-tag"):
            self.version_tags.get(version, {}).pop(body["key"], None)
        elif route == ("PATCH", "/model-versions/update"):
            self.descriptions[version] = body.get("description", "")
            return 200, {"model_version": self._version(name, version)}
        return 200, {}

    def _model(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "aliases": [{"alias": a, "version": v} for a, v in sorted(self.aliases.items())],
            "tags": [{"key": k, "value": v} for k, v in sorted(self.tags.items())],
        }

    def _version(self, name: str, version: str) -> dict[str, Any]:
        return {
            "name": name,
            "version": version,
            "status": "READY",
            "description": self.descriptions.get(version, ""),
            "tags": [{"key": k, "value": v} for k, v in sorted(self.version_tags.get(version, {}).items())],
        }


@pytest.fixture
def loopback() -> Iterator[tuple[FakeUc, str]]:
    """The recording server on a free loopback port; yields it and its URL."""
    fake = FakeUc()
    with serving(fake) as url:
        yield fake, url


def point_databricks_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Send this process's Databricks clients to `url` with the test token (DATABRICKS_HOST, _TOKEN)."""
    monkeypatch.setenv("DATABRICKS_HOST", url)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)


@pytest.fixture
def uc_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Databricks credentials from the environment or a profile file, unless a test sets them."""
    for key in (
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CONFIG_PROFILE",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))


@pytest.fixture
def uc(loopback: tuple[FakeUc, str], uc_env: None, monkeypatch: pytest.MonkeyPatch) -> FakeUc:
    """The Databricks environment pointing at the loopback server."""
    fake, url = loopback
    point_databricks_at(monkeypatch, url)
    return fake


@pytest.fixture
def mrgov(uc: FakeUc, make_mrgov: MakeMrgov) -> Mrgov:
    """The provider on Unity Catalog, credentials from the environment."""
    return make_mrgov(registryUri="databricks-uc")


def _meta(mrgov: Mrgov, olds: dict[str, Any] | None = None, **props: Any) -> dict[str, Any]:
    return mrgov.checked(MM, {"model": MODEL, **props}, olds)


def _state(**props: Any) -> dict[str, Any]:
    empty = {"tags": {}, "aliases": {}, "versionDescriptions": {}, "versionTags": {}, "otherAliases": {}}
    # No retention, no promotion gates.
    empty |= {"archiveAfterDays": None, "archiveKeepLatest": 0.0, "gates": {}, "gateOverrides": {}}
    # The loopback knows no versions (its search answers none) and no runs: each pin's lineage is empty.
    unread = {v: {"runId": "", "source": ""} for v in props.get("aliases", {}).values()}
    return {"model": MODEL, **empty, "latestVersion": "", "lineage": unread, **props}


def assert_no_token(*values: Any) -> None:
    assert TOKEN not in json.dumps(values, default=repr)


def test_alias_set_move_read_and_delete(mrgov: Mrgov, uc: FakeUc) -> None:
    inputs = _meta(mrgov, aliases={"Champion": "3"})
    uc.clear()

    id_, created = mrgov.create(MM, inputs)
    assert uc.writes() == [
        ("POST", f"{UC}/registered-models/alias", {"name": MODEL, "alias": "Champion", "version": "3"})
    ]
    assert id_ == MODEL
    assert created == _state(aliases={"Champion": "3"})

    news = _meta(mrgov, inputs, aliases={"Champion": "2"})
    assert mrgov.diff(MM, id_, created, news)["detailed"] == {'aliases["Champion"]': "update"}
    uc.clear()
    moved = mrgov.update(MM, id_, created, news)
    assert uc.writes() == [
        ("POST", f"{UC}/registered-models/alias", {"name": MODEL, "alias": "Champion", "version": "2"})
    ]

    uc.clear()
    read = mrgov.read(MM, id_, moved)
    assert read is not None
    assert (read.id, read.outs) == (MODEL, _state(aliases={"Champion": "2"}))
    assert uc.writes() == []

    mrgov.delete(MM, id_, moved)
    assert uc.writes() == [("DELETE", f"{UC}/registered-models/alias", {"name": MODEL, "alias": "Champion"})]
    assert uc.aliases == {}
    assert_no_token(inputs, created, moved, read)


def test_alias_checks_the_version_before_pointing(mrgov: Mrgov, uc: FakeUc) -> None:
    inputs = _meta(mrgov, aliases={"Production": "3"})
    calls = [(r.method, r.path, r.query) for r in uc.requests if r.path.startswith(UC)]
    # Unity Catalog checks signatures itself: the version's GET is all the check needs.
    assert calls == [("GET", f"{UC}/model-versions/get", {"name": [MODEL], "version": ["3"]})]

    mrgov.create(MM, inputs)
    calls = [(r.method, r.path) for r in uc.requests if r.path.startswith(UC)]
    # Then the latest version, for the `latestVersion` output; version 3's lineage is the check's GET.
    assert calls[-2:] == [("POST", f"{UC}/registered-models/alias"), ("GET", f"{UC}/model-versions/search")]


def test_tags_set_change_and_delete_only_declared_keys(mrgov: Mrgov, uc: FakeUc) -> None:
    uc.tags["git_sha"] = "abc123"  # set by a training job: never ours to change
    inputs = _meta(mrgov, tags={"domain": "cost", "algorithm": "iforest"})

    id_, created = mrgov.create(MM, inputs)
    assert uc.writes() == [
        ("POST", f"{UC}/registered-models/set-tag", {"name": MODEL, "key": "algorithm", "value": "iforest"}),
        ("POST", f"{UC}/registered-models/set-tag", {"name": MODEL, "key": "domain", "value": "cost"}),
    ]
    assert id_ == MODEL

    uc.clear()
    news = _meta(mrgov, inputs, tags={"domain": "finops"})
    updated = mrgov.update(MM, id_, created, news)
    assert uc.writes() == [
        ("POST", f"{UC}/registered-models/set-tag", {"name": MODEL, "key": "domain", "value": "finops"}),
        ("DELETE", f"{UC}/registered-models/delete-tag", {"name": MODEL, "key": "algorithm"}),
    ]

    uc.clear()
    mrgov.delete(MM, id_, updated)
    assert uc.writes() == [("DELETE", f"{UC}/registered-models/delete-tag", {"name": MODEL, "key": "domain"})]
    assert uc.tags == {"git_sha": "abc123"}
    assert_no_token(created, updated)


def test_version_description_update_and_clear(mrgov: Mrgov, uc: FakeUc) -> None:
    inputs = _meta(mrgov, versionDescriptions={"3": "Retrained."})

    id_, created = mrgov.create(MM, inputs)
    assert uc.writes() == [
        ("PATCH", f"{UC}/model-versions/update", {"name": MODEL, "version": "3", "description": "Retrained."})
    ]
    assert id_ == MODEL

    uc.clear()
    news = _meta(mrgov, inputs, versionDescriptions={"3": "Retrained on 30 days."})
    updated = mrgov.update(MM, id_, created, news)
    assert uc.writes() == [
        (
            "PATCH",
            f"{UC}/model-versions/update",
            {"name": MODEL, "version": "3", "description": "Retrained on 30 days."},
        )
    ]

    uc.clear()
    mrgov.delete(MM, id_, updated)
    # Clearing sends an empty description explicitly (the field is present, not left out).
    assert uc.writes() == [
        ("PATCH", f"{UC}/model-versions/update", {"name": MODEL, "version": "3", "description": ""})
    ]
    assert uc.descriptions == {"3": ""}
    assert_no_token(created, updated)


def test_version_tags_set_change_and_delete_only_declared_keys(mrgov: Mrgov, uc: FakeUc) -> None:
    uc.version_tags["3"] = {"validated_by": "ci"}  # someone else's
    inputs = _meta(mrgov, versionTags={"3": {"stage": "candidate", "owner": "ds"}})
    set_tag, delete_tag = f"{UC}/model-versions/set-tag", f"{UC}/model-versions/delete-tag"

    id_, created = mrgov.create(MM, inputs)
    assert uc.writes() == [
        ("POST", set_tag, {"name": MODEL, "version": "3", "key": "owner", "value": "ds"}),
        ("POST", set_tag, {"name": MODEL, "version": "3", "key": "stage", "value": "candidate"}),
    ]

    uc.clear()
    news = _meta(mrgov, inputs, versionTags={"3": {"stage": "approved"}})
    updated = mrgov.update(MM, id_, created, news)
    assert uc.writes() == [
        ("POST", set_tag, {"name": MODEL, "version": "3", "key": "stage", "value": "approved"}),
        ("DELETE", delete_tag, {"name": MODEL, "version": "3", "key": "owner"}),
    ]

    uc.clear()
    read = mrgov.read(MM, id_, updated)
    assert read is not None
    assert read.outs["versionTags"] == {"3": {"stage": "approved"}}
    assert uc.writes() == []

    mrgov.delete(MM, id_, updated)
    assert uc.writes() == [("DELETE", delete_tag, {"name": MODEL, "version": "3", "key": "stage"})]
    assert uc.version_tags == {"3": {"validated_by": "ci"}}
    assert_no_token(created, updated, read)


def test_requests_carry_the_environment_token_and_nothing_keeps_it(mrgov: Mrgov, uc: FakeUc) -> None:
    inputs = _meta(mrgov, aliases={"A": "1"})
    _, state = mrgov.create(MM, inputs)

    registry_calls = [r for r in uc.requests if r.path.startswith(UC)]
    assert registry_calls
    assert {r.authorization for r in registry_calls} == {f"Bearer {TOKEN}"}
    assert_no_token(inputs, state, mrgov.read(MM, MODEL, state), mrgov.read(MM, MODEL))
    # The provider object holds its connection (the registry's name) and nothing secret.
    assert TOKEN not in repr(vars(mrgov.provider))


def test_the_provider_config_s_host_and_token_win_over_the_environment(
    loopback: tuple[FakeUc, str], uc_env: None, make_mrgov: MakeMrgov, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = loopback
    monkeypatch.setenv("DATABRICKS_HOST", "http://127.0.0.1:1")  # the shell's: not the stack's
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-from-the-shell")
    config = {"registryUri": "databricks-uc", "host": url, "token": TOKEN}
    mrgov = make_mrgov(**config)
    checked, secret = mrgov.check_config(config)
    assert (checked, secret) == (config, {"token"})

    _, state = mrgov.create(MM, _meta(mrgov, aliases={"Champion": "3"}))

    assert fake.writes() == [
        ("POST", f"{UC}/registered-models/alias", {"name": MODEL, "alias": "Champion", "version": "3"})
    ]
    assert {r.authorization for r in fake.requests if r.path.startswith(UC)} == {f"Bearer {TOKEN}"}
    assert_no_token(state)


def test_a_config_profile_is_read_at_call_time(
    loopback: tuple[FakeUc, str],
    uc_env: None,
    tmp_path: Path,
    make_mrgov: MakeMrgov,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`databricks-uc://<profile>`: host and token come from ~/.databrickscfg, not the environment."""
    fake, url = loopback
    config = tmp_path / "databrickscfg"
    config.write_text(f"[CONTRACT]\nhost = {url}\ntoken = {TOKEN}\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(config))
    mrgov = make_mrgov(registryUri="databricks-uc://CONTRACT")

    _, state = mrgov.create(MM, _meta(mrgov, aliases={"Champion": "3"}))

    assert fake.writes() == [
        ("POST", f"{UC}/registered-models/alias", {"name": MODEL, "alias": "Champion", "version": "3"})
    ]
    assert {r.authorization for r in fake.requests if r.path.startswith(UC)} == {f"Bearer {TOKEN}"}
    assert state == _state(aliases={"Champion": "3"})

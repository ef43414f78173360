"""Our side of the `databricks-uc` HTTP contract, checked on a loopback server.

The Databricks target manages aliases, tags and version descriptions with the shared dynamic providers
of components/mlflow, called with `registry_uri="databricks-uc"`: MLflow's Unity Catalog registry
store, reading DATABRICKS_HOST and DATABRICKS_TOKEN (or a config profile) at call time. Here those
point at a stdlib HTTP server on 127.0.0.1 that records every request and answers with minimal JSON,
keeping just enough state (aliases, tags, descriptions) for the providers' reads to make sense.

The tests call the providers' create, update, read and delete, and assert the method, path and JSON
body MLflow's UC store sends for set alias, delete alias, set tag, delete tag and update version
description; that the requests carry the token from the environment; and that the token never reaches
a resource's outputs or the pickled provider.

This checks what we send. It is not a stand-in for Databricks: the server accepts anything, so
permissions, validation, error answers and Databricks' real responses are not exercised here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dill  # type: ignore[import-untyped]  # what Pulumi pickles dynamic providers with
import pytest

from components.mlflow import ModelAliasProvider, ModelTagsProvider, VersionDescriptionProvider, state

pytestmark = pytest.mark.integration

TOKEN = "dapi-contract-test-0123456789abcdef"  # fake; must never appear in outputs
MODEL = "dev_catalog.gold_features.cost_anomaly_detector"
UC = "/api/2.0/mlflow/unity-catalog"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None
    authorization: str | None


@dataclass
class FakeUc:
    """What the loopback server received, and the little it remembers to answer reads."""

    requests: list[Request] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
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
        }


def _handler(fake: FakeUc) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            parts = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                body=json.loads(raw) if raw else None,
                authorization=self.headers.get("Authorization"),
            )
            with fake.lock:
                fake.requests.append(request)
                # Anything else MLflow or the Databricks SDK asks first (host metadata, ...) gets `{}`.
                status, payload = fake.answer(request)
            out = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve  # noqa: N815 (http.server's names)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[tuple[FakeUc, str]]:
    """The recording server on a free loopback port; yields it and its URL."""
    fake = FakeUc()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.CACHE.clear()  # the providers' per-process read cache must not carry answers between tests
    try:
        yield fake, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        state.CACHE.clear()


@pytest.fixture
def uc(loopback: tuple[FakeUc, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeUc:
    """The Databricks environment pointing at the loopback server, with no profile file in the way."""
    fake, url = loopback
    for key in ("DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("DATABRICKS_HOST", url)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    return fake


def assert_no_token(*values: Any) -> None:
    assert TOKEN not in repr(values)


def test_alias_set_move_read_and_delete(uc: FakeUc) -> None:
    provider = ModelAliasProvider()
    props = {"registry_uri": "databricks-uc", "model": MODEL, "alias": "Champion", "version": "3"}

    created = provider.create(dict(props))
    assert uc.writes() == [
        ("POST", f"{UC}/registered-models/alias", {"name": MODEL, "alias": "Champion", "version": "3"})
    ]
    assert created.id == f"{MODEL}@Champion"
    assert created.outs == props

    uc.clear()
    moved = provider.update(created.id, created.outs, {**props, "version": "2"})
    assert uc.writes() == [
        ("POST", f"{UC}/registered-models/alias", {"name": MODEL, "alias": "Champion", "version": "2"})
    ]

    uc.clear()
    read = provider.read(created.id, moved.outs or {})
    assert read.id == created.id and read.outs == {**props, "version": "2"}
    assert uc.writes() == []

    provider.delete(created.id, moved.outs or {})
    assert uc.writes() == [("DELETE", f"{UC}/registered-models/alias", {"name": MODEL, "alias": "Champion"})]
    assert uc.aliases == {}
    assert_no_token(created.outs, moved.outs, read.outs)


def test_alias_checks_the_version_before_pointing(uc: FakeUc) -> None:
    ModelAliasProvider().create(
        {"registry_uri": "databricks-uc", "model": MODEL, "alias": "Production", "version": "3"}
    )
    calls = [(r.method, r.path, r.query) for r in uc.requests if r.path.startswith(UC)]
    assert calls[0] == ("GET", f"{UC}/model-versions/get", {"name": [MODEL], "version": ["3"]})
    assert calls[-1][:2] == ("POST", f"{UC}/registered-models/alias")


def test_tags_set_change_and_delete_only_declared_keys(uc: FakeUc) -> None:
    uc.tags["git_sha"] = "abc123"  # set by a training job: never ours to change
    provider = ModelTagsProvider()
    props = {
        "registry_uri": "databricks-uc",
        "model": MODEL,
        "tags": {"domain": "cost", "algorithm": "iforest"},
    }

    created = provider.create(dict(props))
    assert uc.writes() == [
        ("POST", f"{UC}/registered-models/set-tag", {"name": MODEL, "key": "algorithm", "value": "iforest"}),
        ("POST", f"{UC}/registered-models/set-tag", {"name": MODEL, "key": "domain", "value": "cost"}),
    ]
    assert created.id == MODEL

    uc.clear()
    news = {**props, "tags": {"domain": "finops"}}
    updated = provider.update(created.id, created.outs, news)
    assert uc.writes() == [
        ("POST", f"{UC}/registered-models/set-tag", {"name": MODEL, "key": "domain", "value": "finops"}),
        ("DELETE", f"{UC}/registered-models/delete-tag", {"name": MODEL, "key": "algorithm"}),
    ]

    uc.clear()
    provider.delete(created.id, updated.outs or {})
    assert uc.writes() == [("DELETE", f"{UC}/registered-models/delete-tag", {"name": MODEL, "key": "domain"})]
    assert uc.tags == {"git_sha": "abc123"}
    assert_no_token(created.outs, updated.outs)


def test_version_description_update_and_clear(uc: FakeUc) -> None:
    provider = VersionDescriptionProvider()
    props = {"registry_uri": "databricks-uc", "model": MODEL, "version": "3", "description": "Retrained."}

    created = provider.create(dict(props))
    assert uc.writes() == [
        ("PATCH", f"{UC}/model-versions/update", {"name": MODEL, "version": "3", "description": "Retrained."})
    ]
    assert created.id == f"{MODEL}/3"

    uc.clear()
    updated = provider.update(created.id, created.outs, {**props, "description": "Retrained on 30 days."})
    assert uc.writes() == [
        (
            "PATCH",
            f"{UC}/model-versions/update",
            {"name": MODEL, "version": "3", "description": "Retrained on 30 days."},
        )
    ]

    uc.clear()
    provider.delete(created.id, updated.outs or {})
    # Clearing sends an empty description explicitly (the field is present, not left out).
    assert uc.writes() == [
        ("PATCH", f"{UC}/model-versions/update", {"name": MODEL, "version": "3", "description": ""})
    ]
    assert uc.descriptions == {"3": ""}
    assert_no_token(created.outs, updated.outs)


def test_requests_carry_the_environment_token_and_nothing_keeps_it(uc: FakeUc) -> None:
    providers = [ModelAliasProvider(), ModelTagsProvider(), VersionDescriptionProvider()]
    ModelAliasProvider().create(
        {"registry_uri": "databricks-uc", "model": MODEL, "alias": "A", "version": "1"}
    )
    registry_calls = [r for r in uc.requests if r.path.startswith(UC)]
    assert registry_calls
    assert {r.authorization for r in registry_calls} == {f"Bearer {TOKEN}"}
    # The provider objects are what Pulumi pickles into the state: they must hold nothing.
    for provider in providers:
        assert TOKEN.encode() not in dill.dumps(provider, recurse=True)
        assert vars(provider) == {}


def test_a_config_profile_is_read_at_call_time(
    loopback: tuple[FakeUc, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`databricks-uc://<profile>`: host and token come from ~/.databrickscfg, not the environment."""
    fake, url = loopback
    config = tmp_path / "databrickscfg"
    config.write_text(f"[CONTRACT]\nhost = {url}\ntoken = {TOKEN}\n")
    for key in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(config))
    props = {"registry_uri": "databricks-uc://CONTRACT", "model": MODEL, "alias": "Champion", "version": "3"}

    created = ModelAliasProvider().create(dict(props))
    assert fake.writes() == [
        ("POST", f"{UC}/registered-models/alias", {"name": MODEL, "alias": "Champion", "version": "3"})
    ]
    assert {r.authorization for r in fake.requests if r.path.startswith(UC)} == {f"Bearer {TOKEN}"}
    assert created.outs == props

"""Upgrading a `local` stack written by the dynamic-provider program (commit 77d069c), under the real engine.

The old program cannot run any more (its dynamic providers are gone from the code), so the test puts
the two halves of an old stack together from what it has:

- **The server.** The `local_stack` fixture's server holds the demo's trained versions, as the old
  program found them on its first `up`. What that `up` then wrote (tags, aliases, model and version
  descriptions, roles, grants) is what the stack file declares, and the new program writes the same
  objects for the same spec. So the test brings the new program up once on a scratch stack of the same
  project copy, against the same server (through the same proxy), then removes that scratch stack with
  `pulumi stack rm --force --yes`, which drops its state and leaves the server as it is. The server
  now holds what the old program had written, and no state refers to it.
- **The state.** tests/e2e/fixtures/dynamic-local-stack.json is a real `stack export` of the old
  program after its first `up` on the trained demo server, with the server's URL replaced by
  `http://127.0.0.1:PORT` (fixtures/README.md). The test puts the proxy's port in and imports it into
  the `local` stack, whose configured `mrgov:target.trackingUri` is the proxy: the URL the fixture's
  dynamic resources record equals the stack's, as it did for the old program.

Then the migration runs as a user runs it (`python -m localdev.migrate --stack local`, the test's CLI
environment), and the first `up` of the new program must find everything in place: no request that
writes, no delete, every resource `unchanged`. A change to one alias pin is then exactly one alias
write, and the `up` after it sends no request at all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from localdev.counting_proxy import Recorded
from provider.registry.client import AuthClient
from tests.conftest import ROOT
from tests.e2e.conftest import LocalStack, is_ours
from tests.e2e.test_lifecycle import CAD, assert_server_matches, edit_stack_file, role_permissions

pytestmark = pytest.mark.e2e

FIXTURE = ROOT / "tests" / "e2e" / "fixtures" / "dynamic-local-stack.json"
PLACEHOLDER = "http://127.0.0.1:PORT"
DYNAMIC = "pulumi-python:dynamic"
ALIAS_WRITE = "/api/2.0/mlflow/registered-models/alias"


def migrate(stack: LocalStack, *extra: str) -> subprocess.CompletedProcess[str]:
    """`python -m localdev.migrate --stack local` from the repository, on the stack's project copy."""
    return subprocess.run(
        [sys.executable, "-m", "localdev.migrate", "--stack", "local",
         "--project", str(stack.project), "--pulumi", "pulumi", *extra],
        cwd=ROOT, env={**stack.cli.env, "PYTHONPATH": str(ROOT)}, text=True, capture_output=True,
        timeout=300,
    )  # fmt: skip


def fill_the_server_as_the_old_program_did(stack: LocalStack) -> None:
    """The new program's first `up` on a scratch stack with the same config, then the stack is gone."""
    cli = stack.cli
    config = (stack.project / "Pulumi.local.yaml").read_text().splitlines(keepends=True)
    scratch = stack.project / "Pulumi.scratch.yaml"
    scratch.write_text("".join(x for x in config if not x.startswith("encryptionsalt:")))
    cli.run("stack", "init", "scratch")
    cli.run("up", "--yes", "--skip-preview", "--stack", "scratch")
    assert stack.proxy.writes(), "the scratch up wrote nothing: is the proxy in the path?"
    cli.run("stack", "rm", "--force", "--yes", "scratch")
    cli.run("stack", "select", "local")


def assert_the_server_holds_what_the_old_state_records(stack: LocalStack, old: list[dict[str, Any]]) -> None:
    """Every object a dynamic resource of the fixture recorded is on the server, as recorded."""
    client = stack.registry.client()
    roles = {r["name"] for r in AuthClient(stack.registry.url).list_all_roles()}
    grants = role_permissions(stack)
    checked: Counter[str] = Counter()
    for r in old:
        kind, out = r["type"].rsplit(":", 1)[-1], r.get("outputs") or {}
        if not r["type"].startswith(DYNAMIC):
            continue
        if kind == "RegisteredModel":
            assert (client.get_registered_model(r["id"]).description or "") == out["description"]
        elif kind == "ModelTags":
            held = client.get_registered_model(out["model"]).tags
            assert {k: held.get(k) for k in out["tags"]} == out["tags"], r["urn"]
        elif kind == "ModelAlias":
            held_version = client.get_model_version_by_alias(out["model"], out["alias"]).version
            assert held_version == out["version"], r["urn"]
        elif kind == "VersionDescription":
            held_text = client.get_model_version(out["model"], out["version"]).description
            assert held_text == out["description"], r["urn"]
        elif kind == "Role":
            assert out["name"] in roles, r["urn"]
        elif kind == "Permission":
            assert grants.get(out["principal"], {}).get(out["model"]) == out["level"], r["urn"]
        checked[kind] += 1
    assert sum(checked.values()) == 28, checked


def import_the_old_state(stack: LocalStack, tmp_path: Path) -> dict[str, Any]:
    configured = stack.spec().target
    assert getattr(configured, "tracking_uri", None) == stack.proxy.url
    text = FIXTURE.read_text()
    assert PLACEHOLDER in text
    old = json.loads(text.replace(PLACEHOLDER, stack.proxy.url))
    path = tmp_path / "dynamic-local-stack.json"
    path.write_text(json.dumps(old))
    stack.cli.run("stack", "import", "--stack", "local", "--file", str(path))
    return old


def counts(requests: list[Recorded]) -> str:
    by_method = Counter(r.method for r in requests)
    writes = sum(r.is_write for r in requests)
    detail = ", ".join(f"{n} {m}" for m, n in sorted(by_method.items())) or "none"
    return f"{len(requests)} requests ({detail}), {writes} writes"


def summary(out: str) -> str:
    return out.split("Resources:")[-1]


def test_an_old_local_stack_upgrades_in_place_and_the_first_up_writes_nothing(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    fill_the_server_as_the_old_program_did(local_stack)
    old = import_the_old_state(local_stack, tmp_path)
    old_resources = old["deployment"]["resources"]
    assert sum(r["type"].startswith(DYNAMIC) for r in old_resources) == 28
    assert_the_server_holds_what_the_old_state_records(local_stack, old_resources)

    local_stack.proxy.reset()
    migrated = migrate(local_stack)
    assert migrated.returncode == 0, migrated.stderr
    line = migrated.stdout.strip()
    assert line.startswith("migrate: stack 'local' migrated: 28 dynamic resources"), line
    assert migrated.stdout.count("\n") == 1 and "Traceback" not in migrated.stderr
    backup = Path(line.rsplit("backup: ", 1)[1])
    assert json.loads(backup.read_text()) == json.loads(json.dumps(old))
    assert local_stack.proxy.requests == [], "the migration itself must not talk to the server"

    resources = local_stack.resources()
    assert [r["urn"] for r in resources if r["type"].startswith(DYNAMIC)] == []
    assert not any(DYNAMIC in r["type"] for r in resources)
    print(f"\nstate: {len(old_resources)} resources before the migration, {len(resources)} after")

    again = migrate(local_stack)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "migrate: stack 'local' has no dynamic resources; nothing to migrate\n"

    # The first up of the new program: everything is already there.
    local_stack.proxy.reset()
    first = local_stack.up()
    requests = list(local_stack.proxy.requests)
    print(f"first up after the migration: {counts(requests)}")
    assert [r for r in requests if r.method == "DELETE"] == []
    assert local_stack.proxy.writes() == [], local_stack.proxy.writes()
    # The stack, two components, the mrgov provider, 3 models, 3 metadata, 3 permissions, 3 roles (the
    # old program's summary counted 31: the stack, the components and 28 dynamic resources). The only
    # change is in the state: the promotion gates registry.yaml now declares, which the old program
    # had no property for, on the two models whose Production it pins.
    assert re.fullmatch(r"\s*~ 2 updated\s+14 unchanged\s*", summary(first.stdout).split("Duration:")[0]), (
        first.stdout
    )
    assert set(re.findall(r"\[diff: ([^\]]*)\]", first.stdout)) == {"~gates"}, first.stdout
    after_up = local_stack.resources()
    assert sorted(r["urn"] for r in after_up) == sorted(r["urn"] for r in resources)
    assert_server_matches(local_stack, local_stack.spec())

    # One declared change: Champion of cost_anomaly_detector from 2 to 1.
    edit_stack_file(
        local_stack,
        lambda c: c["mrgov:models"]["cost_anomaly_detector"]["aliases"].update(Champion=1),
    )
    local_stack.proxy.reset()
    second = local_stack.up()
    requests = list(local_stack.proxy.requests)
    print(f"up moving Champion 2 -> 1: {counts(requests)}")
    writes = [(w.method, w.path.split("?", 1)[0]) for w in local_stack.proxy.writes()]
    assert writes == [("POST", ALIAS_WRITE)], writes
    assert [r for r in requests if r.method == "DELETE"] == []
    assert re.search(r"\b1 updated\b", summary(second.stdout)), second.stdout
    assert local_stack.registry.client().get_model_version_by_alias(CAD, "Champion").version == "1"

    # And a no-op: no request at all.
    local_stack.proxy.reset()
    third = local_stack.up()
    print(f"third up (no-op): {counts(list(local_stack.proxy.requests))}")
    assert local_stack.proxy.requests == [], local_stack.proxy.requests
    assert not re.search(r"\b(created|updated|deleted|replaced)\b", summary(third.stdout)), third.stdout
    assert sum(is_ours(r["urn"]) for r in local_stack.resources()) == 12


def test_a_fresh_stack_passes_through(local_stack: LocalStack) -> None:
    """What `make up` does on a stack that `stack select --create` just made: nothing, in one line."""
    before = local_stack.cli.run("stack", "export").stdout
    result = migrate(local_stack)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "migrate: stack 'local' has no dynamic resources; nothing to migrate\n"
    assert result.stderr == ""
    assert json.loads(local_stack.cli.run("stack", "export").stdout) == json.loads(before)
    backend = Path(local_stack.cli.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    assert list(backend.glob("migrate-backup-*.json")) == []
    assert local_stack.proxy.requests == []

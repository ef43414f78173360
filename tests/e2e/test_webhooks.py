"""Registry events on the real engine: the local stack declares a webhook for alias moves, `pulumi up`
moves `Production`, and a receiver on a loopback port gets MLflow's delivery, signed with the stack's
secret; then the webhook moves to a second receiver, which gets the next one.

MLflow delivers from the tracking server (mlflow/webhooks/delivery.py); tests/webhooks.py holds the
receiver, the server settings that allow http on 127.0.0.1, and MLflow's signature scheme. The secret
lives in the stack's secret config (`pulumi config set --secret`) and must not appear in clear in the
raw state files, `stack export` or the engine's verbose logs.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provider.events.webhook import WebhookProps
from tests.e2e.conftest import LocalStack, Registry
from tests.e2e.test_lifecycle import CAD, edit_stack_file
from tests.e2e.test_provider import _urn, forget
from tests.webhooks import (
    DELIVERY_ID_HEADER,
    SERVER_ENV,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivery,
    Receiver,
    receiving,
    verify,
)

pytestmark = pytest.mark.e2e

HOOK_NAME = "registry-mlflow-webhook-deploy"
SECRET_KEY = "mrgov:deployHookSecret"
ALIAS_SET = "model_version_alias.created"
CACHE_TTL = float(SERVER_ENV["MLFLOW_WEBHOOK_CACHE_TTL"])
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's signature key of a secret value in the state


@pytest.fixture
def webhook_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the local server needs to deliver to http on 127.0.0.1 (set before it starts)."""
    for key, value in SERVER_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def registry(webhook_server_env: None, registry: Registry) -> Registry:
    """conftest's registry, started with the webhook settings."""
    return registry


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with receiving("/hooks/first") as first, receiving("/hooks/second") as second:
        yield first, second


def declare_webhook(stack: LocalStack, url: str) -> str:
    """The secret in the stack's secret config, and the webhook naming it in the stack file."""
    secret = secrets.token_urlsafe(24)
    stack.cli.run("config", "set", "--secret", SECRET_KEY, "--", secret)  # "--": a secret may start with "-"
    edit_stack_file(
        stack,
        lambda c: c.update(
            {"mrgov:webhooks": {"deploy": {"url": url, "events": [ALIAS_SET], "secret": SECRET_KEY}}}
        ),
    )
    return secret


def is_pin(alias: str, version: str) -> Any:
    def match(d: Delivery) -> bool:
        return d.event == ALIAS_SET and d.payload["data"] == {"name": CAD, "alias": alias, "version": version}

    return match


def webhook_steps(stack: LocalStack, *extra: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = json.loads(stack.cli.run("preview", "--json", *extra).stdout).get(
        "steps", []
    )
    return [s for s in steps if s["urn"].endswith(f"::{HOOK_NAME}")]


def changes(stack: LocalStack) -> list[tuple[str, str]]:
    """(name, op) of every step a preview would take (`preview --json` leaves out unchanged ones)."""
    steps = json.loads(stack.cli.run("preview", "--json").stdout).get("steps", [])
    return [(s["urn"].rsplit("::", 1)[-1], s["op"]) for s in steps if s["op"] != "same"]


def revealed(value: Any) -> Any:
    """A state value from `stack export --show-secrets`: a secret's plaintext is JSON text."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return json.loads(value["plaintext"]) if "plaintext" in value else value.get("value")
    return value


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def roll_back_production(stack: LocalStack) -> None:
    """Pin Production to version 1, which its promotion gate refuses (lower val_f1 than version 2),
    so with the break-glass override a rollback would need."""
    stack.set("mrgov:models.cost_anomaly_detector.aliases.Production", "1")
    stack.set("mrgov:models.cost_anomaly_detector.overrides.Production.reason", "rollback drill")


def test_production_moves_are_delivered_signed_to_the_declared_url(
    local_stack: LocalStack, receivers: tuple[Receiver, Receiver]
) -> None:
    first, second = receivers
    secret = declare_webhook(local_stack, first.url)
    logs = [local_stack.cli.run("up", "--yes", "--skip-preview", "-v=9", "--logtostderr")]

    client = local_stack.registry.client()
    (hook,) = client.list_webhooks()
    assert (hook.name, hook.url, [str(e) for e in hook.events]) == ("deploy", first.url, [ALIAS_SET])
    assert _webhook_resource(local_stack)["id"] == hook.webhook_id
    # The webhook is created before the models, so this up's own pins are delivered too.
    pinned = first.wait_for(is_pin("Production", "2"))
    assert verify(pinned, secret)

    # `pulumi up` moves Production: MLflow POSTs the move, signed with the stack's secret.
    first.clear()
    roll_back_production(local_stack)
    logs.append(local_stack.cli.run("up", "--yes", "--skip-preview", "-v=9", "--logtostderr"))
    moved = first.wait_for(is_pin("Production", "1"))
    assert moved.payload["entity"] == "model_version_alias" and moved.payload["action"] == "created"
    assert moved.header(SIGNATURE_HEADER).startswith("v1,")
    assert abs(int(moved.header(TIMESTAMP_HEADER)) - time.time()) < 120
    assert len(moved.header(DELIVERY_ID_HEADER)) == 36
    assert verify(moved, secret) and not verify(moved, secret + "x")

    # A new URL: the same webhook (one update, no replacement), and the next move goes there.
    edit_stack_file(local_stack, lambda c: c["mrgov:webhooks"]["deploy"].update(url=second.url))
    (step,) = webhook_steps(local_stack, "--diff")
    assert (step["op"], sorted(step.get("detailedDiff") or {})) == ("update", ["url"])
    logs.append(local_stack.cli.run("up", "--yes", "--skip-preview", "-v=9", "--logtostderr"))
    (hook_now,) = client.list_webhooks()
    assert (hook_now.webhook_id, hook_now.url) == (hook.webhook_id, second.url)
    time.sleep(CACHE_TTL + 0.5)  # the server's cached webhook list expires (MLFLOW_WEBHOOK_CACHE_TTL)
    first.clear()
    local_stack.set("mrgov:models.cost_anomaly_detector.aliases.Production", "2")
    logs.append(local_stack.cli.run("up", "--yes", "--skip-preview", "-v=9", "--logtostderr"))
    assert verify(second.wait_for(is_pin("Production", "2")), secret)
    time.sleep(2)
    assert first.received() == []

    # Refresh reads the webhook from its id and keeps the state's secret: nothing changes.
    logs.append(local_stack.cli.run("refresh", "--yes", "--skip-preview", "-v=9", "--logtostderr"))
    assert changes(local_stack) == []

    # The secret is in clear nowhere: not in the raw state files, the export or the verbose logs.
    exported = local_stack.cli.run("stack", "export").stdout
    backend = Path(local_stack.cli.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    state_files = [p.read_text(errors="replace") for p in backend.rglob("*") if p.is_file()]
    assert state_files and all(len(r.stderr) > 10_000 for r in logs), "verbose logs expected"
    for text in [exported, *state_files, *(output(r) for r in logs)]:
        assert secret not in text
    resource = next(
        r for r in json.loads(exported)["deployment"]["resources"] if r["urn"].endswith(HOOK_NAME)
    )
    for kind in ("inputs", "outputs"):
        assert resource[kind]["secret"][SECRET_SIG] == ("1b47061264138c4ac30d75fd1eb44270"), (
            f"the secret must be a Pulumi secret in the state's {kind}"
        )


def _webhook_resource(stack: LocalStack) -> dict[str, Any]:
    return next(r for r in stack.resources() if r["urn"].endswith(f"::{HOOK_NAME}"))


def test_import_by_id_then_the_next_up_sets_the_declared_secret(
    local_stack: LocalStack, receivers: tuple[Receiver, Receiver]
) -> None:
    first, _ = receivers
    secret = declare_webhook(local_stack, first.url)
    local_stack.up()
    (hook,) = local_stack.registry.client().list_webhooks()
    provider = _urn(local_stack, "registry-mlflow-provider")
    parent = _urn(local_stack, "registry-mlflow")
    forget(local_stack, {_urn(local_stack, HOOK_NAME)})
    local_stack.proxy.reset()

    imported = local_stack.cli.run(
        "import", "--yes", "--generate-code=false", WebhookProps.TOKEN, HOOK_NAME, hook.webhook_id,
        "--parent", f"parent={parent}", "--provider", f"mrgov={provider}",
    )  # fmt: skip
    assert "1 imported" in imported.stdout, imported.stdout
    assert local_stack.proxy.writes() == []  # import reads, never writes
    state = _webhook_resource(local_stack)
    assert state["id"] == hook.webhook_id
    assert {k: state["inputs"][k] for k in ("name", "url", "events", "status")} == {
        "name": "deploy", "url": first.url, "events": [ALIAS_SET], "status": "ACTIVE",
    }  # fmt: skip
    # MLflow never returns a webhook's secret, so the import cannot know it: the state has none (a
    # secret property holding null; the declared secret was set only in the state that was dropped).
    shown = json.loads(local_stack.cli.run("stack", "export", "--show-secrets").stdout)
    (imported_state,) = [r for r in shown["deployment"]["resources"] if r["urn"].endswith(f"::{HOOK_NAME}")]
    assert [revealed(imported_state[k].get("secret")) for k in ("inputs", "outputs")] == [None, None]
    assert secret not in json.dumps(shown)

    # Honestly, then: the preview after the import shows exactly one change, the secret to set (masked),
    # and every other property of the webhook, and everything else in the stack, unchanged.
    steps = json.loads(local_stack.cli.run("preview", "--json", "--diff").stdout)["steps"]
    changed = [s for s in steps if s["op"] != "same"]
    assert [
        (s["urn"].rsplit("::", 1)[-1], s["op"], sorted(s.get("detailedDiff") or {})) for s in changed
    ] == [(HOOK_NAME, "update", ["secret"])]
    assert secret not in json.dumps(steps)

    # The next up sends the declared secret (one request, the webhook's update) and nothing else.
    local_stack.proxy.reset()
    local_stack.up()
    writes = [(w.method, w.path.split("?")[0]) for w in local_stack.proxy.writes()]
    assert writes == [("PATCH", f"/api/2.0/mlflow/webhooks/{hook.webhook_id}")]
    assert changes(local_stack) == []

    # ... and MLflow signs with it from then on.
    time.sleep(CACHE_TTL + 0.5)
    roll_back_production(local_stack)
    local_stack.up()
    assert verify(first.wait_for(is_pin("Production", "1")), secret)

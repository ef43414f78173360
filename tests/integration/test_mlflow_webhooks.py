"""`mrgov:events:Webhook` on a real MLflow server: create, read, import, update, delete, and real
deliveries to a loopback receiver, signed with the declared secret.

The module starts its own server (sqlite, basic auth) with the settings that let MLflow deliver to
http on 127.0.0.1 (tests/webhooks.py); the session server keeps MLflow's defaults. The test
process acts as that server's admin: only admins may manage webhooks.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Iterator

import pytest
from mlflow import MlflowClient

from localdev.mlflow_server import Server, start, stop
from provider.events.webhook import WebhookProps
from tests.integration.conftest import MakeMrgov, Mrgov
from tests.webhooks import SERVER_ENV, Receiver, receiving, verify

pytestmark = pytest.mark.integration

HOOK = WebhookProps.TOKEN
ALIAS_SET = "model_version_alias.created"


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("mlflow-webhooks")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in SERVER_ENV.items():
            mp.setenv(key, value)
        server = start(data, auth=True, password=secrets.token_urlsafe(18), secret_key=secrets.token_hex(16))
    try:
        yield server
    finally:
        stop(data)


@pytest.fixture
def admin(hook_server: Server, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    for key, value in hook_server.credentials_env.items():
        monkeypatch.setenv(key, value)
    return MlflowClient(tracking_uri=hook_server.url, registry_uri=hook_server.url)


@pytest.fixture
def hooks(hook_server: Server, admin: MlflowClient, make_mrgov: MakeMrgov) -> Mrgov:
    return make_mrgov(trackingUri=hook_server.url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture
def model(admin: MlflowClient) -> str:
    """A registered model with one version from a run, to set aliases on (no artifacts needed)."""
    name = f"it_{uuid.uuid4().hex[:8]}.gold_features.webhook_model"
    run = admin.create_run(experiment_id="0")
    admin.create_registered_model(name)
    admin.create_model_version(
        name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, await_creation_for=0
    )
    return name


def _hook(url: str, **props: object) -> dict[str, object]:
    return {"name": f"deploy-{uuid.uuid4().hex[:6]}", "url": url, "events": [ALIAS_SET], **props}


def test_create_read_import_update_delete(hooks: Mrgov, admin: MlflowClient) -> None:
    inputs = hooks.checked(HOOK, _hook("http://127.0.0.1:9/a", secret="first-secret", description="CI"))
    id_, state = hooks.create(HOOK, inputs)
    assert re.fullmatch(r"[0-9a-f-]{36}", id_)
    assert state == {**inputs, "status": "ACTIVE"}
    held = admin.get_webhook(id_)
    assert (held.name, held.url, [str(e) for e in held.events]) == (
        inputs["name"],
        inputs["url"],
        [ALIAS_SET],
    )
    assert held.secret is None  # MLflow never returns the secret

    read = hooks.read(HOOK, id_, state)  # refresh: the state's secret is kept
    assert read is not None and read.outs == state and read.inputs == state
    imported = hooks.read(HOOK, id_)  # import: the secret cannot be read back
    assert imported is not None and imported.outs == {**state, "secret": None}

    news = hooks.checked(
        HOOK,
        {**inputs, "url": "http://127.0.0.1:9/b", "events": ["model_version.created", ALIAS_SET]},
        inputs,
    )
    assert hooks.diff(HOOK, id_, state, news)["detailed"] == {"url": "update", "events": "update"}
    updated = hooks.update(HOOK, id_, state, news)
    assert updated == {**news, "status": "ACTIVE"}
    assert admin.get_webhook(id_).url == "http://127.0.0.1:9/b"

    hooks.delete(HOOK, id_, updated)
    assert id_ not in {w.webhook_id for w in admin.list_webhooks()}
    assert hooks.read(HOOK, id_, updated) is None  # gone is gone: refresh drops it
    hooks.delete(HOOK, id_, updated)  # deleting what is gone is fine


def test_a_repeated_create_adopts_the_webhook_of_that_name(hooks: Mrgov, admin: MlflowClient) -> None:
    """A create that ran before an interrupted `up` recorded it runs again: one webhook, set anew."""
    first = hooks.checked(HOOK, _hook("http://127.0.0.1:9/a", secret="first-secret"))
    id_, _ = hooks.create(HOOK, first)
    again = hooks.checked(
        HOOK, {**first, "url": "http://127.0.0.1:9/b", "description": "again", "secret": "second-secret"}
    )
    id_again, state = hooks.create(HOOK, again)
    assert id_again == id_
    assert state == {**again, "status": "ACTIVE"}
    named = [w for w in admin.list_webhooks() if w.name == first["name"]]
    assert [(w.webhook_id, w.url, w.description) for w in named] == [(id_, "http://127.0.0.1:9/b", "again")]
    hooks.delete(HOOK, id_, state)


def test_alias_moves_are_delivered_signed_and_a_new_secret_signs_the_next(
    hooks: Mrgov, admin: MlflowClient, receiver: Receiver, model: str
) -> None:
    inputs = hooks.checked(HOOK, _hook(receiver.url, secret="first-secret"))
    id_, state = hooks.create(HOOK, inputs)

    admin.set_registered_model_alias(model, "Production", "1")
    first = receiver.wait_for(lambda d: d.payload["data"].get("name") == model)
    assert first.event == ALIAS_SET
    assert first.payload["data"] == {"name": model, "alias": "Production", "version": "1"}
    assert verify(first, "first-secret") and not verify(first, "second-secret")

    news = hooks.checked(HOOK, {**inputs, "secret": "second-secret"}, inputs)
    assert hooks.diff(HOOK, id_, state, news)["detailed"] == {"secret": "update"}
    hooks.update(HOOK, id_, state, news)
    # The server delivers from its cached webhook list until MLFLOW_WEBHOOK_CACHE_TTL expires.
    time.sleep(float(SERVER_ENV["MLFLOW_WEBHOOK_CACHE_TTL"]) + 0.5)
    receiver.clear()
    admin.set_registered_model_alias(model, "Champion", "1")
    second = receiver.wait_for(lambda d: d.payload["data"].get("alias") == "Champion")
    assert verify(second, "second-secret") and not verify(second, "first-secret")
    hooks.delete(HOOK, id_, news)


def test_import_of_a_wrong_id_lists_the_webhooks_there(hooks: Mrgov) -> None:
    inputs = hooks.checked(HOOK, _hook("http://127.0.0.1:9/a"))
    id_, state = hooks.create(HOOK, inputs)
    message = hooks.refusal("read", HOOK, "no-such-webhook")
    assert message.startswith("webhook 'no-such-webhook' was not found on http://127.0.0.1:")
    assert f"{id_} ({inputs['name']})" in message
    hooks.delete(HOOK, id_, state)


def test_updating_a_webhook_deleted_by_hand_says_what_to_do(hooks: Mrgov, admin: MlflowClient) -> None:
    inputs = hooks.checked(HOOK, _hook("http://127.0.0.1:9/a"))
    id_, state = hooks.create(HOOK, inputs)
    admin.delete_webhook(id_)
    message = hooks.refusal("update", HOOK, id_, state, {**inputs, "url": "http://127.0.0.1:9/b"})
    assert message == (
        f"webhook {id_!r} ({inputs['name']}) no longer exists on {hooks.provider._connection().label}; "
        "run `pulumi refresh` and `pulumi up` to create it again"
    )


def test_the_server_s_own_refusal_is_one_clean_message(hooks: Mrgov) -> None:
    # MLflow's checks run on the server too; a name its rule refuses never gets past our check, so
    # this sends one straight to create, as a program that skipped `check` would.
    message = hooks.refusal("create", HOOK, {**_hook("http://127.0.0.1:9/a"), "name": "bad name"})
    assert message.startswith("the registry answered INVALID_PARAMETER_VALUE")
    assert "Webhook name 'bad name' is invalid" in message

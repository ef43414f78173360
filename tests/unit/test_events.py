"""Registry events in the provider: the webhook's vocabulary against MLflow's own code, and the input
checks of `mrgov:events:Webhook` and `mrgov:registry:DeploymentJobLink` (no server; a check that read
the registry would fail on the unreachable one configured here)."""

from __future__ import annotations

import asyncio
import typing
from typing import Any

import pytest
from pulumi.provider.experimental import provider as p

from provider import VERSION
from provider.config import Connection
from provider.declare import diff_of, parse, wire
from provider.events.limits import (
    WEBHOOK_EVENTS,
    WEBHOOK_STATUSES,
    event_problem,
    webhook_name_problem,
    webhook_url_problem,
)
from provider.events.webhook import WebhookProps
from provider.registry.deployment_job_link import DeploymentJobLinkProps
from provider.resources import RESOURCES
from provider.schema import package_schema
from provider.server import MrgovProvider
from provider.values import property_map

HOOK = WebhookProps.TOKEN
LINK = DeploymentJobLinkProps.TOKEN
NOWHERE = "http://127.0.0.1:9"


def test_the_events_are_mlflow_s_own() -> None:
    from mlflow.entities.webhook import VALID_ENTITY_ACTIONS, WebhookEventStr, WebhookStatus

    assert typing.get_args(WebhookEventStr) == WEBHOOK_EVENTS
    valid = {
        f"{entity.value}.{action.value}"
        for entity, actions in VALID_ENTITY_ACTIONS.items()
        for action in actions
    }
    assert set(WEBHOOK_EVENTS) == valid
    assert tuple(s.value for s in WebhookStatus) == WEBHOOK_STATUSES


def test_the_name_rule_is_mlflow_s_own() -> None:
    from mlflow.utils.validation import _WEBHOOK_NAME_REGEX

    for name in ("deploy", "Deploy.Hook_2-b", "a", "a" * 63, "a" * 64, "-deploy", "deploy-", "de ploy", ""):
        assert (webhook_name_problem(name) is None) is bool(_WEBHOOK_NAME_REGEX.fullmatch(name)), name


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://ci.example/hooks/mlflow", True),
        ("http://127.0.0.1:8080/hook", True),
        ("ftp://ci.example/hook", False),
        ("ci.example/hook", False),
        ("https:///no-host", False),
        ("https://ci.example/a b", False),
        ("http://[::1", False),
    ],
)
def test_webhook_url_problem(url: str, ok: bool) -> None:
    assert (webhook_url_problem(url) is None) is ok


def test_an_unknown_event_lists_what_is_allowed() -> None:
    assert event_problem("model_version_alias.set") == (
        "'model_version_alias.set' is not an MLflow webhook event; allowed: " + ", ".join(WEBHOOK_EVENTS)
    )


def _check(token: str, news: dict[str, Any], registry: str = NOWHERE) -> list[tuple[str, str]]:
    provider = MrgovProvider(VERSION, RESOURCES, lambda: "{}")
    provider._conn = Connection(registry_uri=registry, tracking_uri=NOWHERE)
    urn = f"urn:pulumi:s::p::{token}::x"
    # A loop of its own: asyncio.run would leave none behind for the mock tests that follow.
    loop = asyncio.new_event_loop()
    try:
        result = loop.run_until_complete(provider.check(p.CheckRequest(urn, {}, property_map(news), b"")))
    finally:
        loop.close()
    return [(f.property, f.reason) for f in result.failures or []]


GOOD_HOOK = {
    "name": "deploy",
    "url": "https://ci.example/hooks/mlflow",
    "events": ["model_version_alias.created"],
}


def test_a_good_webhook_passes_without_reading_the_registry() -> None:
    assert _check(HOOK, {**GOOD_HOOK, "secret": "s3cret", "status": "active"}) == []


def test_webhook_check_names_each_bad_property() -> None:
    bad = {
        "name": "-deploy",
        "url": "ftp://ci.example/hook",
        "events": ["model_version_alias.created", "model_version.updated"],
        "status": "PAUSED",
        "secret": " ",
    }
    assert _check(HOOK, bad) == [
        ("name", webhook_name_problem("-deploy")),
        (
            "url",
            "'ftp://ci.example/hook' is not an http(s) URL; allowed: https://host/path or http://host:port/path",
        ),
        ("events[1]", event_problem("model_version.updated")),
        ("status", "got 'PAUSED'; allowed: ACTIVE or DISABLED"),
        ("secret", "is empty; allowed: a secret, or none for unsigned deliveries"),
    ]
    assert _check(HOOK, {**GOOD_HOOK, "events": []}) == [
        ("events", "is empty; allowed: one or more of " + ", ".join(WEBHOOK_EVENTS))
    ]


def test_webhooks_are_refused_on_unity_catalog() -> None:
    assert _check(HOOK, GOOD_HOOK, registry="databricks-uc") == [
        (
            "url",
            "Unity Catalog has no MLflow webhooks; link a deployment job to the model instead "
            "(mrgov:registry:DeploymentJobLink, or deploymentJob in the stack spec)",
        )
    ]


def test_the_secret_is_secret_and_events_are_a_set() -> None:
    schema = package_schema()["resources"][HOOK]
    assert schema["inputProperties"]["secret"]["secret"] is True
    assert [k for k, v in schema["inputProperties"].items() if v.get("secret")] == ["secret"]
    hook, failures = parse(
        WebhookProps,
        {
            **GOOD_HOOK,
            "events": ["model_version.created", "model_version_alias.created", "model_version.created"],
        },
    )
    assert failures == [] and hook.events == ["model_version.created", "model_version_alias.created"]
    olds = {
        **GOOD_HOOK,
        "events": ["model_version.created", "model_version_alias.created"],
        "status": "ACTIVE",
    }
    # The engine diffs checked inputs: one order and one spelling, so a reordering is no change.
    checked, _ = parse(WebhookProps, {**olds, "events": olds["events"][::-1], "status": "active"})
    assert diff_of(WebhookProps, olds, wire(checked)).changes == ()


def test_a_new_secret_is_one_masked_update_and_nothing_is_replaced() -> None:
    olds = {**GOOD_HOOK, "status": "ACTIVE", "description": "", "secret": "old"}
    diff = diff_of(WebhookProps, olds, {**olds, "secret": "new", "url": "https://ci.example/v2"})
    assert [(c.path, c.kind, c.replace) for c in diff.changes] == [
        ("url", "update", False),
        ("secret", "update", False),
    ]
    # An imported webhook has no secret in its state: the declared one shows as the one change.
    imported = {**olds, "secret": None}
    assert [(c.path, c.kind) for c in diff_of(WebhookProps, imported, olds).changes] == [("secret", "add")]


def test_a_deployment_job_link_is_unity_catalog_s_and_takes_a_job_id() -> None:
    good = {"model": "dev_catalog.gold_features.cost_anomaly_detector", "jobId": "123"}
    assert _check(LINK, good, registry="databricks-uc") == []
    assert _check(LINK, {**good, "jobId": "job-7", "model": "m"}, registry="databricks-uc") == [
        ("model", "Unity Catalog model names have three parts (catalog.schema.model), got 'm'"),
        ("jobId", "must be a Databricks job id (digits, such as 123), got 'job-7'"),
    ]
    assert _check(LINK, good) == [
        (
            "model",
            "deployment jobs are a Unity Catalog feature; on an MLflow server declare a webhook "
            "(mrgov:events:Webhook, or webhooks in the stack spec) instead",
        )
    ]
    schema = package_schema()["resources"][LINK]
    assert schema["requiredInputs"] == ["model", "jobId"]
    assert schema["inputProperties"]["model"]["replaceOnChanges"] is True
    assert "jobState" in schema["properties"] and "jobState" not in schema["inputProperties"]
    assert diff_of(DeploymentJobLinkProps, good, {**good, "jobId": "456"}).replaces == []

"""The main job under the real engine: the local stack's whole lifecycle against a real MLflow server.

Every scenario asserts what the server holds afterwards (through MLflow's API), not only the CLI's exit
code. The server starts with the demo's trained versions already registered (see conftest.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from components.spec import StackSpec
from provider.registry.client import AuthClient
from tests.e2e.conftest import LocalStack, is_ours, type_of

pytestmark = pytest.mark.e2e

CAD = "local_catalog.gold_features.cost_anomaly_detector"
BF = "local_catalog.gold_features.budget_forecaster"
FP = "local_catalog.gold_features.failure_predictor"
LEVELS = {"EXECUTE": "READ", "MANAGE": "MANAGE"}


def role_permissions(stack: LocalStack) -> dict[str, dict[str, str]]:
    """{role: {model: level}} for the registered-model permissions of every role on the server."""
    out: dict[str, dict[str, str]] = {}
    for role in AuthClient(stack.registry.url).list_all_roles():
        for perm in role.get("permissions", []):
            if perm["resource_type"] == "registered_model" and not role["name"].startswith("__user_"):
                out.setdefault(role["name"], {})[perm["resource_pattern"]] = perm["permission"]
    return out


def assert_server_matches(stack: LocalStack, spec: StackSpec) -> None:
    """The server holds exactly what the spec declares, for every declared field."""
    client = stack.registry.client()
    for model in spec.models:
        held = client.get_registered_model(model.full_name)
        assert (held.description or "") == model.description, model.name
        assert {k: held.tags.get(k) for k in model.tags} == model.tags, model.name
        aliases = {a: int(v) for a, v in held.aliases.items()}
        assert {a: aliases.get(a) for a in model.aliases} == model.aliases, model.name
        for version, text in model.version_descriptions.items():
            assert client.get_model_version(model.full_name, str(version)).description == text
    perms = role_permissions(stack)
    for model in spec.models:
        for grant in model.grants:
            if grant.principal_kind == "group":
                assert model.full_name in perms.get(grant.principal, {}), (grant.principal, model.name)


def edit_stack_file(stack: LocalStack, change: Any) -> None:
    """Edit Pulumi.local.yaml as a person would: load, change, write back."""
    path = stack.project / "Pulumi.local.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc["config"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def urns(resources: list[dict[str, Any]]) -> set[str]:
    return {r["urn"] for r in resources}


def test_create_lists_everything_then_up_creates_it(local_stack: LocalStack) -> None:
    steps = local_stack.preview_steps()
    assert steps, "preview listed nothing"
    assert {s["op"] for s in steps} == {"create"}, [(s["op"], s["urn"]) for s in steps]
    planned = {s["urn"] for s in steps}
    spec = local_stack.spec()
    kinds = [type_of(s["urn"]) for s in steps]
    # One model, its metadata and its permissions per model; one role per group.
    assert kinds.count("mrgov:registry:RegisteredModel") == len(spec.models)
    assert kinds.count("mrgov:registry:ModelMetadata") == len(spec.models)
    assert kinds.count("mrgov:auth:ModelPermissions") == len(spec.models)
    assert kinds.count("mrgov:auth:Role") == 3

    local_stack.up()
    ours = {r["urn"] for r in local_stack.resources() if is_ours(r["urn"])}
    assert ours == planned
    assert_server_matches(local_stack, spec)


def test_second_up_changes_nothing_and_writes_nothing(local_stack: LocalStack) -> None:
    local_stack.up()
    assert local_stack.proxy.writes(), "the first up wrote nothing: is the proxy in the path?"
    local_stack.proxy.reset()
    again = local_stack.up()
    assert re.search(r"\b\d+ unchanged", again.stdout), again.stdout
    assert not re.search(r"\b(created|updated|deleted|replaced)\b", again.stdout.split("Resources:")[-1])
    assert local_stack.proxy.writes() == []
    print(f"no-op up: {len(local_stack.proxy.requests)} requests, 0 writes")


def test_one_pin_one_description_one_tag_are_three_updates_of_one_key_each(local_stack: LocalStack) -> None:
    local_stack.up()
    local_stack.set("mrgov:models.cost_anomaly_detector.aliases.Champion", "1")
    local_stack.set("mrgov:models.budget_forecaster.description", "Budget Forecaster, v2 of the docs.")
    local_stack.set("mrgov:models.failure_predictor.tags.algorithm", "gradient_boosting")

    changed = [s for s in local_stack.preview_steps("--diff") if s["op"] != "same"]
    assert sorted(s["op"] for s in changed) == ["update", "update", "update"], changed
    keys = {s["urn"].rsplit("::", 1)[-1]: sorted(s.get("detailedDiff") or {}) for s in changed}
    assert keys == {
        "registry-mlflow-budget_forecaster": ["description"],
        "registry-mlflow-cost_anomaly_detector-metadata": ['aliases["Champion"]'],
        "registry-mlflow-failure_predictor-metadata": ['tags["algorithm"]'],
    }

    local_stack.up()
    client = local_stack.registry.client()
    assert client.get_model_version_by_alias(CAD, "Champion").version == "1"
    assert client.get_registered_model(BF).description == "Budget Forecaster, v2 of the docs."
    assert client.get_registered_model(FP).tags["algorithm"] == "gradient_boosting"
    assert_server_matches(local_stack, local_stack.spec())


def test_drift_is_shown_and_restored_and_unmanaged_aliases_survive(local_stack: LocalStack) -> None:
    local_stack.up()
    client = local_stack.registry.client()
    client.set_registered_model_alias(CAD, "Challenger", "1")  # a training job's, not the stack's
    client.set_registered_model_alias(CAD, "Champion", "1")  # the stack pins 2
    client.delete_registered_model_tag(BF, "domain")

    drifted = [s for s in local_stack.preview_steps("--refresh") if s["op"] not in ("same", "refresh")]
    names = sorted(s["urn"].rsplit("::", 1)[-1] for s in drifted)
    assert names == [
        "registry-mlflow-budget_forecaster-metadata",
        "registry-mlflow-cost_anomaly_detector-metadata",
    ]

    local_stack.up("--refresh")
    assert client.get_model_version_by_alias(CAD, "Champion").version == "2"
    assert client.get_registered_model(BF).tags["domain"] == "cost"
    assert client.get_model_version_by_alias(CAD, "Challenger").version == "1"
    assert local_stack.outputs()["unmanagedAliases"] == {"cost_anomaly_detector": {"Challenger": "1"}}

    local_stack.up()
    assert client.get_model_version_by_alias(CAD, "Challenger").version == "1"


def test_models_registered_by_training_are_adopted_with_their_versions(local_stack: LocalStack) -> None:
    client = local_stack.registry.client()
    before = {m: client.get_registered_model(m) for m in (CAD, BF, FP)}
    versions = {m: sorted(v.version for v in client.search_model_versions(f"name='{m}'")) for m in before}
    assert all(versions.values()), "the template should hold trained versions"

    local_stack.up()
    for name, model in before.items():
        after = client.get_registered_model(name)
        assert after.creation_timestamp == model.creation_timestamp  # adopted, not recreated
        assert sorted(v.version for v in client.search_model_versions(f"name='{name}'")) == versions[name]


def test_dropping_a_model_with_versions_fails_and_retain_lets_it_go(local_stack: LocalStack) -> None:
    # The local stack retains its models by default; this one is governed for deletion.
    edit_stack_file(
        local_stack, lambda c: c["mrgov:models"].update(failure_predictor={"retainOnDelete": False})
    )
    local_stack.up()
    before = local_stack.resources()

    edit_stack_file(local_stack, lambda c: c["mrgov:models"].update(failure_predictor=None))
    for out in local_stack.refused():
        assert f"refusing to drop {FP} from the stack" in out, out
        assert "retainOnDelete: true" in out
    assert local_stack.resources() == before
    assert local_stack.registry.client().get_registered_model(FP).name == FP

    edit_stack_file(
        local_stack, lambda c: c["mrgov:models"].update(failure_predictor={"retainOnDelete": True})
    )
    local_stack.up()
    edit_stack_file(local_stack, lambda c: c["mrgov:models"].update(failure_predictor=None))
    local_stack.up()
    assert not any("failure_predictor" in u for u in urns(local_stack.resources()))
    held = local_stack.registry.client().get_registered_model(FP)
    assert held.name == FP
    assert list(local_stack.registry.client().search_model_versions(f"name='{FP}'"))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("mrgov:models.cost_anomaly_detector.aliases.latest", "1", "alias 'latest' is reserved"),
        ("mrgov:models.cost_anomaly_detector.grants[0].privileges[0]", "USE_MODEL", "EXECUTE"),
    ],
)
def test_bad_config_fails_preview_and_creates_nothing(
    local_stack: LocalStack, path: str, value: str, message: str
) -> None:
    client = local_stack.registry.client()
    tags_before = client.get_registered_model(CAD).tags
    local_stack.set(path, value)
    for out in local_stack.refused():
        assert message in out, out
        assert "Pulumi.local.yaml mrgov:" in out
    assert local_stack.resources() == [] or all(
        r["type"] == "pulumi:pulumi:Stack" for r in local_stack.resources()
    )
    assert client.get_registered_model(CAD).tags == tags_before


def test_no_secret_reaches_the_state_or_output(local_stack: LocalStack) -> None:
    password = local_stack.registry.server.password
    assert password
    local_stack.cli.run("config", "set", "--secret", "mrgov:someToken", "s3cr3t-config-value-42")
    up = local_stack.up()
    exported = local_stack.cli.run("stack", "export").stdout
    state_files = [p.read_text() for p in Path(local_stack.cli.env["PULUMI_BACKEND_URL"][7:]).rglob("*.json")]
    for text in [up.stdout, up.stderr, exported, *state_files]:
        assert password not in text
        assert "s3cr3t-config-value-42" not in text
    stack_file = (local_stack.project / "Pulumi.local.yaml").read_text()
    assert "s3cr3t-config-value-42" not in stack_file
    assert "secure:" in stack_file


def test_two_concurrent_ups_one_wins_one_gets_the_lock_error(local_stack: LocalStack) -> None:
    cmd = ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive"]
    procs = [
        subprocess.Popen(cmd, cwd=local_stack.project, env=local_stack.cli.env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]  # fmt: skip
    results = [(p.wait(timeout=600), p.stdout.read() if p.stdout else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] != 0, results
    loser = next(out for code, out in results if code != 0)
    assert "locked" in loser.lower(), loser
    exported = json.loads(local_stack.cli.run("stack", "export").stdout)
    assert exported["deployment"]["resources"], "the state must still be valid"
    assert not exported["deployment"].get("pending_operations")
    assert_server_matches(local_stack, local_stack.spec())


def test_server_stopped_mid_up_fails_clearly_then_converges(local_stack: LocalStack) -> None:
    cmd = ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive"]
    proc = subprocess.Popen(cmd, cwd=local_stack.project, env=local_stack.cli.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 300
    while not local_stack.proxy.writes() and time.monotonic() < deadline:
        time.sleep(0.05)
    local_stack.registry.stop()
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0, out
    assert re.search(r"(Connection refused|Max retries exceeded|upstream unreachable|502)", out), out
    assert "Traceback" not in out

    local_stack.registry.restart()
    local_stack.up()
    client = local_stack.registry.client()
    names = [m.name for m in client.search_registered_models(max_results=100)]
    assert sorted(names) == sorted(set(names))
    assert {CAD, BF, FP} <= set(names)
    assert_server_matches(local_stack, local_stack.spec())
    assert {s["op"] for s in local_stack.preview_steps()} <= {"same"}


def test_destroy_removes_what_the_stack_made_and_leaves_the_rest(local_stack: LocalStack) -> None:
    client = local_stack.registry.client()
    client.create_registered_model("local_catalog.gold_features.hand_made", description="not ours")
    edit_stack_file(
        local_stack,
        lambda c: c.setdefault("mrgov:modelDefaults", {}).update(retainOnDelete=True),
    )
    # A model the stack creates itself (no versions): destroy deletes it.
    edit_stack_file(
        local_stack,
        lambda c: c["mrgov:models"].update(
            usage_trend_forecaster={
                "description": "Forecasts usage trends.",
                "retainOnDelete": False,
                "tags": {"domain": "cost", "algorithm": "prophet", "model_type": "forecasting"},
            }
        ),
    )
    local_stack.up()
    client.set_registered_model_alias(CAD, "Challenger", "1")
    local_stack.cli.run("destroy", "--yes", "--skip-preview")

    names = {m.name for m in client.search_registered_models(max_results=100)}
    assert "local_catalog.gold_features.usage_trend_forecaster" not in names
    assert {CAD, BF, FP, "local_catalog.gold_features.hand_made"} <= names  # retained and unmanaged
    assert client.get_model_version_by_alias(CAD, "Challenger").version == "1"
    assert local_stack.resources() == []

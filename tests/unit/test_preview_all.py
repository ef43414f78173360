"""`make preview-all` without the engine: which stacks are skipped and why, reading Pulumi's JSON events,
and the Markdown summary. The Pulumi CLI is replaced by a fake that answers with recorded event shapes;
tests/e2e/test_preview_all.py runs the real one."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from components.databricks.reach import databricks_credentials_problem
from components.mlflow import target as mlflow_target
from components.spec import DatabricksTarget
from localdev import preview_all
from localdev.preview_all import Pulumi, StackPreview, read_events, render

ROOT = Path(__file__).resolve().parents[2]
URN = "urn:pulumi:{stack}::mrgov::{type}::{name}"
# URN types name the resource's parents' types too: a model's metadata on the local stack, and so on.
PARENTS = "mrgov:index:Environment$mrgov:mlflow:Registry"
METADATA = f"{PARENTS}$mrgov:registry:RegisteredModel$mrgov:registry:ModelMetadata"
PERMISSIONS = f"{PARENTS}$mrgov:registry:RegisteredModel$mrgov:auth:ModelPermissions"
PROVIDER = f"{PARENTS}$pulumi:providers:mrgov"


def pre(op: str, name: str, type_: str = METADATA, stack: str = "local") -> dict[str, Any]:
    urn = URN.format(stack=stack, type=type_, name=name)
    return {"resourcePreEvent": {"metadata": {"op": op, "urn": urn, "type": type_.split("$")[-1]}}}


def policy(level: str, rule: str, message: str, name: str = "", stack: str = "local") -> dict[str, Any]:
    urn = URN.format(stack=stack, type="pulumi:pulumi:Stack", name=f"mrgov-{stack}")
    if name:
        urn = URN.format(stack=stack, type=METADATA, name=name)
    return {
        "policyEvent": {
            "resourceUrn": urn,
            "message": f"the rule's title\n{message}\n",
            "policyName": rule,
            "policyPackName": "mrgov",
            "enforcementLevel": level,
        }
    }


def summary(same: int = 0) -> dict[str, Any]:
    return {"summaryEvent": {"resourceChanges": {"same": same}, "isPreview": True}}


class FakePulumi(Pulumi):
    """Answers `stack ls`, `plugin ls` and `preview` from canned data, and records the calls."""

    def __init__(
        self,
        project: Path,
        *,
        stacks: Sequence[str] = ("local",),
        events: Mapping[str, list[dict[str, Any]]] | None = None,
        returncode: int = 0,
        plugins: Sequence[str] = (),
    ) -> None:
        super().__init__(["pulumi"], project)
        self.known_stacks, self.events, self.returncode, self.plugins = (
            stacks,
            events or {},
            returncode,
            plugins,
        )
        self.calls: list[tuple[str, ...]] = []

    def run(
        self, *args: str, extra_env: Mapping[str, str] | None = None, timeout: float = 1200
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        if args[:2] == ("stack", "ls"):
            out = json.dumps([{"name": f"organization/mrgov/{s}"} for s in self.known_stacks])
            return subprocess.CompletedProcess(args, 0, out, "")
        if args[:2] == ("plugin", "ls"):
            return subprocess.CompletedProcess(
                args, 0, json.dumps([{"name": p, "kind": "resource"} for p in self.plugins]), ""
            )
        assert args[0] == "preview" and "--json" in args and "--policy-pack" in args
        assert (extra_env or {}).get("PULUMI_ENABLE_STREAMING_JSON_PREVIEW") == "1"
        stack = args[args.index("--stack") + 1]
        lines = "\n".join(json.dumps(e) for e in self.events.get(stack, []))
        return subprocess.CompletedProcess(args, self.returncode, lines, "error: preview failed\n")


@pytest.fixture
def mlflow_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack's MLflow server answers (without a network call)."""
    monkeypatch.setattr(mlflow_target, "mlflow_problem", lambda target, timeout=3.0: None)


def test_databricks_stacks_without_credentials_are_skipped_and_do_not_fail(
    mlflow_up: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = {"local": [pre("create", "m1"), pre("create", "m2"), pre("update", "a1"), summary(same=7)]}
    fake = FakePulumi(ROOT, events=events)
    monkeypatch.setattr(preview_all, "Pulumi", lambda command, project: fake)
    for key in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.databrickscfg either
    output = tmp_path / "summary.md"

    code = preview_all.main(["--output", str(output)])

    assert code == 0
    text = output.read_text()
    assert text == capsys.readouterr().out.rstrip("\n") + "\n"
    assert "| `local` | mlflow http://127.0.0.1:5000 | ✅ previewed | 2 | 1 | 0 | 0 | no violations |" in text
    for stack in ("dev", "staging", "prod"):
        assert f"| `{stack}` | databricks (host from env) | ⏭️ skipped |  |  |  |  | not run |" in text
        section = text.split(f"## `{stack}`: ⏭️ skipped")[1].split("## ")[0]
        assert "Skipped: no Databricks credentials: DATABRICKS_HOST and DATABRICKS_TOKEN not set" in section
    assert "**Changes**: 2 to create, 1 to update; 7 unchanged." in text
    assert [c[0] for c in fake.calls].count("preview") == 1  # only the reachable stack ran


def test_databricks_credentials() -> None:
    target = DatabricksTarget(kind="databricks")
    assert databricks_credentials_problem(target, {"DATABRICKS_HOST": "h", "DATABRICKS_TOKEN": "t"}) is None
    oauth = {"DATABRICKS_HOST": "h", "DATABRICKS_CLIENT_ID": "i", "DATABRICKS_CLIENT_SECRET": "s"}
    assert databricks_credentials_problem(target, oauth) is None
    with_host = DatabricksTarget(kind="databricks", host="https://adb-1.azuredatabricks.net")
    assert databricks_credentials_problem(with_host, {"DATABRICKS_TOKEN": "t"}) is None
    problem = databricks_credentials_problem(target, {"DATABRICKS_HOST": "h"})
    assert problem is not None and problem.startswith("no Databricks credentials: DATABRICKS_TOKEN not set")


def test_databricks_profile_must_exist(tmp_path: Path) -> None:
    cfg = tmp_path / "databrickscfg"
    cfg.write_text("[prod]\nhost = https://adb-1.azuredatabricks.net\ntoken = x\n")
    env = {"DATABRICKS_CONFIG_FILE": str(cfg)}
    assert databricks_credentials_problem(DatabricksTarget(kind="databricks", profile="prod"), env) is None
    problem = databricks_credentials_problem(DatabricksTarget(kind="databricks", profile="dev"), env)
    assert problem == f"profile 'dev' is not in {cfg}"
    env_profile = {**env, "DATABRICKS_CONFIG_PROFILE": "prod"}
    assert databricks_credentials_problem(DatabricksTarget(kind="databricks"), env_profile) is None


def test_credentials_without_the_provider_plugin_is_a_skip_too(mlflow_up: None) -> None:
    fake = FakePulumi(ROOT, stacks=("dev",))
    env = {"DATABRICKS_HOST": "https://adb-1.azuredatabricks.net", "DATABRICKS_TOKEN": "t"}
    [dev] = preview_all.preview_all(["dev"], fake, env)
    assert dev.status == "skipped"
    assert "pulumi-resource-databricks) is not installed" in dev.reason
    with_plugin = FakePulumi(ROOT, stacks=("dev",), plugins=("databricks",), events={"dev": [summary(12)]})
    [dev] = preview_all.preview_all(["dev"], with_plugin, env)
    assert dev.status == "previewed"
    assert dev.counts == {"create": 0, "update": 0, "replace": 0, "delete": 0, "same": 12}


def test_a_stack_missing_from_the_backend_is_skipped(mlflow_up: None) -> None:
    [local] = preview_all.preview_all(["local"], FakePulumi(ROOT, stacks=()), {})
    assert local.status == "skipped"
    assert local.reason.startswith("stack 'local' does not exist in the backend yet; create it with")


def test_read_events_folds_replacements_and_keeps_policy_results() -> None:
    result = StackPreview("local", "mlflow", "previewed")
    lines = [
        "not json",
        json.dumps(pre("create-replacement", "m")),
        json.dumps(pre("replace", "m")),
        json.dumps(pre("delete-replaced", "m")),
        json.dumps(pre("same", "kept")),
        json.dumps(pre("delete", "gone")),
        json.dumps(pre("update", "perms", PERMISSIONS)),
        json.dumps(pre("create", "registry-mlflow-provider", PROVIDER)),
        json.dumps(policy("advisory", "pinned-version-described", "version 2 has no description", "a")),
        json.dumps(policy("mandatory", "required-tags", "required tag 'domain' is missing")),
        json.dumps({"diagnosticEvent": {"severity": "error", "message": "boom\n"}}),
        json.dumps(summary(same=3)),
    ]
    read_events(lines, result)
    assert result.counts == {"create": 1, "update": 1, "replace": 1, "delete": 1, "same": 3}
    # Each change is listed with the resource's own type, not its parents'.
    assert result.changes == [
        ("create", "registry-mlflow-provider", "pulumi:providers:mrgov"),
        ("delete", "gone", "mrgov:registry:ModelMetadata"),
        ("replace", "m", "mrgov:registry:ModelMetadata"),
        ("update", "perms", "mrgov:auth:ModelPermissions"),
    ]
    assert [(p.level, p.rule, p.message, p.resource) for p in result.policy] == [
        ("advisory", "pinned-version-described", "version 2 has no description", "a"),
        ("mandatory", "required-tags", "required tag 'domain' is missing", ""),
    ]
    assert result.errors == ["boom"]


def test_a_mandatory_violation_fails_the_stack_and_the_command(
    mlflow_up: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events = {
        "local": [
            pre("create", "m"),
            policy("mandatory", "model-description", "description is missing or empty", "m"),
            summary(),
        ]
    }
    fake = FakePulumi(ROOT, events=events, returncode=255)
    monkeypatch.setattr(preview_all, "Pulumi", lambda command, project: fake)
    output = tmp_path / "summary.md"
    config = tmp_path / "policy.json"
    assert preview_all.main(["local", "--output", str(output), "--policy-pack-config", str(config)]) == 1
    [preview] = [c for c in fake.calls if c[0] == "preview"]
    assert preview[preview.index("--policy-pack-config") + 1] == str(config)
    assert preview[preview.index("--policy-pack") + 1] == str(ROOT / "policies")
    text = output.read_text()
    assert "| `local` | mlflow http://127.0.0.1:5000 | ❌ failed | 1 | 0 | 0 | 0 | 1 mandatory |" in text
    assert "Why: 1 mandatory policy violation(s)." in text
    assert "- ❌ mandatory `model-description` on `m`: description is missing or empty" in text


def test_a_broken_stack_config_fails_before_pulumi_runs(tmp_path: Path) -> None:
    shutil.copy2(ROOT / "registry.yaml", tmp_path / "registry.yaml")
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n  mrgov:target: {kind: mlflow, trackingUri: 'http://127.0.0.1:1'}\n"
        "  mrgov:catalog: bad_catalog\n"
        "  mrgov:models: {budget_forecaster: {aliases: {latest: 1}}}\n"
    )
    fake = FakePulumi(tmp_path, stacks=("bad",))
    [bad] = preview_all.preview_all(["bad"], fake, {})
    assert bad.status == "failed"
    assert bad.target == "mlflow"
    assert [(p.level, p.rule) for p in bad.policy] == [("mandatory", "alias-name")]
    assert "Pulumi.bad.yaml mrgov:models.budget_forecaster.aliases.latest: alias 'latest' is reserved" in (
        bad.policy[0].message
    )
    assert not [c for c in fake.calls if c[0] == "preview"]
    assert "| `bad` | mlflow | ❌ failed |  |  |  |  | 1 mandatory |" in render([bad])

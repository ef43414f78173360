"""`make preview-all` on the real engine, on a copy of the project with its own backend.

The local stack is previewed (against the session's MLflow server) with the policy pack; the Databricks
stacks, with no credentials here, are listed as skipped and do not fail the command. A pack setting that
the local stack cannot meet turns its preview into a failure the summary reports, rule by rule.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, PulumiCli
from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def preview_all(cli: PulumiCli, output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in cli.env.items() if not k.startswith("DATABRICKS_")}
    env["HOME"] = str(output.parent)  # no ~/.databrickscfg profile either
    extra = " ".join([f"--project {cli.project}", "--pulumi pulumi", f"--output {output}", *args])
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), "preview-all", f"ARGS={extra}"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def section(text: str, stack: str) -> str:
    return text.split(f"## `{stack}`: ")[1].split("\n## ")[0]


def test_preview_all_previews_what_it_can_reach(tmp_path: Path, local_stack: LocalStack) -> None:
    # A server holding the demo's trained versions: the preview checks the versions the aliases pin.
    cli = local_stack.cli
    url = local_stack.proxy.url
    output = tmp_path / "summary.md"

    ran = preview_all(cli, output)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    text = output.read_text()
    assert text in ran.stdout
    steps = json.loads(cli.run("preview", "--json").stdout)["steps"]
    creates = sum(1 for s in steps if s["op"] == "create")
    assert f"| `local` | mlflow {url} | ✅ previewed | {creates} | 0 | 0 | 0 | no violations |" in text
    local = section(text, "local")
    assert f"**Changes**: {creates} to create; 0 unchanged." in local
    assert "`mrgov:registry:RegisteredModel` |" in local
    assert "**Policy**: no violations." in local
    for stack in ("dev", "staging", "prod"):
        assert f"| `{stack}` | databricks (host from env) | ⏭️ skipped |  |  |  |  | not run |" in text
        assert "Skipped: no Databricks credentials: DATABRICKS_HOST and DATABRICKS_TOKEN not set" in section(
            text, stack
        )

    # The pack's settings apply to every stack it previews: here one the local stack does not meet.
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"required-tags": {"requiredTags": ["owner"]}}))
    failed = preview_all(cli, output, f"--policy-pack-config {config}")

    assert failed.returncode != 0
    text = output.read_text()
    local = section(text, "local")
    assert local.startswith("❌ failed")
    assert "Why: 3 mandatory policy violation(s)." in local
    model = "registry-mlflow-cost_anomaly_detector"
    assert (
        f"- ❌ mandatory `required-tags` on `{model}`: mrgov RegisteredModel '{model}' "
        "(model 'local_catalog.gold_features.cost_anomaly_detector'): required tag 'owner' is missing or "
        "empty; allowed: every model carries owner"
    ) in local
    assert text.count("⏭️ skipped") == 6  # the three Databricks stacks, in the table and their sections

"""The YAML example (examples/yaml) under the real engine and Pulumi's YAML language host.

The same provider plugin as the Python program, driven from `runtime: yaml`: a training job registers
one signed version of the example's model, `pulumi up` adopts the model and pins Production to it,
and a second `up` changes nothing and sends no write to the server (counted by a proxy in front of it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from mlflow import MlflowClient

from localdev.counting_proxy import CountingProxy
from localdev.mlflow_server import Server
from tests.conftest import ROOT, PulumiCli, cli_env

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "yaml"
PLUGIN_ENTRY = "path: ../../provider"


def copy_example(dest: Path) -> Path:
    """The example in `dest`, its plugin entry pointing at this repository's provider/."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", "Pulumi.*.yaml"))
    project = dest / "Pulumi.yaml"
    text = project.read_text()
    assert text.count(PLUGIN_ENTRY) == 1, "the example's plugins.providers entry moved"
    project.write_text(text.replace(PLUGIN_ENTRY, f"path: {ROOT / 'provider'}"))
    return dest


def test_yaml_example_up_pins_the_alias_and_a_second_up_changes_nothing(
    tmp_path: Path, engine_bin: str, mlflow_server: Server, admin_env: dict[str, str]
) -> None:
    timings: dict[str, float] = {}
    project = copy_example(tmp_path / "example")
    program = yaml.safe_load((project / "Pulumi.yaml").read_text())
    assert program["runtime"] == "yaml"
    model = program["config"]["modelName"]["default"]
    declared = program["resources"]["metadata"]["properties"]["tags"]
    description = program["resources"]["model"]["properties"]["description"]

    # A training pipeline's job, before the stack exists: one signed version, and its Challenger alias.
    started = time.monotonic()
    trained = subprocess.run(
        [sys.executable, str(project / "register_version.py"), "--tracking-uri", mlflow_server.url],
        env={**os.environ, **admin_env}, text=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.strip().splitlines()[-1] == "1"
    timings["register"] = time.monotonic() - started
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)  # as the admin

    cli = PulumiCli(project, cli_env(tmp_path, engine_bin, mlflow_server.credentials_env))
    with CountingProxy(mlflow_server.url) as proxy:
        cli.run("stack", "init", "dev")
        cli.run("config", "set", "trackingUri", proxy.url)

        started = time.monotonic()
        first = cli.run("up", "--yes")
        timings["first up"] = time.monotonic() - started
        assert "4 created" in first.stdout, first.stdout
        assert proxy.writes(), "the provider should reach the server through the proxy"

        held = client.get_registered_model(model)
        assert held.description == description
        assert {k: held.tags.get(k) for k in declared} == declared
        assert client.get_model_version_by_alias(model, "Production").version == "1"
        assert held.aliases == {"Challenger": "1", "Production": "1"}

        outputs = json.loads(cli.run("stack", "output", "--json").stdout)
        assert outputs == {
            "modelName": model,
            "productionUri": f"models:/{model}@Production",
            "otherAliases": {"Challenger": "1"},
        }

        proxy.reset()
        started = time.monotonic()
        second = cli.run("up", "--yes")
        timings["second up"] = time.monotonic() - started
        assert "4 unchanged" in second.stdout, second.stdout
        for verb in ("created", "updated", "replaced", "deleted"):
            assert verb not in second.stdout, second.stdout
        assert proxy.writes() == [], [f"{r.method} {r.path}" for r in proxy.writes()]
        requests = len(proxy.requests)

    history = json.loads(cli.run("stack", "history", "--json").stdout)
    assert history[0]["resourceChanges"] == {"same": 4}, history[0]
    assert client.get_model_version_by_alias(model, "Production").version == "1"
    print(
        "yaml example: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
        + f"; second up: {requests} requests, 0 writes"
    )  # fmt: skip

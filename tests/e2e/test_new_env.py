"""`make new-env` on the real engine: bootstrap an MLflow environment from `local`, then bring it up.

The new environment `qa` gets its own catalog and its own MLflow server (a second one, holding the
versions a training pipeline registered), as a new environment would. `pulumi up` (with the policy pack)
builds the registry there, and a second preview shows nothing left to do.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from components.spec import MlflowTarget, build_from_files
from tests.conftest import ROOT, PulumiCli
from tests.e2e.conftest import Registry

pytestmark = pytest.mark.e2e

POLICIES = str(ROOT / "policies")
MODEL = "qa_catalog.gold_features.cost_anomaly_detector"


def new_env(cli: PulumiCli, *args: str) -> subprocess.CompletedProcess[str]:
    """`make new-env` from the repository, pointed at the test's project copy and its backend."""
    extra = f"--project {cli.project} --pulumi pulumi " + " ".join(args)
    make = ["make", "-s", "-C", str(ROOT), "new-env", "ENV=qa", "CATALOG=qa_catalog", "FROM=local"]
    return subprocess.run(
        [*make, f"ARGS={extra}"],
        env=cli.env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_bootstrap_an_mlflow_environment_and_bring_it_up(pulumi_cli: PulumiCli, registry: Registry) -> None:
    # The qa environment's own server (tests/e2e/conftest.py): not the one the local stack uses.
    cli = PulumiCli(pulumi_cli.project, {**pulumi_cli.env, **registry.server.credentials_env})

    made = new_env(cli, "--tracking-uri", registry.url)
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"wrote {cli.project / 'Pulumi.qa.yaml'} from Pulumi.local.yaml" in made.stdout
    assert "initialised stack 'qa'" in made.stdout
    stacks = json.loads(cli.run("stack", "ls", "--json").stdout)
    assert [s["name"] for s in stacks] == ["qa"]
    spec = build_from_files(cli.project, "qa")
    assert spec.catalog.name == "qa_catalog"
    assert isinstance(spec.target, MlflowTarget) and spec.target.tracking_uri == registry.url
    local = build_from_files(cli.project, "local")
    assert {m.name: m.aliases for m in spec.models} == {m.name: m.aliases for m in local.models}

    again = new_env(cli, "--tracking-uri", registry.url)
    assert again.returncode != 0
    assert "Pulumi.qa.yaml exists already; refusing to overwrite it" in again.stderr

    # The qa registry as its training pipeline would leave it: the seed's models and their versions,
    # under the new catalog. (The fixture's registry was trained once per session as local_catalog;
    # a rename keeps the versions and saves training them again.)
    client = registry.client()
    for m in spec.models:
        client.rename_registered_model(f"{local.catalog.name}.gold_features.{m.name}", m.full_name)

    up = cli.run("up", "--yes", "--stack", "qa", "--policy-pack", POLICIES)
    assert "[mandatory]" not in up.stdout

    model = client.get_registered_model(MODEL)
    declared = spec.model_by_name("cost_anomaly_detector")
    assert model.description == declared.description
    assert {k: model.tags.get(k) for k in declared.tags} == declared.tags
    assert {a: int(v) for a, v in model.aliases.items()} == declared.aliases
    assert {m.name for m in client.search_registered_models()} == {m.full_name for m in spec.models}

    steps = json.loads(cli.run("preview", "--json", "--stack", "qa").stdout)["steps"]
    assert {s["op"] for s in steps} == {"same"}

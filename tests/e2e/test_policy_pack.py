"""The policy pack under the real engine: `pulumi preview|up --policy-pack policies`.

The stack spec refuses bad config before any resource registers, so these tests use a small program of
their own that declares the mrgov provider's resources directly (provider.sdk, on an explicit
`sdk.Provider`): the "program that does not use our spec" the pack exists for. The engine runs the pack
through our language host's RunPlugin, and the provider from this checkout (`plugins` in Pulumi.yaml).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from localdev.mlflow_server import Server
from tests.conftest import ROOT, PulumiCli

pytestmark = pytest.mark.e2e

POLICIES = str(ROOT / "policies")
MODEL = "policy_catalog.gold_features.spend_forecaster"

PROGRAM = """\
import os

import pulumi

from provider import sdk

# The server's URL; the credentials come from MLFLOW_TRACKING_USERNAME / _PASSWORD at call time.
registry = sdk.Provider("registry", sdk.ProviderArgs(tracking_uri=os.environ["POLICY_TEST_TRACKING_URI"]))
tags = {{"domain": "cost", "algorithm": "prophet", "model_type": "forecasting"}}
model = sdk.RegisteredModel(
    "model",
    sdk.RegisteredModelArgs(name="{model}", description={description!r}, initial_tags=tags),
    pulumi.ResourceOptions(provider=registry),
)
sdk.ModelMetadata(
    "metadata",
    sdk.ModelMetadataArgs(model="{model}", tags=tags),
    # The model must exist before its metadata is applied.
    pulumi.ResourceOptions(provider=registry, parent=model, depends_on=[model]),
)
"""


def program(tmp_path: Path, cli: PulumiCli, server: Server, *, description: str) -> PulumiCli:
    """A one-model Pulumi program in its own folder, with the fixture's backend and credentials."""
    project = tmp_path / "policy-program"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        textwrap.dedent(f"""\
            name: policytest
            runtime:
              name: python
              options:
                virtualenv: {ROOT / ".venv"}
            plugins:
              providers:
                - name: mrgov
                  path: {ROOT / "provider"}
            """)
    )
    (project / "__main__.py").write_text(PROGRAM.format(model=MODEL, description=description))
    env = {**cli.env, "PYTHONPATH": str(ROOT), "POLICY_TEST_TRACKING_URI": server.url}
    return PulumiCli(project, env)


def exists(server: Server) -> bool:
    try:
        MlflowClient(tracking_uri=server.url, registry_uri=server.url).get_registered_model(MODEL)
    except MlflowException as exc:
        assert "RESOURCE_DOES_NOT_EXIST" in str(exc)
        return False
    return True


def test_mandatory_violation_blocks_preview_and_up(
    tmp_path: Path, pulumi_cli: PulumiCli, mlflow_server: Server, admin_env: dict[str, str]
) -> None:
    cli = program(tmp_path, pulumi_cli, mlflow_server, description="")
    cli.run("stack", "init", "dev")

    preview = cli.run("preview", "--policy-pack", POLICIES, check=False)
    assert preview.returncode != 0
    out = preview.stdout
    assert "[mandatory]  model-description" in out, out
    assert (
        f"mrgov RegisteredModel 'model' (model '{MODEL}'): description is missing or empty; "
        "allowed: a text saying what the model does, how and for whom"
    ) in out

    up = cli.run("up", "--yes", "--policy-pack", POLICIES, check=False)
    assert up.returncode != 0
    assert "[mandatory]  model-description" in up.stdout
    assert not exists(mlflow_server), "a policy violation must stop up before anything is created"
    assert json.loads(cli.run("stack", "export").stdout)["deployment"].get("resources") in (None, [])


def test_advisory_violation_warns_and_up_goes_ahead(
    tmp_path: Path, pulumi_cli: PulumiCli, mlflow_server: Server, admin_env: dict[str, str]
) -> None:
    cli = program(tmp_path, pulumi_cli, mlflow_server, description="Forecasts month-end spend.")
    cli.run("stack", "init", "prod")
    # The pack's config, as `--policy-pack-config` gives it: nothing here is served, so prod needs no
    # Production alias; what is left is the advisory: prod resources should be protected.
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"production-alias": {"servedModels": []}}))
    flags = ("--policy-pack", POLICIES, "--policy-pack-config", str(config))

    preview = cli.run("preview", *flags)
    assert "[advisory]  protect-production" in preview.stdout, preview.stdout
    assert "protect is not set in production environment 'prod'" in preview.stdout
    assert "[mandatory]" not in preview.stdout

    up = cli.run("up", "--yes", *flags)
    assert "[advisory]  protect-production" in up.stdout
    assert exists(mlflow_server)

    cli.run("destroy", "--yes")
    assert not exists(mlflow_server)

"""The mrgov provider under the real engine: preview reads the registry, import, refresh, clean errors,
credentials, and the schema.

Like test_lifecycle.py, each test runs the `local` stack in a project copy against its own MLflow
server (holding the demo's trained versions), behind a counting proxy.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from provider.auth.model_permissions import ModelPermissionsProps
from provider.auth.role import RoleProps
from provider.events.webhook import WebhookProps
from provider.registry.deployment_job_link import DeploymentJobLinkProps
from provider.registry.model_metadata import ModelMetadataProps
from provider.registry.registered_model import RegisteredModelProps
from tests.conftest import ROOT
from tests.e2e.conftest import LocalStack, type_of
from tests.e2e.test_lifecycle import CAD, FP, edit_stack_file

pytestmark = pytest.mark.e2e


def log_unsigned_version(stack: LocalStack, model: str) -> str:
    """Register a new version of `model` logged without a signature; returns its number."""
    import mlflow

    class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input

    mlflow.set_tracking_uri(stack.registry.url)
    mlflow.set_experiment("/unsigned")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="m", python_model=Echo(), pip_requirements=["mlflow"])
    return str(mlflow.register_model(info.model_uri, model).version)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_alias_to_an_unsigned_version_fails_preview_and_the_alias_stays(local_stack: LocalStack) -> None:
    local_stack.up()
    unsigned = log_unsigned_version(local_stack, CAD)
    local_stack.set("mrgov:models.cost_anomaly_detector.aliases.Production", unsigned)
    local_stack.proxy.reset()

    for out in local_stack.refused():
        assert "registry-mlflow-cost_anomaly_detector-metadata" in out  # the resource
        assert "aliases.Production" in out  # the property
        assert f"cannot point alias 'Production' at version {unsigned}" in out
        assert "logged without a signature" in out and "infer_signature" in out  # what to do
    assert local_stack.proxy.writes() == []
    assert local_stack.registry.client().get_model_version_by_alias(CAD, "Production").version == "2"


def test_alias_to_a_missing_version_fails_preview(local_stack: LocalStack) -> None:
    local_stack.set("mrgov:models.budget_forecaster.aliases.Production", "42")
    failed = local_stack.cli.run("preview", check=False)
    assert failed.returncode != 0
    out = output(failed)
    assert "aliases.Production" in out and "version 42" in out and "does not exist" in out
    assert "Traceback" not in out


def test_destroy_refusing_a_model_with_versions_is_one_clean_message(local_stack: LocalStack) -> None:
    edit_stack_file(
        local_stack, lambda c: c["mrgov:models"].update(failure_predictor={"retainOnDelete": False})
    )
    local_stack.up()
    failed = local_stack.cli.run("destroy", "--yes", "--skip-preview", check=False)
    assert failed.returncode != 0
    out = output(failed)
    assert f"refusing to delete registered model '{FP}'" in out
    assert "retainOnDelete: true" in out
    assert "Traceback" not in out
    assert local_stack.registry.client().get_registered_model(FP).name == FP


def forget(stack: LocalStack, urns: set[str]) -> None:
    """Drop resources from the state only (the registry keeps them), and every reference to them.

    `pulumi state delete` refuses a resource others depend on (every model's permissions depend on
    the roles), so this edits an export and imports it back.
    """
    exported = json.loads(stack.cli.run("stack", "export").stdout)
    kept = []
    for resource in exported["deployment"]["resources"]:
        if resource["urn"] in urns:
            continue
        resource["dependencies"] = [d for d in resource.get("dependencies", []) if d not in urns]
        resource["propertyDependencies"] = {
            k: [d for d in v if d not in urns] for k, v in resource.get("propertyDependencies", {}).items()
        }
        kept.append(resource)
    exported["deployment"]["resources"] = kept
    path = stack.project / "forgotten.json"
    path.write_text(json.dumps(exported))
    stack.cli.run("stack", "import", "--file", str(path))


def _urn(stack: LocalStack, name: str) -> str:
    return next(r["urn"] for r in stack.resources() if r["urn"].endswith(f"::{name}"))


def test_import_of_every_type_then_preview_shows_no_changes(local_stack: LocalStack) -> None:
    # An imported model starts with retainOnDelete false (the flag lives in the state only).
    edit_stack_file(
        local_stack, lambda c: c["mrgov:models"].update(cost_anomaly_detector={"retainOnDelete": False})
    )
    local_stack.up()
    provider = _urn(local_stack, "registry-mlflow-provider")
    registry = _urn(local_stack, "registry-mlflow")
    model = "registry-mlflow-cost_anomaly_detector"
    imports = [  # (type, name, id, parent name)
        (RegisteredModelProps.TOKEN, model, CAD, "registry-mlflow"),
        (ModelMetadataProps.TOKEN, f"{model}-metadata", CAD, model),
        (ModelPermissionsProps.TOKEN, f"{model}-permissions", CAD, model),
        (RoleProps.TOKEN, "registry-mlflow-role-dashboards", "default/dashboards", "registry-mlflow"),
    ]
    forget(local_stack, {_urn(local_stack, name) for _, name, _, _ in imports})
    local_stack.proxy.reset()

    for token, name, id_, parent in imports:
        parent_urn = registry if parent == "registry-mlflow" else _urn(local_stack, parent)
        result = local_stack.cli.run(
            "import", "--yes", "--generate-code=false", token, name, id_,
            "--parent", f"parent={parent_urn}", "--provider", f"mrgov={provider}",
        )  # fmt: skip
        assert "1 imported" in result.stdout, result.stdout
    assert local_stack.proxy.writes() == []  # import reads, never writes
    assert {type_of(_urn(local_stack, name)) for _, name, _, _ in imports} == {t for t, *_ in imports}

    steps = local_stack.preview_steps("--diff")
    assert {s["op"] for s in steps} <= {"same"}, [(s["op"], s["urn"], s.get("detailedDiff")) for s in steps]


def test_import_of_a_missing_id_says_so(local_stack: LocalStack) -> None:
    local_stack.up()
    provider = _urn(local_stack, "registry-mlflow-provider")
    failed = local_stack.cli.run(
        "import", "--yes", "--generate-code=false", ModelMetadataProps.TOKEN, "ghost",
        "local_catalog.gold_features.no_such_model", "--provider", f"mrgov={provider}", check=False,
    )  # fmt: skip
    assert failed.returncode != 0
    out = output(failed)
    assert "'local_catalog.gold_features.no_such_model' was not found" in out
    assert "the id is the model's full name" in out
    assert "Traceback" not in out


def test_refresh_reads_every_resource_from_its_id_and_changes_nothing(local_stack: LocalStack) -> None:
    local_stack.up()
    local_stack.proxy.reset()
    refreshed = local_stack.cli.run("refresh", "--yes", "--skip-preview")
    assert "unchanged" in refreshed.stdout
    assert local_stack.proxy.writes() == []
    print(f"refresh: {len(local_stack.proxy.requests)} requests")
    assert {s["op"] for s in local_stack.preview_steps()} <= {"same"}


def test_no_credential_in_state_outputs_or_verbose_logs(local_stack: LocalStack, tmp_path: Path) -> None:
    password = local_stack.registry.server.password
    assert password
    # The password given as provider config (a secret config key named by the target) ...
    local_stack.cli.run("config", "set", "--secret", "mrgov:mlflowPassword", "--", password)
    # It only names the key; Pulumi's secret heuristics would take the name for a secret.
    local_stack.cli.run(
        "config", "set", "--path", "--plaintext", "mrgov:target.passwordSecret", "mrgov:mlflowPassword"
    )
    local_stack.set("mrgov:target.username", "admin")
    # ... and not in the provider's environment, so the provider really uses the config.
    del local_stack.cli.env["MLFLOW_TRACKING_PASSWORD"]
    up = local_stack.cli.run("up", "--yes", "--skip-preview", "-v=9", "--logtostderr")
    refreshed = local_stack.cli.run("refresh", "--yes", "-v=9", "--logtostderr")
    exported = local_stack.cli.run("stack", "export").stdout
    outputs = local_stack.cli.run("stack", "output", "--json", "--show-secrets").stdout
    backend = Path(local_stack.cli.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    state_files = [p.read_text() for p in backend.rglob("*") if p.is_file()]
    assert len(up.stderr) > 10_000, "verbose logs expected"
    for text in [up.stdout, up.stderr, refreshed.stdout, refreshed.stderr, exported, outputs, *state_files]:
        assert password not in text
    provider = next(
        r for r in json.loads(exported)["deployment"]["resources"] if r["type"] == "pulumi:providers:mrgov"
    )
    assert provider["inputs"]["password"]["4dabf18193072939515e22adb298388d"] == (
        "1b47061264138c4ac30d75fd1eb44270"
    ), "the password must be a Pulumi secret in the state"
    assert local_stack.registry.client().get_model_version_by_alias(CAD, "Production").version == "2"


def test_the_local_stack_stores_no_credential_at_all(local_stack: LocalStack) -> None:
    local_stack.up()
    provider = next(r for r in local_stack.resources() if r["type"] == "pulumi:providers:mrgov")
    assert set(provider["inputs"]) <= {"trackingUri", "version", "__internal"}, provider["inputs"]


def test_get_schema_describes_every_resource_input_and_output(local_stack: LocalStack) -> None:
    shim = ROOT / "provider" / "pulumi-resource-mrgov"
    result = local_stack.cli.run("package", "get-schema", str(shim))
    schema = json.loads(result.stdout)
    assert schema["name"] == "mrgov" and schema["version"] == "0.2.0"
    assert set(schema["resources"]) == {
        RegisteredModelProps.TOKEN,
        ModelMetadataProps.TOKEN,
        ModelPermissionsProps.TOKEN,
        RoleProps.TOKEN,
        WebhookProps.TOKEN,
        DeploymentJobLinkProps.TOKEN,
    }
    for token, resource in schema["resources"].items():
        assert token.startswith("mrgov:") and token.count(":") == 2
        assert resource["description"]
        for kind in ("properties", "inputProperties"):
            for name, prop in resource[kind].items():
                assert prop.get("description"), (token, kind, name)
    for name, prop in schema["provider"]["inputProperties"].items():
        assert prop.get("description"), name
    assert schema["provider"]["inputProperties"]["password"]["secret"] is True

"""localdev/migrate.py on a real state of the dynamic-provider program (tests/e2e/fixtures).

The fixture is the `local` stack's state after its first `up` with commit 77d069c: 28 dynamic resources
under the registry component. The expected resources below are the new program's layout
(components/mlflow/registry.py on provider.sdk), written out in full.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from localdev import migrate
from localdev.migrate import MigrationError, Report, has_dynamic, migrate_deployment
from provider.auth.model_permissions import ModelPermissionsProps
from provider.auth.role import RoleProps
from provider.config import ProviderConfig
from provider.declare import Props, inputs_of, specs
from provider.registry.model_metadata import ModelMetadataProps
from provider.registry.registered_model import RegisteredModelProps

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "e2e" / "fixtures" / "dynamic-local-stack.json"
URL = "http://127.0.0.1:PORT"
PROVIDER_ID = "0b5e1a47-2f6c-4d8e-9a3b-7c1d2e3f4a5b"

P = "urn:pulumi:local::mrgov::"
STACK = f"{P}pulumi:pulumi:Stack::mrgov-local"
ENV = f"{P}mrgov:index:Environment::registry"
REG_T = "mrgov:index:Environment$mrgov:mlflow:Registry"
REG = f"{P}{REG_T}::registry-mlflow"
PROVIDER = f"{P}{REG_T}${ProviderConfig.TOKEN}::registry-mlflow-provider"
PROVIDER_REF = f"{PROVIDER}::{PROVIDER_ID}"
MODEL_T = f"{REG_T}${RegisteredModelProps.TOKEN}"
MODELS = ("cost_anomaly_detector", "budget_forecaster", "failure_predictor")
ROLES = {
    "dashboards": "BI dashboards that read model outputs and metadata.",
    "ml_engineers": "Train, register and version models.",
    "inference_jobs": "Batch inference pipelines that load models by alias.",
}
TAGS = {
    "cost_anomaly_detector": {
        "algorithm": "isolation_forest",
        "domain": "cost",
        "model_type": "anomaly_detection",
    },
    "budget_forecaster": {"algorithm": "gradient_boosting", "domain": "cost", "model_type": "forecasting"},
    "failure_predictor": {
        "algorithm": "random_forest",
        "domain": "reliability",
        "model_type": "classification",
    },
}
ALIASES = {
    "cost_anomaly_detector": {"Champion": "2", "Production": "2"},
    "budget_forecaster": {"Champion": "1", "Production": "1"},
    "failure_predictor": {},
}
DESCRIPTIONS = {
    "cost_anomaly_detector": {
        "1": "Initial version",
        "2": "Added z-score features",
        "3": "Retrained with 30-day lookback features. Improved anomaly rate from 8% to 5%.",
    },
    "budget_forecaster": {
        "1": "Initial version",
        "2": "Added calendar features and 30-day rolling averages.",
    },
    "failure_predictor": {"1": "Initial version"},
}
GRANTS = {"dashboards": "READ", "inference_jobs": "READ", "ml_engineers": "EDIT"}


# A migrated ModelMetadata has no retention and no promotion gates: the declaration's defaults.
NO_LIFECYCLE = {"archiveAfterDays": None, "archiveKeepLatest": 0, "gates": {}, "gateOverrides": {}}


def full(model: str) -> str:
    return f"local_catalog.gold_features.{model}"


def model_urn(model: str) -> str:
    return f"{P}{MODEL_T}::registry-mlflow-{model}"


def role_urn(role: str) -> str:
    return f"{P}{REG_T}${RoleProps.TOKEN}::registry-mlflow-role-{role}"


@pytest.fixture(scope="module")
def exported() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(FIXTURE.read_text())
    return doc


@pytest.fixture(scope="module")
def migrated(exported: dict[str, Any]) -> dict[str, Any]:
    return migrate_deployment(exported, provider_inputs={"trackingUri": URL}, provider_id=PROVIDER_ID)


def resources(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = doc["deployment"]["resources"]
    return found


def by_urn(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in resources(doc)}


def old_model(exported: dict[str, Any], model: str) -> dict[str, Any]:
    urn = f"{P}{REG_T}$pulumi-python:dynamic/mrgov:RegisteredModel::registry-mlflow-{model}"
    return by_urn(exported)[urn]


def essentials(res: dict[str, Any]) -> dict[str, Any]:
    """What the new program and the engine care about (dependencies as a set: their order is free)."""
    keys = ("urn", "type", "custom", "id", "inputs", "outputs", "parent", "provider", "retainOnDelete",
            "protect", "deletedWith")  # fmt: skip
    out = {k: res[k] for k in keys if k in res}
    out["dependencies"] = sorted(res.get("dependencies") or [])
    return out


# ------------------------------------------------------------------------------------------------
# The fixture is what the tests think it is
# ------------------------------------------------------------------------------------------------
def test_the_fixture_is_a_dynamic_state_with_a_placeholder_url(exported: dict[str, Any]) -> None:
    kinds = [r["type"] for r in resources(exported)]
    assert len(kinds) == 33
    assert sum(k.startswith("pulumi-python:dynamic/mrgov:") for k in kinds) == 28
    text = FIXTURE.read_text()
    assert "127.0.0.1:PORT" in text
    assert not [u for u in text.split("http://127.0.0.1:")[1:] if not u.startswith("PORT")]


# ------------------------------------------------------------------------------------------------
# The new resources, exactly
# ------------------------------------------------------------------------------------------------
def expected_resources(exported: dict[str, Any]) -> list[dict[str, Any]]:
    new: list[dict[str, Any]] = [
        {
            "urn": PROVIDER,
            "type": ProviderConfig.TOKEN,
            "custom": True,
            "id": PROVIDER_ID,
            "inputs": {"trackingUri": URL, "version": "0.2.0"},
            "outputs": {"trackingUri": URL, "version": "0.2.0"},
            "parent": REG,
            "dependencies": [],
        }
    ]
    for role, description in ROLES.items():
        props = {"name": role, "description": description, "members": None, "workspace": "default"}
        new.append(
            {
                "urn": role_urn(role),
                "type": RoleProps.TOKEN,
                "custom": True,
                "id": f"default/{role}",
                "inputs": props,
                "outputs": props,
                "parent": REG,
                "provider": PROVIDER_REF,
                "dependencies": [],
            }
        )
    for model in MODELS:
        description = old_model(exported, model)["inputs"]["description"]
        assert description.startswith(model.replace("_", " ").title())
        inputs = {"name": full(model), "description": description, "initialTags": TAGS[model],
                  "retainOnDelete": True}  # fmt: skip
        new.append(
            {
                "urn": model_urn(model),
                "type": RegisteredModelProps.TOKEN,
                "custom": True,
                "id": full(model),
                "inputs": inputs,
                "outputs": {**inputs, "adopted": False, "registryAliases": {}},
                "parent": REG,
                "provider": PROVIDER_REF,
                "dependencies": [],
            }
        )
        metadata = {
            "model": full(model),
            "tags": TAGS[model],
            "aliases": ALIASES[model],
            "versionDescriptions": DESCRIPTIONS[model],
            "versionTags": {},
            **NO_LIFECYCLE,
        }
        new.append(
            {
                "urn": f"{P}{MODEL_T}${ModelMetadataProps.TOKEN}::registry-mlflow-{model}-metadata",
                "type": ModelMetadataProps.TOKEN,
                "custom": True,
                "id": full(model),
                "inputs": metadata,
                "outputs": {**metadata, "otherAliases": {}, "latestVersion": "", "lineage": {}},
                "parent": model_urn(model),
                "provider": PROVIDER_REF,
                "retainOnDelete": True,
                "deletedWith": model_urn(model),
                "dependencies": [model_urn(model)],
            }
        )
        permissions = {"model": full(model), "users": {}, "roles": GRANTS, "workspace": "default"}
        new.append(
            {
                "urn": f"{P}{MODEL_T}${ModelPermissionsProps.TOKEN}::registry-mlflow-{model}-permissions",
                "type": ModelPermissionsProps.TOKEN,
                "custom": True,
                "id": full(model),
                "inputs": permissions,
                "outputs": permissions,
                "parent": model_urn(model),
                "provider": PROVIDER_REF,
                "retainOnDelete": True,
                "dependencies": sorted([model_urn(model), *(role_urn(r) for r in ROLES)]),
            }
        )
    return new


def test_the_new_resources_are_exactly_the_new_layout(
    exported: dict[str, Any], migrated: dict[str, Any]
) -> None:
    kept = {STACK, ENV, REG, f"{P}pulumi:providers:pulumi::default"}
    new = [essentials(r) for r in resources(migrated) if r["urn"] not in kept]
    expected = expected_resources(exported)
    assert sorted(new, key=lambda r: r["urn"]) == sorted(expected, key=lambda r: r["urn"])
    assert len(resources(migrated)) == 4 + 13


def test_no_dynamic_type_provider_key_or_old_property_name_remains(migrated: dict[str, Any]) -> None:
    text = json.dumps(migrated)
    assert "pulumi-python:dynamic" not in text
    assert "pulumi:providers:pulumi-python" not in text  # only the dynamic resources used it
    assert "__provider" not in text
    for r in resources(migrated):
        if r["type"].startswith("mrgov:") and r.get("custom"):
            props = {*r["inputs"], *r["outputs"], *(r.get("propertyDependencies") or {})}
            assert not [k for k in props if "_" in k], r["urn"]  # camelCase; registry_uri and the like gone
            assert "sourcePosition" not in r and "stackTrace" not in r  # they described the old code


@pytest.mark.parametrize(
    "props", [RegisteredModelProps, ModelMetadataProps, ModelPermissionsProps, RoleProps]
)
def test_property_names_are_the_providers_declared_wire_names(
    migrated: dict[str, Any], props: type[Props]
) -> None:
    # The tokens themselves are pinned in test_provider_schema.py.
    found = [r for r in resources(migrated) if r["type"] == props.TOKEN]
    assert found
    for r in found:
        assert set(r["inputs"]) == {s.name for s in inputs_of(props)}, r["urn"]
        assert set(r["outputs"]) == {s.name for s in specs(props)}, r["urn"]


def test_the_non_dynamic_resources_are_kept_as_they_were(
    exported: dict[str, Any], migrated: dict[str, Any]
) -> None:
    old, new = by_urn(exported), by_urn(migrated)
    for urn in (STACK, ENV, REG, f"{P}pulumi:providers:pulumi::default"):
        assert new[urn] == old[urn]
    # The rest of the deployment is untouched.
    assert {k: v for k, v in migrated["deployment"].items() if k != "resources"} == {
        k: v for k, v in exported["deployment"].items() if k != "resources"
    }
    assert migrated["version"] == exported["version"]


def test_the_provider_comes_right_before_its_first_user_and_every_reference_is_earlier(
    migrated: dict[str, Any],
) -> None:
    urns = [r["urn"] for r in resources(migrated)]
    at = urns.index(PROVIDER)
    assert urns.index(REG) < at
    assert resources(migrated)[at + 1]["provider"] == PROVIDER_REF
    assert all(r.get("provider") != PROVIDER_REF for r in resources(migrated)[:at])
    seen: set[str] = set()
    for r in resources(migrated):
        refs = {r.get("parent"), r.get("deletedWith"), str(r.get("provider", "")).rpartition("::")[0] or None}
        refs |= set(r.get("dependencies") or [])
        for deps in (r.get("propertyDependencies") or {}).values():
            refs |= set(deps)
        assert {x for x in refs if x} <= seen, r["urn"]
        seen.add(r["urn"])


def test_timestamps_and_flags_are_kept(exported: dict[str, Any], migrated: dict[str, Any]) -> None:
    new = by_urn(migrated)
    old = old_model(exported, "budget_forecaster")
    model = new[model_urn("budget_forecaster")]
    assert (model["created"], model["modified"]) == (old["created"], old["modified"])
    children = [r for r in resources(exported) if r.get("parent") == old["urn"]]
    meta = new[f"{P}{MODEL_T}${ModelMetadataProps.TOKEN}::registry-mlflow-budget_forecaster-metadata"]
    feeding = [c for c in children if not c["type"].endswith("Permission")]
    assert meta["created"] == min(c["created"] for c in feeding)
    assert meta["modified"] == max(c["modified"] for c in feeding)
    assert all(c.get("retainOnDelete") for c in children)


def test_a_protected_model_stays_protected(exported: dict[str, Any]) -> None:
    state = copy.deepcopy(exported)
    old_model(state, "failure_predictor")["protect"] = True
    out = migrate_deployment(state, provider_inputs={"trackingUri": URL}, provider_id=PROVIDER_ID)
    assert by_urn(out)[model_urn("failure_predictor")]["protect"] is True
    assert "protect" not in by_urn(out)[model_urn("budget_forecaster")]


def test_a_model_without_children_still_gets_its_metadata_and_no_permissions(
    exported: dict[str, Any],
) -> None:
    state = copy.deepcopy(exported)
    model = old_model(state, "failure_predictor")
    state["deployment"]["resources"] = [r for r in resources(state) if r.get("parent") != model["urn"]]
    out = by_urn(migrate_deployment(state, provider_inputs={"trackingUri": URL}, provider_id=PROVIDER_ID))
    meta = out[f"{P}{MODEL_T}${ModelMetadataProps.TOKEN}::registry-mlflow-failure_predictor-metadata"]
    empty = {"model": full("failure_predictor"), "tags": {}, "aliases": {}, "versionDescriptions": {},
             "versionTags": {}, **NO_LIFECYCLE}  # fmt: skip
    unread = {"otherAliases": {}, "latestVersion": "", "lineage": {}}
    assert (meta["inputs"], meta["outputs"]) == (empty, {**empty, **unread})
    assert meta["retainOnDelete"] is True and meta["dependencies"] == [model_urn("failure_predictor")]
    assert not [u for u in out if u.endswith("failure_predictor-permissions")]


def test_aliases_set_by_others_become_other_aliases(exported: dict[str, Any]) -> None:
    state = copy.deepcopy(exported)
    old_model(state, "cost_anomaly_detector")["outputs"]["registry_aliases"] = {
        "Challenger": "3",
        "Champion": "2",
    }
    out = by_urn(migrate_deployment(state, provider_inputs={"trackingUri": URL}, provider_id=PROVIDER_ID))
    meta = out[f"{P}{MODEL_T}${ModelMetadataProps.TOKEN}::registry-mlflow-cost_anomaly_detector-metadata"]
    assert meta["outputs"]["otherAliases"] == {"Challenger": "3"}
    assert out[model_urn("cost_anomaly_detector")]["outputs"]["registryAliases"] == {
        "Challenger": "3",
        "Champion": "2",
    }


def test_users_and_roles_are_split_by_principal_kind(exported: dict[str, Any]) -> None:
    state = copy.deepcopy(exported)
    grant = next(r for r in resources(state) if r["urn"].endswith("budget_forecaster-grant-dashboards"))
    grant["inputs"].update(principal_kind="user", principal="alice", level="manage")
    out = by_urn(migrate_deployment(state, provider_inputs={"trackingUri": URL}, provider_id=PROVIDER_ID))
    perms = out[f"{P}{MODEL_T}${ModelPermissionsProps.TOKEN}::registry-mlflow-budget_forecaster-permissions"]
    assert perms["inputs"]["users"] == {"alice": "MANAGE"}
    assert perms["inputs"]["roles"] == {"inference_jobs": "READ", "ml_engineers": "EDIT"}


def test_the_input_is_not_changed_and_the_report_counts(exported: dict[str, Any]) -> None:
    before = copy.deepcopy(exported)
    report = Report()
    migrate_deployment(exported, provider_inputs={"trackingUri": URL}, report=report)
    assert exported == before
    assert report.before == {
        "pulumi-python:dynamic/mrgov:ModelAlias": 4,
        "pulumi-python:dynamic/mrgov:ModelTags": 3,
        "pulumi-python:dynamic/mrgov:Permission": 9,
        "pulumi-python:dynamic/mrgov:RegisteredModel": 3,
        "pulumi-python:dynamic/mrgov:Role": 3,
        "pulumi-python:dynamic/mrgov:VersionDescription": 6,
    }
    assert sum(report.after.values()) == 13
    assert "28 dynamic resources" in report.summary()


def test_a_fresh_uuid_by_default_and_username_when_set(exported: dict[str, Any]) -> None:
    inputs = {"trackingUri": URL, "username": "deployer"}
    out = migrate_deployment(exported, provider_inputs=inputs)
    provider = by_urn(out)[PROVIDER]
    assert str(uuid.UUID(provider["id"])) == provider["id"]
    assert provider["inputs"] == provider["outputs"] == {**inputs, "version": "0.2.0"}
    assert all(r["provider"].endswith(f"::{provider['id']}") for r in resources(out) if "provider" in r)


def test_the_inner_deployment_is_accepted_too(exported: dict[str, Any], migrated: dict[str, Any]) -> None:
    out = migrate_deployment(
        exported["deployment"], provider_inputs={"trackingUri": URL}, provider_id=PROVIDER_ID
    )
    assert out == migrated["deployment"]


# ------------------------------------------------------------------------------------------------
# Idempotent; nothing dynamic, nothing changed
# ------------------------------------------------------------------------------------------------
def test_migrating_twice_changes_nothing_more(migrated: dict[str, Any]) -> None:
    assert not has_dynamic(migrated)
    again = migrate_deployment(migrated, provider_inputs={"trackingUri": "http://elsewhere"})
    assert again == migrated


def test_a_state_with_nothing_dynamic_is_unchanged(exported: dict[str, Any]) -> None:
    plain = copy.deepcopy(exported)
    plain["deployment"]["resources"] = [
        r for r in resources(plain) if r["urn"] in (STACK, ENV, f"{P}pulumi:providers:pulumi::default")
    ]
    report = Report()
    assert migrate_deployment(plain, provider_inputs={"trackingUri": URL}, report=report) == plain
    assert not report.changed
    empty = {"version": 3, "deployment": {"manifest": {}, "resources": None}}
    assert migrate_deployment(empty, provider_inputs={}) == empty


# ------------------------------------------------------------------------------------------------
# States it refuses
# ------------------------------------------------------------------------------------------------
def test_refuses_pending_operations(exported: dict[str, Any]) -> None:
    state = copy.deepcopy(exported)
    state["deployment"]["pending_operations"] = [{"type": "creating", "resource": {"urn": model_urn("x")}}]
    with pytest.raises(MigrationError, match="pending operations"):
        migrate_deployment(state, provider_inputs={"trackingUri": URL})


def test_refuses_an_unknown_dynamic_type_and_half_done_resources(exported: dict[str, Any]) -> None:
    state = copy.deepcopy(exported)
    resources(state)[-1]["type"] = "pulumi-python:dynamic/mrgov:Mystery"
    with pytest.raises(MigrationError, match="unknown dynamic resource type"):
        migrate_deployment(state, provider_inputs={"trackingUri": URL})
    state = copy.deepcopy(exported)
    old_model(state, "budget_forecaster")["delete"] = True
    with pytest.raises(MigrationError, match="marked delete"):
        migrate_deployment(state, provider_inputs={"trackingUri": URL})


def test_refuses_children_without_their_model(exported: dict[str, Any]) -> None:
    state = copy.deepcopy(exported)
    child = next(r for r in resources(state) if r["type"].endswith("ModelTags"))
    child["parent"] = REG
    with pytest.raises(MigrationError, match="not a child of a dynamic RegisteredModel"):
        migrate_deployment(state, provider_inputs={"trackingUri": URL})


# ------------------------------------------------------------------------------------------------
# The command, with a stand-in for the pulumi CLI
# ------------------------------------------------------------------------------------------------
FAKE_PULUMI = """\
import json, os, shutil, sys
args = [a for a in sys.argv[1:] if a != "--non-interactive"]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
state = os.environ["FAKE_STATE"]
if args[:2] == ["stack", "export"]:
    if args[3] not in os.environ.get("FAKE_STACKS", "local").split(",") or not os.path.exists(state):
        sys.stderr.write(f"error: no stack named '{args[3]}' found\\n")
        sys.exit(255)
    sys.stdout.write(open(state).read())
elif args[:2] == ["stack", "import"]:
    if os.environ.get("FAKE_IMPORT_FAILS"):
        sys.stderr.write("warning: something\\nerror: could not import deployment: invalid resource\\n")
        sys.exit(255)
    shutil.copy(args[args.index("--file") + 1], state)
else:
    sys.exit(2)
"""


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A project whose local stack targets 127.0.0.1:5000, a pulumi stand-in and its file backend."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "registry.yaml").write_text((ROOT / "registry.yaml").read_text())
    stack_file = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())
    stack_file["config"]["mrgov:target"]["trackingUri"] = "http://127.0.0.1:5000/"
    (project / "Pulumi.local.yaml").write_text(yaml.safe_dump(stack_file))
    cli = tmp_path / "pulumi"
    cli.write_text(f"#!{sys.executable}\n{FAKE_PULUMI}")
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)
    state = tmp_path / "state.json"
    state.write_text(FIXTURE.read_text().replace(URL, "http://127.0.0.1:5000"))
    backend = tmp_path / "backend"
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{backend}")
    monkeypatch.setenv("FAKE_STATE", str(state))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    return {"project": project, "cli": cli, "state": state, "backend": backend, "log": tmp_path / "calls.log"}


def run_main(fake: dict[str, Path], *extra: str) -> int:
    return migrate.main(["--project", str(fake["project"]), "--pulumi", str(fake["cli"]), *extra])


def test_the_command_exports_backs_up_imports_and_then_has_nothing_to_do(
    fake_cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    original = fake_cli["state"].read_text()
    assert run_main(fake_cli) == 0
    out = capsys.readouterr().out
    assert out.startswith("migrate: stack 'local' migrated: 28 dynamic resources") and out.count("\n") == 1
    backups = list(fake_cli["backend"].glob("migrate-backup-*.json"))
    assert len(backups) == 1 and backups[0].read_text() == original
    assert oct(backups[0].stat().st_mode & 0o777) == "0o600"
    imported = json.loads(fake_cli["state"].read_text())
    provider = by_urn(imported)[PROVIDER]
    assert provider["inputs"] == {"trackingUri": "http://127.0.0.1:5000", "version": "0.2.0"}
    assert not has_dynamic(imported)

    assert run_main(fake_cli) == 0
    assert capsys.readouterr().out == "migrate: stack 'local' has no dynamic resources; nothing to migrate\n"
    assert len(list(fake_cli["backend"].glob("migrate-backup-*.json"))) == 1
    calls = [json.loads(x) for x in fake_cli["log"].read_text().splitlines()]
    assert [c[:2] for c in calls] == [["stack", "export"], ["stack", "import"], ["stack", "export"]]


def test_dry_run_prints_the_state_and_imports_nothing(
    fake_cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    original = fake_cli["state"].read_text()
    assert run_main(fake_cli, "--dry-run") == 0
    captured = capsys.readouterr()
    assert not has_dynamic(json.loads(captured.out))
    assert "dry run, nothing imported" in captured.err
    assert fake_cli["state"].read_text() == original
    assert not fake_cli["backend"].exists()


def one_line_failure(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("migrate: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    return captured.err


def test_no_such_stack_is_one_line_with_the_cli_error(
    fake_cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(fake_cli, "--stack", "nope") == 1
    err = one_line_failure(capsys)
    assert "pulumi stack export --stack nope failed: no stack named 'nope' found" in err


def test_a_failed_import_says_so_and_leaves_the_state(
    fake_cli: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_IMPORT_FAILS", "1")
    original = fake_cli["state"].read_text()
    assert run_main(fake_cli) == 1
    err = one_line_failure(capsys)
    assert "pulumi stack import failed: could not import deployment: invalid resource" in err
    assert "the state is unchanged (backup: " in err
    assert fake_cli["state"].read_text() == original


def test_a_stack_moved_to_another_server_is_refused(
    fake_cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_cli["state"].write_text(fake_cli["state"].read_text().replace("127.0.0.1:5000", "127.0.0.1:6000"))
    assert run_main(fake_cli) == 1
    err = one_line_failure(capsys)
    assert "written against http://127.0.0.1:6000 but stack 'local' now targets http://127.0.0.1:5000" in err


def test_a_fresh_stack_passes_through_without_a_backup_or_an_import(
    fake_cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # What `pulumi stack export` prints for a stack that `stack select --create` just made.
    fresh = {"version": 3, "deployment": {"manifest": {"version": "v3.274.1"}, "metadata": {}}}
    fake_cli["state"].write_text(json.dumps(fresh))
    assert run_main(fake_cli) == 0
    assert capsys.readouterr().out == "migrate: stack 'local' has no dynamic resources; nothing to migrate\n"
    assert json.loads(fake_cli["state"].read_text()) == fresh
    assert not fake_cli["backend"].exists()
    calls = [json.loads(x) for x in fake_cli["log"].read_text().splitlines()]
    assert [c[:2] for c in calls] == [["stack", "export"]]


def test_a_databricks_stack_is_refused_with_what_to_do_instead(
    fake_cli: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old program's Databricks stacks held dynamic aliases, tags and version descriptions too.
    (fake_cli["project"] / "Pulumi.dev.yaml").write_text((ROOT / "Pulumi.dev.yaml").read_text())
    monkeypatch.setenv("FAKE_STACKS", "local,dev")
    original = fake_cli["state"].read_text()
    assert run_main(fake_cli, "--stack", "dev") == 1
    err = one_line_failure(capsys)
    assert err == f"migrate: {migrate.DATABRICKS_REFUSAL.format(stack='dev', kind='databricks')}\n"
    assert "stack 'dev' targets 'databricks': this migration upgrades MLflow-target stacks only" in err
    assert "pulumi state delete --stack dev" in err and "docs/upgrading.md" in err
    assert fake_cli["state"].read_text() == original
    assert not fake_cli["backend"].exists()
    calls = [json.loads(x) for x in fake_cli["log"].read_text().splitlines()]
    assert [c[:2] for c in calls] == [["stack", "export"]]


def test_a_broken_dynamic_resource_is_one_line(
    fake_cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    state = json.loads(fake_cli["state"].read_text())
    alias = next(r for r in resources(state) if r["type"].endswith("ModelAlias"))
    del alias["inputs"]["alias"]
    fake_cli["state"].write_text(json.dumps(state))
    assert run_main(fake_cli) == 1
    assert "the state is not as the dynamic-provider program wrote it (KeyError" in one_line_failure(capsys)


def test_a_missing_cli_and_a_missing_stack_file_are_one_line(
    fake_cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert migrate.main(["--project", str(fake_cli["project"]), "--pulumi", "/nonexistent/pulumi"]) == 1
    assert "cannot run /nonexistent/pulumi" in one_line_failure(capsys)
    (fake_cli["project"] / "Pulumi.local.yaml").unlink()
    assert run_main(fake_cli) == 1
    assert "cannot read the config of stack 'local'" in one_line_failure(capsys)


def test_backups_go_next_to_the_default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    assert migrate.backend_dir({"MRGOV_STATE": "/x/state"}) == Path("/x/state/backend")
    assert migrate.backend_dir({}) == ROOT / ".state" / "backend"
    assert migrate.backend_dir(dict(os.environ, PULUMI_BACKEND_URL="file:///b")) == Path("/b")

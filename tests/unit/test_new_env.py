"""`make new-env` without the engine: the stack file it writes, what it refuses, and its rollback.

Each test works on a copy of the project's stack files in tmp_path; the Pulumi CLI is a fake that
records `stack init`. tests/e2e/test_new_env.py runs the real one and brings an environment up.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from components.spec import SpecError, build_from_files, load_yaml
from localdev import new_env
from localdev.new_env import NewEnvError, PulumiCli, create, plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ["Pulumi.yaml", "registry.yaml", *(p.name for p in ROOT.glob("Pulumi.*.yaml"))]:
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


class FakeCli(PulumiCli):
    def __init__(self, project: Path, stacks: tuple[str, ...] = (), init_fails: bool = False) -> None:
        super().__init__(["pulumi"], project)
        self.stacks, self.init_fails = stacks, init_fails
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        if args[:2] == ("stack", "ls"):
            out = json.dumps([{"name": f"organization/mrgov/{s}"} for s in self.stacks])
            return subprocess.CompletedProcess(args, 0, out, "")
        assert args[:2] == ("stack", "init")
        if self.init_fails:
            return subprocess.CompletedProcess(args, 255, "", "error: backend unreachable")
        return subprocess.CompletedProcess(args, 0, "Created stack\n", "")


def test_qa_from_staging(project: Path) -> None:
    cli = FakeCli(project)
    new = plan(project, "qa", "staging", "qa_catalog", principals={"inference_jobs": ["0a1b2c3d-qa-sp"]})
    path = create(project, new, cli)

    assert path == project / "Pulumi.qa.yaml"
    assert path.read_text().startswith("# The qa environment, bootstrapped from Pulumi.staging.yaml by")
    assert cli.calls[-1] == ("stack", "init", "qa")
    spec = build_from_files(project, "qa")
    assert spec.catalog.name == "qa_catalog"
    assert spec.environment == "qa"
    assert {r.name: [p.name for p in r.principals] for r in spec.roles} == {
        "ml_engineers": ["qa-ml-engineers"],  # renamed from staging-ml-engineers
        "inference_jobs": ["0a1b2c3d-qa-sp"],  # given
        "dashboards": ["qa-bi-dashboards"],
    }
    staging = build_from_files(project, "staging")
    assert {m.name: m.aliases for m in spec.models} == {m.name: m.aliases for m in staging.models}
    assert spec.target == staging.target
    assert new.notes == [
        "deployer '8d2b6e14-3a7c-4f90-b5e1-c4a9f0d27e36' kept from staging; set another with --deployer"
    ]
    # The role order of the template is kept, so a diff against it reads well.
    assert list(load_yaml(path)["config"]["mrgov:roles"]) == ["ml_engineers", "inference_jobs", "dashboards"]


def test_principals_that_cannot_be_renamed_are_listed(project: Path) -> None:
    new = plan(project, "qa", "prod", "qa_catalog")
    assert any(
        n.startswith("role 'inference_jobs' keeps 'a4d8e2c6-1f9b-4e35-8c7a-6b0e3d5f9a13' from prod")
        for n in new.notes
    )
    assert "catalog owner of prod dropped; set this environment's if needed" in new.notes
    assert new.config["mrgov:catalog"] == {"name": "qa_catalog"}


def test_refuses_to_overwrite_a_stack_file(project: Path) -> None:
    before = (project / "Pulumi.dev.yaml").read_text()
    with pytest.raises(NewEnvError, match=r"Pulumi.dev.yaml exists already; refusing to overwrite it"):
        create(project, plan(project, "dev", "staging", "dev2_catalog"), FakeCli(project))
    assert (project / "Pulumi.dev.yaml").read_text() == before


def test_refuses_a_stack_that_exists_in_the_backend(project: Path) -> None:
    cli = FakeCli(project, stacks=("qa",))
    with pytest.raises(NewEnvError, match=r"stack 'qa' exists already in the backend; refusing to reuse it"):
        create(project, plan(project, "qa", "staging", "qa_catalog"), cli)
    assert not (project / "Pulumi.qa.yaml").exists()
    assert ("stack", "init", "qa") not in cli.calls


def test_a_config_that_breaks_a_rule_is_not_written(project: Path) -> None:
    cli = FakeCli(project)
    with pytest.raises(SpecError) as err:
        create(project, plan(project, "qa", "staging", "QA-Catalog"), cli)
    assert [(p.rule_id, p.file, p.key) for p in err.value.problems] == [
        ("securable-name", "Pulumi.qa.yaml", "mrgov:catalog.name")
    ]
    assert not (project / "Pulumi.qa.yaml").exists()
    assert cli.calls == [("stack", "ls", "--json")]


def test_a_failed_stack_init_leaves_nothing_behind(project: Path) -> None:
    with pytest.raises(NewEnvError, match="`pulumi stack init qa` failed; nothing was kept:\nerror: backend"):
        create(project, plan(project, "qa", "staging", "qa_catalog"), FakeCli(project, init_fails=True))
    assert not (project / "Pulumi.qa.yaml").exists()


def test_mlflow_environment_with_its_own_server_and_no_pins(project: Path) -> None:
    new = plan(
        project, "qa", "local", "qa_catalog", tracking_uri="http://127.0.0.1:5123", without_aliases=True
    )
    create(project, new, None)
    spec = build_from_files(project, "qa")
    assert spec.target.kind == "mlflow" and spec.target.tracking_uri == "http://127.0.0.1:5123"
    assert [m.aliases for m in spec.models] == [{}, {}, {}]
    assert len(spec.models) == len(build_from_files(project, "local").models)
    with pytest.raises(NewEnvError, match="--tracking-uri is for an MLflow target"):
        plan(project, "qa2", "staging", "qa_catalog", tracking_uri="http://127.0.0.1:5123")


def test_secrets_of_the_template_are_not_copied(project: Path) -> None:
    (project / "Pulumi.team.yaml").write_text(
        "encryptionsalt: v1:abc\n"
        "config:\n"
        "  mrgov:target: {kind: mlflow, trackingUri: 'http://127.0.0.1:5000', passwordSecret: 'mrgov:pw'}\n"
        "  mrgov:catalog: team_catalog\n"
        "  mrgov:environment: team\n"
        "  mrgov:pw: {secure: v1:xyz}\n"
    )
    new = plan(project, "qa", "team", "qa_catalog")
    assert "mrgov:pw" not in new.config and "mrgov:environment" not in new.config
    assert "encryptionsalt" not in new.render()
    assert any(n.startswith("secret values not copied") and n.endswith("mrgov:pw") for n in new.notes)


@pytest.mark.parametrize(
    ("env", "template", "says"),
    [
        ("qa env", "staging", "environment name 'qa env' is not a stack name"),
        ("staging", "staging", "the new environment and its template are both 'staging'"),
        ("qa", "uat", "no template Pulumi.uat.yaml in"),
    ],
)
def test_bad_names(project: Path, env: str, template: str, says: str) -> None:
    with pytest.raises(NewEnvError, match=says):
        plan(project, env, template, "qa_catalog")


def test_main_reports_and_exits(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["qa", "--catalog", "qa_catalog", "--from", "staging", "--project", str(project), "--no-init"]
    assert new_env.main([*args, "--principals", "dashboards=qa-dash,qa-bi"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {project / 'Pulumi.qa.yaml'} from Pulumi.staging.yaml\n")
    assert [p.name for p in build_from_files(project, "qa").role_by_name("dashboards").principals] == [
        "qa-dash",
        "qa-bi",
    ]
    assert new_env.main(args) == 1
    assert "refusing to overwrite it" in capsys.readouterr().err
    assert new_env.main(["qa2", "--catalog", "QA", "--from", "staging", "--project", str(project)]) == 1
    err = capsys.readouterr().err
    assert "catalog name 'QA' is not a valid name" in err and err.rstrip().endswith("nothing was written")
    assert new_env.main([*args[:-1], "--principals", "dashboards"]) == 1
    assert "expected ROLE=principal[,principal...]" in capsys.readouterr().err

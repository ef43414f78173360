"""The lifecycle under the real engine on a PostgreSQL-backed MLflow server, as teams run MLflow.

`make test` runs this whatever MRGOV_TEST_DB says, so every run exercises PostgreSQL at least once: one
`local` stack on a server with 4 workers whose stores (tracking, registry, auth) live in a private
PostgreSQL cluster (localdev/postgres.py), started from a copy of a registry the demo training filled.
The steps share that one stack and run in file order; a step whose predecessor failed is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.counting_proxy import CountingProxy
from tests.conftest import TEST_DB, PulumiCli, cli_env, copy_project, data_dir_for
from tests.e2e.conftest import LocalStack, Template, is_ours, open_registry, train_template, type_of
from tests.e2e.test_lifecycle import BF, CAD, FP, assert_server_matches

pytestmark = pytest.mark.e2e

ALIAS_WRITE = "/api/2.0/mlflow/registered-models/alias"
_passed: list[str] = []


def after(step: str) -> None:
    if step not in _passed:
        pytest.skip(f"needs the step {step!r}, which did not pass")


@pytest.fixture(scope="module")
def pg_template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Template:
    if TEST_DB == "postgres":  # the session's template is on PostgreSQL already
        template: Template = request.getfixturevalue("trained_template")
        return template
    data = data_dir_for("postgres", tmp_path_factory.mktemp("trained-pg")) / "mlflow"
    return train_template(data, "postgres")


@pytest.fixture(scope="module")
def pg_stack(
    pg_template: Template, tmp_path_factory: pytest.TempPathFactory, engine_bin: str
) -> Iterator[LocalStack]:
    tmp: Path = tmp_path_factory.mktemp("pg-stack")
    registry = open_registry(pg_template, data_dir_for("postgres", tmp) / "mlflow")
    try:
        with pytest.MonkeyPatch.context() as mp, CountingProxy(registry.url) as proxy:
            for key, value in registry.server.credentials_env.items():
                mp.setenv(key, value)  # this process's MLflow clients act as the admin
            project = copy_project(tmp / "project")
            cli = PulumiCli(project, cli_env(tmp, engine_bin, registry.server.credentials_env))
            cli.env["PYTHONPATH"] = str(project)
            cli.run("stack", "init", "local")
            stack = LocalStack(cli, registry, proxy)
            stack.set("mrgov:target.trackingUri", proxy.url)
            yield stack
    finally:
        registry.stop()


def test_first_up_creates_everything_and_the_server_matches_the_spec(pg_stack: LocalStack) -> None:
    server = pg_stack.registry.server
    assert (server.db, server.workers) == ("postgres", 4)
    assert server.backend_store_uri.startswith("postgresql://mlflow@127.0.0.1:")

    up = pg_stack.up()
    assert "created" in up.stdout.split("Resources:")[-1], up.stdout
    spec = pg_stack.spec()
    kinds = [type_of(r["urn"]) for r in pg_stack.resources() if is_ours(r["urn"])]
    assert kinds.count("mrgov:registry:RegisteredModel") == len(spec.models)
    assert kinds.count("mrgov:registry:ModelMetadata") == len(spec.models)
    assert kinds.count("mrgov:auth:ModelPermissions") == len(spec.models)
    assert kinds.count("mrgov:auth:Role") == 3
    assert_server_matches(pg_stack, spec)
    _passed.append("first up")


def test_a_second_up_sends_no_request(pg_stack: LocalStack) -> None:
    after("first up")
    pg_stack.proxy.reset()
    again = pg_stack.up()
    assert re.search(r"\b\d+ unchanged", again.stdout), again.stdout
    assert not re.search(r"\b(created|updated|deleted|replaced)\b", again.stdout.split("Resources:")[-1])
    assert pg_stack.proxy.requests == []
    _passed.append("no-op up")


def test_one_pin_change_is_one_update_and_one_write(pg_stack: LocalStack) -> None:
    after("no-op up")
    pg_stack.set("mrgov:models.cost_anomaly_detector.aliases.Champion", "1")
    pg_stack.proxy.reset()
    up = pg_stack.up()
    assert re.search(r"\b1 updated\b", up.stdout), up.stdout
    writes = [(w.method, w.path.split("?", 1)[0]) for w in pg_stack.proxy.writes()]
    assert writes == [("POST", ALIAS_WRITE)], writes
    assert pg_stack.registry.client().get_model_version_by_alias(CAD, "Champion").version == "1"
    assert_server_matches(pg_stack, pg_stack.spec())
    _passed.append("pin change")


def test_drift_is_restored_by_up_refresh_and_unmanaged_aliases_survive(pg_stack: LocalStack) -> None:
    after("pin change")
    client = pg_stack.registry.client()
    client.set_registered_model_alias(CAD, "Challenger", "1")  # a training job's, not the stack's
    client.set_registered_model_alias(CAD, "Champion", "2")  # the stack pins 1
    client.delete_registered_model_tag(BF, "domain")

    pg_stack.up("--refresh")
    assert client.get_model_version_by_alias(CAD, "Champion").version == "1"
    assert client.get_registered_model(BF).tags["domain"] == "cost"
    assert client.get_model_version_by_alias(CAD, "Challenger").version == "1"
    assert pg_stack.outputs()["unmanagedAliases"] == {"cost_anomaly_detector": {"Challenger": "1"}}
    assert_server_matches(pg_stack, pg_stack.spec())
    _passed.append("drift")


def test_destroy_leaves_the_retained_models_with_their_versions(pg_stack: LocalStack) -> None:
    after("drift")
    client = pg_stack.registry.client()
    versions = {m: len(client.search_model_versions(f"name='{m}'")) for m in (CAD, BF, FP)}
    pg_stack.cli.run("destroy", "--yes", "--skip-preview")
    assert pg_stack.resources() == []
    for name, count in versions.items():
        assert client.get_registered_model(name).name == name  # retainOnDelete: true in Pulumi.local.yaml
        assert len(client.search_model_versions(f"name='{name}'")) == count > 0
    assert client.get_model_version_by_alias(CAD, "Challenger").version == "1"

"""Fixtures for the lifecycle tests: the real pulumi CLI on a copy of the local stack.

Each test gets its own MLflow server (auth on, free loopback port), started from a copy of a registry
that the demo training script filled once per session, so every test begins with the seed's models
and their versions already registered, as a training pipeline would leave them. The stack's tracking
URI goes through a counting proxy, so tests can count the requests Pulumi's providers send.

The servers run on MRGOV_TEST_DB (tests/conftest.py). On PostgreSQL the template is a stopped server's
data folder with its stopped cluster in it, and each test's copy starts its own cluster: a file-level
copy of a cluster that is shut down is a valid one (https://www.postgresql.org/docs/15/backup-file.html).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from components.spec import StackSpec, build_from_files
from localdev.counting_proxy import CountingProxy
from localdev.mlflow_server import Server, start, stop
from tests.conftest import ROOT, TEST_DB, PulumiCli, cli_env, copy_project, data_dir_for, db_options


@dataclass(frozen=True)
class Template:
    """A stopped server's data folder holding the trained demo versions, and its admin secrets."""

    data: Path
    password: str
    secret_key: str
    db: str = "sqlite"
    db_password: str | None = None

    def start(self, data: Path, port: int | None = None, workers: int | None = None) -> Server:
        """A server on `data` (a copy of this template), with the template's secrets and database."""
        return start(
            data, port, auth=True, password=self.password, secret_key=self.secret_key, workers=workers,
            **db_options(self.db, self.db_password),
        )  # fmt: skip


def train_template(data: Path, db: str) -> Template:
    """Start a server on `db` in `data`, run the demo training against it, stop it."""
    template = Template(
        data, secrets.token_urlsafe(18), secrets.token_hex(16), db,
        secrets.token_urlsafe(18) if db == "postgres" else None,
    )  # fmt: skip
    server = template.start(data, workers=1)  # one worker starts sooner; the tests' copies get the default
    try:
        env = {**os.environ, **server.credentials_env, "MLFLOW_TRACKING_URI": server.url}
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "train.py"), "--tracking-uri", server.url],
            env=env, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    finally:
        stop(data)
    return template


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return train_template(data_dir_for(TEST_DB, tmp_path_factory.mktemp("trained")) / "mlflow", TEST_DB)


@dataclass
class Registry:
    """A running MLflow server made from the template; restartable on the same port and data."""

    data: Path
    template: Template
    server: Server

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.url, registry_uri=self.url)

    def stop(self) -> None:
        stop(self.data)

    def restart(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.server = self.template.start(self.data, port)


# A stopped server's files only: no pid files, sockets or logs of the template's run.
_NOT_COPIED = ("server.pid", "server.log", "postmaster.pid", "postgres-run", ".s.PGSQL.*")


def open_registry(template: Template, data: Path) -> Registry:
    """Copy the template to `data` and start a server on the copy."""
    shutil.copytree(template.data, data, ignore=shutil.ignore_patterns(*_NOT_COPIED))
    return Registry(data, template, template.start(data))


@pytest.fixture
def registry(
    tmp_path: Path, trained_template: Template, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Registry]:
    reg = open_registry(trained_template, data_dir_for(trained_template.db, tmp_path) / "mlflow")
    for key, value in reg.server.credentials_env.items():
        monkeypatch.setenv(key, value)  # this process's MLflow clients act as the admin
    try:
        yield reg
    finally:
        reg.stop()


OUR_MODULES = ("mrgov:registry:", "mrgov:auth:")


def type_of(urn: str) -> str:
    """A URN's own type token (its type part also names the parents' types)."""
    return urn.split("::")[-2].rsplit("$", 1)[-1]


def is_ours(urn: str) -> bool:
    """True for a resource of the mrgov provider (not a component, provider instance or the stack)."""
    return type_of(urn).startswith(OUR_MODULES)


@dataclass
class LocalStack:
    """The `local` stack in a temporary project copy, its registry, and the proxy in front of it."""

    cli: PulumiCli
    registry: Registry
    proxy: CountingProxy

    @property
    def project(self) -> Path:
        return self.cli.project

    def spec(self) -> StackSpec:
        """What the stack's config declares now, resolved by the same spec the program uses."""
        return build_from_files(self.project, "local")

    def set(self, path: str, value: str) -> None:
        self.cli.run("config", "set", "--path", path, value)

    def refused(self) -> list[str]:
        """What a `preview` and then an `up --yes` print, each asserted to fail, and without a traceback."""
        outs = []
        for command in (["preview"], ["up", "--yes"]):
            failed = self.cli.run(*command, check=False)
            assert failed.returncode != 0, command
            out = failed.stdout + failed.stderr
            assert "Traceback" not in out, out
            outs.append(out)
        return outs

    def up(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cli.run("up", "--yes", "--skip-preview", *extra, check=check)

    def preview_steps(self, *extra: str) -> list[dict[str, Any]]:
        """The steps of `pulumi preview --json` on the mrgov provider's resources (no stack, components
        or provider instances)."""
        out = self.cli.run("preview", "--json", *extra).stdout
        steps: list[dict[str, Any]] = json.loads(out).get("steps", [])
        return [s for s in steps if is_ours(s["urn"])]

    def resources(self) -> list[dict[str, Any]]:
        """The resources in the state (`pulumi stack export`)."""
        exported = json.loads(self.cli.run("stack", "export").stdout)
        resources: list[dict[str, Any]] = exported["deployment"].get("resources") or []
        return resources

    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = json.loads(self.cli.run("stack", "output", "--json").stdout)
        return outputs


@pytest.fixture
def local_stack(tmp_path: Path, engine_bin: str, registry: Registry) -> Iterator[LocalStack]:
    project = copy_project(tmp_path / "project")
    cli = PulumiCli(project, cli_env(tmp_path, engine_bin, registry.server.credentials_env))
    cli.env["PYTHONPATH"] = str(project)
    with CountingProxy(registry.url) as proxy:
        cli.run("stack", "init", "local")
        stack = LocalStack(cli, registry, proxy)
        stack.set("mrgov:target.trackingUri", proxy.url)
        yield stack

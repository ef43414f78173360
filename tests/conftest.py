"""Shared fixtures: real MLflow servers on free loopback ports, and the Pulumi CLI.

The servers' database is sqlite unless `MRGOV_TEST_DB=postgres` (`make test DB=postgres`): then each
server keeps its stores in its own private PostgreSQL cluster (localdev/postgres.py), with 4 workers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localdev.cli_env import offline_cli_env
from localdev.mlflow_server import DATABASES, Server, start, stop

ROOT = Path(__file__).resolve().parent.parent
TEST_DB = os.environ.get("MRGOV_TEST_DB", "sqlite")
_REACHABLE_DIRS: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DB not in DATABASES:
        raise pytest.UsageError(f"MRGOV_TEST_DB={TEST_DB!r}: choose one of {', '.join(DATABASES)}")


def data_dir_for(db: str, tmp: Path) -> Path:
    """Where a server on `db` keeps its data: `tmp`, except for PostgreSQL under root.

    Then the cluster runs as the `postgres` user, who cannot enter pytest's temporary folders (mode
    0700, owned by root), so the data goes to a folder of its own in the system's temporary folder,
    open for traversal only (0711) and removed at the end of the session.
    """
    if db != "postgres" or os.geteuid() != 0:
        return tmp
    folder = Path(tempfile.mkdtemp(prefix="mrgov-pg-"))
    folder.chmod(0o711)
    _REACHABLE_DIRS.append(folder)
    return folder / tmp.name


@pytest.fixture(scope="session", autouse=True)
def _remove_reachable_dirs() -> Iterator[None]:
    yield
    for folder in _REACHABLE_DIRS:
        shutil.rmtree(folder, ignore_errors=True)


def db_options(db: str, db_password: str | None = None) -> dict[str, Any]:
    """`start()` keywords for a server on `db` (a generated database password for PostgreSQL)."""
    if db == "sqlite":
        return {"db": db}
    # The first start of a cluster runs initdb and MLflow's migrations; 4 workers then import MLflow.
    return {"db": db, "db_password": db_password or secrets.token_urlsafe(18), "timeout": 240.0}


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One MLflow server with basic auth for the whole session, on a free port, on MRGOV_TEST_DB.

    Tests that change server-wide state (users, roles) should use names of their own.
    """
    data = data_dir_for(TEST_DB, tmp_path_factory.mktemp("mlflow"))
    server = start(
        data, auth=True, password=secrets.token_urlsafe(18), secret_key=secrets.token_hex(16),
        **db_options(TEST_DB),
    )  # fmt: skip
    try:
        yield server
    finally:
        stop(data)


@pytest.fixture
def admin_env(mlflow_server: Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point MLflow clients in this process at the session server, as the admin."""
    env = {"MLFLOW_TRACKING_URI": mlflow_server.url, **mlflow_server.credentials_env}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@dataclass
class PulumiCli:
    """The real pulumi CLI on a private copy of the project, with its own state folder."""

    project: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            # The global flag goes first: after a "--" in args it would be read as a value.
            ["pulumi", "--non-interactive", *args],
            cwd=self.project, env=self.env, text=True, capture_output=True, timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc


@pytest.fixture(scope="session")
def engine_bin() -> str:
    """The folder holding `pulumi` and its plugins (make engine builds it)."""
    out = subprocess.run([str(ROOT / "scripts" / "engine.sh")], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def copy_project(dest: Path) -> Path:
    """A temporary copy of the program: sources, Pulumi.yaml and stack files, with the venv linked."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in ["__main__.py", "Pulumi.yaml", "components", "provider"]:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / item)
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        # The salt belongs to the developer's own passphrase, not the test's.
        lines = stack_file.read_text().splitlines(keepends=True)
        (dest / stack_file.name).write_text("".join(x for x in lines if not x.startswith("encryptionsalt:")))
    for extra in ["registry.yaml"]:
        if (ROOT / extra).exists():
            shutil.copy2(ROOT / extra, dest / extra)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def cli_env(tmp_path: Path, engine_bin: str, credentials: dict[str, str]) -> dict[str, str]:
    """Environment for the CLI: offline settings, a private state folder, the given MLflow credentials."""
    return offline_cli_env(
        tmp_path,
        engine_bin,
        # A stopped server should fail an `up` in seconds, not after minutes of retries.
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="1",
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="1",
        MLFLOW_HTTP_REQUEST_TIMEOUT="20",
        **credentials,
    )


@pytest.fixture
def pulumi_cli(tmp_path: Path, engine_bin: str, mlflow_server: Server) -> PulumiCli:
    """A logged-in CLI with a file backend in tmp_path, pointed at the session's MLflow server."""
    project = copy_project(tmp_path / "project")
    env = cli_env(tmp_path, engine_bin, mlflow_server.credentials_env)
    env["PYTHONPATH"] = str(project)
    return PulumiCli(project, env)

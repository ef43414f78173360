"""The embedded default registry: a local MLflow server with sqlite, on 127.0.0.1; or with PostgreSQL.

Used three ways, so the logic lives in one place:
- `make mlflow-up [DB=postgres]` / `make mlflow-down` (``python -m localdev.mlflow_server up|down``);
- the integration and e2e tests, which start their own server on a free port;
- the benchmarks.

With sqlite (the default) the server runs with one worker and job execution off
(`--workers 1`, MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false; measured on a 2-core machine:
ready in about 5 s and about 0.5 GB, against 10 s and 2-3 GB with the defaults of
`mlflow server --help`). With `db="postgres"` its stores live in a private PostgreSQL
cluster in the data folder (localdev/postgres.py), as teams run MLflow in production,
and it runs 4 workers. MLflow's basic-auth app is on unless asked otherwise. The admin
password, the Flask secret and the database password come from the environment,
or from a generated, git-ignored `secrets.env` in the state folder: never from a
committed file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from localdev import postgres
from localdev.ports import free_port, port_in_use

if TYPE_CHECKING:
    import sqlalchemy

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE = ROOT / ".state"
DEFAULT_PORT = 5000
DEFAULT_PG_PORT = 5433  # next to Debian's own cluster on 5432, as Debian numbers a second cluster
ADMIN_USER = "admin"
DATABASES = ("sqlite", "postgres")
# Several workers serve requests in parallel, as in production. uvicorn (MLflow's server) then leaves
# Nagle's algorithm on, so a response on a reused connection waits ~40 ms for the client's delayed ACK
# (https://github.com/Kludex/uvicorn/issues/3149); `--workers 1` avoids it (docs/postgres.md).
DEFAULT_WORKERS = {"sqlite": 1, "postgres": 4}

# Generated once per state folder when the environment does not provide them.
SECRET_KEYS = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "PULUMI_CONFIG_PASSPHRASE",
    postgres.PASSWORD_KEY,
)
# Only the server needs these: load_secrets leaves them out unless asked (scripts/pulumi.sh exports
# what it gets to the Pulumi CLI, its program and providers).
SERVER_ONLY_KEYS = (postgres.PASSWORD_KEY,)


class ServerError(RuntimeError):
    """The local server could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class Server:
    """A running local MLflow server and how to reach it."""

    url: str
    pid: int
    data_dir: Path
    username: str | None
    password: str | None
    db: str = "sqlite"
    workers: int = 1
    backend_store_uri: str = ""  # never holds a password (postgres: it comes from PGPASSWORD)
    db_password: str | None = field(default=None, repr=False)  # the `mlflow` role's, for PostgreSQL

    def backend_engine(self) -> sqlalchemy.Engine:
        """A SQLAlchemy engine on the server's tracking database, for tests that edit it directly."""
        import sqlalchemy

        connect_args = {"password": self.db_password} if self.db_password else {}
        return sqlalchemy.create_engine(self.backend_store_uri, connect_args=connect_args)

    @property
    def credentials_env(self) -> dict[str, str]:
        """Environment that lets MlflowClient authenticate as the admin."""
        if self.password is None:
            return {}
        return {
            "MLFLOW_TRACKING_USERNAME": self.username or ADMIN_USER,
            "MLFLOW_TRACKING_PASSWORD": self.password,
        }


def load_secrets(state_dir: Path, *, server: bool = False) -> dict[str, str]:
    """The local secrets: the environment's if set, else `state_dir/secrets.env`.

    The file is created on first use with random values and mode 0600; a key added since is
    generated and the file rewritten. The database password (SERVER_ONLY_KEYS) is returned only with
    `server=True`.
    """
    path = state_dir / "secrets.env"
    stored: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.startswith("#"):
                stored[key.strip()] = value.strip()
    missing = [k for k in SECRET_KEYS if k not in stored]
    if missing:
        state_dir.mkdir(parents=True, exist_ok=True)
        for key in missing:
            stored[key] = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# Generated local secrets. Git-ignored; delete to rotate.\n")
            fh.writelines(f"{k}={stored[k]}\n" for k in SECRET_KEYS)
    stored.setdefault("MLFLOW_TRACKING_USERNAME", ADMIN_USER)
    return {k: os.environ.get(k, v) for k, v in stored.items() if server or k not in SERVER_ONLY_KEYS}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _write_auth_ini(data_dir: Path, database_uri: str | None = None) -> Path:
    ini = data_dir / "basic_auth.ini"
    database_uri = database_uri or f"sqlite:///{data_dir / 'auth.db'}"
    ini.write_text(
        "[mlflow]\n"
        # Nobody sees a model until the stack grants it: permissions are the point.
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = {database_uri}\n"
        f"admin_username = {ADMIN_USER}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Without it every request pays a PBKDF2 password check (~0.3 s here). The cache is per worker
        # (mlflow/server/auth/__init__.py, _USER_AUTH_CACHE): with one worker a password change through
        # the API takes effect at once; with several, the workers that did not serve it still accept
        # the old password until the TTL, and out-of-band edits always wait for it.
        "auth_cache_ttl_seconds = 60\n"
    )
    return ini


def start(
    data_dir: Path,
    port: int | None = None,
    *,
    auth: bool = True,
    password: str | None = None,
    secret_key: str | None = None,
    timeout: float = 90.0,
    db: str = "sqlite",
    workers: int | None = None,
    db_password: str | None = None,
    db_port: int | None = None,
) -> Server:
    """Start `mlflow server` on 127.0.0.1 with its data in `data_dir`; wait for /health.

    `db="postgres"` first starts the private PostgreSQL cluster in `data_dir/postgres` (created on first
    use) on `db_port` (a free port by default), with `db_password` as the `mlflow` role's password, and
    points both MLflow's stores and the auth app's at it; `workers` defaults to 4 then, else 1.
    Raises ServerError when a port is taken or a server does not come up.
    """
    if db not in DATABASES:
        raise ServerError(f"unknown database {db!r}; choose one of: {', '.join(DATABASES)}")
    host = "127.0.0.1"
    port = port if port is not None else free_port()
    workers = workers or DEFAULT_WORKERS[db]
    if port_in_use(host, port):
        raise ServerError(
            f"port {port} on {host} is already in use; stop what holds it "
            f"(`make mlflow-down`, or `ss -ltnp 'sport = :{port}'`)"
        )
    if auth and (not password or not secret_key):
        raise ServerError("auth needs an admin password and a Flask secret key")
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "artifacts").mkdir(exist_ok=True)
    env = dict(os.environ)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    auth_uri = None
    if db == "postgres":
        if not db_password:
            raise ServerError(f"a PostgreSQL-backed server needs a password ({postgres.PASSWORD_KEY})")
        try:
            cluster = postgres.up(data_dir / "postgres", db_port or free_port(), db_password)
        except postgres.PostgresError as exc:
            raise ServerError(str(exc)) from None
        backend_uri, auth_uri = cluster.uri(postgres.TRACKING_DB), cluster.uri(postgres.AUTH_DB)
        env.update(postgres.client_env(db_password))
        # The auth app's users and permissions go to PostgreSQL too: 4 workers writing one sqlite file
        # would serialise on its lock, and its state would not be in the database teams back up.
    else:
        backend_uri = f"sqlite:///{data_dir / 'mlflow.db'}"
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--host", host, "--port", str(port), "--workers", str(workers),
        "--backend-store-uri", backend_uri,
        # Artifacts go through the server over HTTP (mlflow-artifacts:/), so a data folder can be copied.
        "--artifacts-destination", str(data_dir / "artifacts"),
        "--serve-artifacts",
    ]  # fmt: skip
    if auth:
        assert password and secret_key
        cmd += ["--app-name", "basic-auth"]
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(_write_auth_ini(data_dir, auth_uri))
        env["MLFLOW_AUTH_ADMIN_PASSWORD"] = password
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secret_key
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115 (the child owns it)
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=data_dir, start_new_session=True
    )
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            _kill(proc.pid)
            if db == "postgres":
                postgres.stop_cluster(data_dir / "postgres")
            raise ServerError(
                f"MLflow server on {url} did not become healthy: {_why(data_dir / 'server.log')}"
            )
        time.sleep(0.25)
    (data_dir / "server.pid").write_text(f"{proc.pid}\n{url}\n{db}\n")
    return Server(
        url, proc.pid, data_dir, ADMIN_USER if auth else None, password if auth else None,
        db=db, workers=workers, backend_store_uri=backend_uri,
        db_password=db_password if db == "postgres" else None,
    )  # fmt: skip


def _why(log: Path) -> str:
    """The last error the server's log names, in one line, else the log's tail."""
    text = log.read_text(errors="replace")
    errors = re.findall(r"^(?:[\w.]+\.)?\w*(?:Error|Exception): .+$", text, flags=re.MULTILINE)
    if not errors:
        return f"\n{text[-2000:]}"
    hint = ""
    if errors[-1].startswith("ModuleNotFoundError"):
        hint = "; the virtualenv lacks a package: `make venv` installs requirements.lock"
    return f"{errors[-1]}{hint} (log: {log})"


def _kill(pid: int, timeout: float = 15.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Reap our own child, else it lingers as a zombie in the group; a server that another process
        # started (make mlflow-up) is not ours to reap.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


def stop(data_dir: Path) -> bool:
    """Stop the server recorded in `data_dir`, then its PostgreSQL cluster if any; False when neither
    was running."""
    stopped = False
    pid_file = data_dir / "server.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().split()[0])
        _kill(pid)
        pid_file.unlink()
        stopped = True
    try:
        return postgres.stop_cluster(data_dir / "postgres") or stopped
    except postgres.PostgresError as exc:
        raise ServerError(str(exc)) from None


def running_url(data_dir: Path) -> str | None:
    """The URL of a healthy server recorded in `data_dir`, if any."""
    pid_file = data_dir / "server.pid"
    if not pid_file.exists():
        return None
    url = pid_file.read_text().split()[1]
    return url if _healthy(url) else None


def running_db(data_dir: Path) -> str:
    """The database of the server recorded in `data_dir` (sqlite for a pid file from before)."""
    fields = (data_dir / "server.pid").read_text().split()
    return fields[2] if len(fields) > 2 else "sqlite"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MLFLOW_PORT", DEFAULT_PORT)))
    parser.add_argument("--db", choices=DATABASES, default="sqlite", help="the server's database (up)")
    parser.add_argument(
        "--pg-port", type=int, default=os.environ.get("MRGOV_POSTGRES_PORT", str(DEFAULT_PG_PORT)),
        help="PostgreSQL's port on 127.0.0.1 with --db postgres",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, help="server workers (default: 1 on sqlite, 4 on postgres)")
    parser.add_argument("--no-auth", action="store_true")
    args = parser.parse_args(argv)
    data_dir = args.state / "mlflow"
    try:
        return _command(args, data_dir)
    except ServerError as exc:
        print(f"mlflow: {exc}", file=sys.stderr)
        return 1


def _command(args: argparse.Namespace, data_dir: Path) -> int:
    if args.command == "down":
        print("mlflow: stopped" if stop(data_dir) else "mlflow: was not running")
        return 0
    url = running_url(data_dir)
    if args.command == "status":
        print(f"mlflow: running at {url} ({running_db(data_dir)})" if url else "mlflow: not running")
        return 0 if url else 1
    if url:
        db = running_db(data_dir)
        if db != args.db:
            raise ServerError(
                f"already running at {url} on {db}; stop it (`make mlflow-down`) to start it on {args.db}"
            )
        print(f"mlflow: already running at {url} ({db})")
        return 0
    stop(data_dir)  # a stale pid file from a crashed server, or its database left running
    creds = load_secrets(args.state, server=True)
    t0 = time.perf_counter()
    server = start(
        data_dir, args.port, auth=not args.no_auth,
        password=creds["MLFLOW_TRACKING_PASSWORD"],
        secret_key=creds["MLFLOW_FLASK_SERVER_SECRET_KEY"],
        db=args.db, db_password=creds[postgres.PASSWORD_KEY], db_port=args.pg_port, workers=args.workers,
        timeout=180.0 if args.db == "postgres" else 90.0,
    )  # fmt: skip
    where = f"data in {data_dir}"
    if args.db == "postgres":
        db_port = urlsplit(server.backend_store_uri).port
        where += f", PostgreSQL on 127.0.0.1:{db_port}"
    if server.workers > 1:
        where += f", {server.workers} workers"
    print(f"mlflow: running at {server.url} ({where}; up in {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

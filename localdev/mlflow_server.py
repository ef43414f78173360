"""The embedded default registry: a local MLflow server with sqlite, on 127.0.0.1.

Used three ways, so the logic lives in one place:
- `make mlflow-up` / `make mlflow-down` (``python -m localdev.mlflow_server up|down``);
- the integration and e2e tests, which start their own server on a free port;
- the benchmarks.

The server runs with one worker and job execution off (FACTS.md §2: ready in
about 5 s and about 0.5 GB, against 10 s and 2-3 GB by default), and with
MLflow's basic-auth app on unless asked otherwise. The admin password and the
Flask secret come from the environment, or from a generated, git-ignored
`secrets.env` in the data folder: never from a committed file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE = ROOT / ".state"
DEFAULT_PORT = 5000
ADMIN_USER = "admin"

# Generated once per state folder when the environment does not provide them.
SECRET_KEYS = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "PULUMI_CONFIG_PASSPHRASE",
)


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

    @property
    def credentials_env(self) -> dict[str, str]:
        """Environment that lets MlflowClient authenticate as the admin."""
        if self.password is None:
            return {}
        return {
            "MLFLOW_TRACKING_USERNAME": self.username or ADMIN_USER,
            "MLFLOW_TRACKING_PASSWORD": self.password,
        }


def load_secrets(state_dir: Path) -> dict[str, str]:
    """The local secrets: the environment's if set, else `state_dir/secrets.env`.

    The file is created on first use with random values and mode 0600.
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
    return {k: os.environ.get(k, v) for k, v in stored.items()}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _write_auth_ini(data_dir: Path) -> Path:
    ini = data_dir / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\n"
        # Nobody sees a model until the stack grants it: permissions are the point.
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{data_dir / 'auth.db'}\n"
        f"admin_username = {ADMIN_USER}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Without it every request pays a PBKDF2 password check (~0.3 s here). One worker, so a password
        # change through the API takes effect at once; only out-of-band edits wait for the TTL.
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
) -> Server:
    """Start `mlflow server` on 127.0.0.1 with its data in `data_dir`; wait for /health.

    Raises ServerError when the port is taken or the server does not come up.
    """
    host = "127.0.0.1"
    port = port if port is not None else free_port()
    if _port_in_use(host, port):
        raise ServerError(
            f"port {port} on {host} is already in use; stop what holds it "
            f"(`make mlflow-down`, or `ss -ltnp 'sport = :{port}'`)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "artifacts").mkdir(exist_ok=True)
    env = dict(os.environ)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--host", host, "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{data_dir / 'mlflow.db'}",
        # Artifacts go through the server over HTTP (mlflow-artifacts:/), so a data folder can be copied.
        "--artifacts-destination", str(data_dir / "artifacts"),
        "--serve-artifacts",
    ]  # fmt: skip
    if auth:
        if not password or not secret_key:
            raise ServerError("auth needs an admin password and a Flask secret key")
        cmd += ["--app-name", "basic-auth"]
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(_write_auth_ini(data_dir))
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
            tail = (data_dir / "server.log").read_text(errors="replace")[-2000:]
            raise ServerError(f"MLflow server on {url} did not become healthy:\n{tail}")
        time.sleep(0.25)
    (data_dir / "server.pid").write_text(f"{proc.pid}\n{url}\n")
    return Server(url, proc.pid, data_dir, ADMIN_USER if auth else None, password if auth else None)


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
    """Stop the server recorded in `data_dir`; False when none was running."""
    pid_file = data_dir / "server.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    _kill(pid)
    pid_file.unlink()
    return True


def running_url(data_dir: Path) -> str | None:
    """The URL of a healthy server recorded in `data_dir`, if any."""
    pid_file = data_dir / "server.pid"
    if not pid_file.exists():
        return None
    url = pid_file.read_text().split()[1]
    return url if _healthy(url) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MLFLOW_PORT", DEFAULT_PORT)))
    parser.add_argument("--no-auth", action="store_true")
    args = parser.parse_args(argv)
    data_dir = args.state / "mlflow"
    if args.command == "down":
        print("mlflow: stopped" if stop(data_dir) else "mlflow: was not running")
        return 0
    url = running_url(data_dir)
    if args.command == "status":
        print(f"mlflow: running at {url}" if url else "mlflow: not running")
        return 0 if url else 1
    if url:
        print(f"mlflow: already running at {url}")
        return 0
    stop(data_dir)  # a stale pid file from a crashed server
    creds = load_secrets(args.state)
    try:
        server = start(
            data_dir, args.port, auth=not args.no_auth,
            password=creds["MLFLOW_TRACKING_PASSWORD"],
            secret_key=creds["MLFLOW_FLASK_SERVER_SECRET_KEY"],
        )  # fmt: skip
    except ServerError as exc:
        print(f"mlflow: {exc}", file=sys.stderr)
        return 1
    print(f"mlflow: running at {server.url} (data in {data_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A private PostgreSQL cluster for the local MLflow server: `make mlflow-up DB=postgres`.

The cluster lives in the server's data folder (`<data>/postgres`, `.state/mlflow/postgres` for
`make mlflow-up`) and belongs to this project alone: it listens on 127.0.0.1 only, on its own port, with
its Unix socket in a private folder next to it (`<data>/postgres-run`, mode 0700). Debian's own cluster
(`pg_lsclusters`, port 5432) is neither used nor touched.

- **Binaries**: Debian's `postgresql` package (`apt-get install postgresql`) puts them in
  `/usr/lib/postgresql/<version>/bin`, off PATH (Debian's README.Debian in postgresql-common); a
  `pg_ctl` on PATH wins, `MRGOV_PG_BINDIR` overrides both.
- **OS user**: the server refuses to run as root ("root execution of the PostgreSQL server is not
  permitted", src/backend/main/main.c), so under root the cluster belongs to the system user
  `postgres` (created by the Debian package; created here with `useradd --system` if missing). That
  user must be able to reach the data folder: pytest's private tmp dirs and /root are not reachable.
- **Roles**: the cluster's superuser is that OS user, reachable only through the private socket with
  `peer` authentication (initdb `--auth-local=peer`); TCP needs a password (`--auth-host=scram-sha-256`).
  MLflow logs in over TCP as the role `mlflow`, owner of the databases `mlflow` (tracking and
  registry) and `mlflow_auth` (the basic-auth app's users and permissions).
- **Password**: generated once, kept in `.state/secrets.env` (`MRGOV_POSTGRES_PASSWORD`, mode 0600),
  and set on the role at every start, so deleting the file rotates it. The server never sees it in
  clear: the role gets a SCRAM-SHA-256 verifier computed here (CREATE ROLE accepts a pre-encrypted
  password: https://www.postgresql.org/docs/15/sql-createrole.html). MLflow gets it through libpq's
  `PGPASSWORD` environment variable (https://www.postgresql.org/docs/15/libpq-envars.html), never on
  a command line, in a URI or in a file it writes.
- **Driver**: `postgresql://` URIs go to SQLAlchemy's default PostgreSQL driver, psycopg 3 since
  SQLAlchemy 2.1 (sqlalchemy/dialects/postgresql/__init__.py); requirements.lock pins psycopg.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from localdev.ports import port_in_use

ROLE = "mlflow"
TRACKING_DB = "mlflow"
AUTH_DB = "mlflow_auth"
PASSWORD_KEY = "MRGOV_POSTGRES_PASSWORD"
DEFAULT_OS_USER = "postgres"
HOST = "127.0.0.1"
BINARIES = ("initdb", "pg_ctl", "postgres", "psql")
# Unix socket paths are limited to 107 bytes on Linux (sun_path); the socket is `<dir>/.s.PGSQL.<port>`.
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.65535")
# Each of 4 uvicorn workers holds two SQLAlchemy pools (tracking store, auth store) of up to
# 5 + 10 connections (SQLAlchemy's QueuePool defaults), plus the parent's: above PostgreSQL's 100.
MAX_CONNECTIONS = 200


class PostgresError(RuntimeError):
    """The cluster could not be set up, started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class OsUser:
    """The operating-system user that owns and runs the cluster."""

    name: str
    uid: int
    gid: int

    @property
    def is_other(self) -> bool:
        """True when the cluster runs as another user than this process (we are root)."""
        return self.uid != os.geteuid()


@dataclass(frozen=True)
class Cluster:
    """A running private cluster."""

    pgdata: Path
    socket_dir: Path
    port: int
    user: OsUser

    def uri(self, database: str) -> str:
        """SQLAlchemy URI of `database` as the `mlflow` role; the password comes from PGPASSWORD."""
        return f"postgresql://{ROLE}@{HOST}:{self.port}/{database}"


# ------------------------------------------------------------------------------------------------
# Binaries and the OS user
# ------------------------------------------------------------------------------------------------
def _version_key(bindir: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", bindir.parent.name)) or (0,)


def find_bindir() -> Path:
    """The folder holding initdb, pg_ctl, postgres and psql."""
    candidates: list[Path] = []
    if override := os.environ.get("MRGOV_PG_BINDIR"):
        candidates.append(Path(override))
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in BINARIES):
            return bindir
    raise PostgresError(
        "PostgreSQL is not installed (no initdb, pg_ctl, postgres and psql on PATH or in "
        "/usr/lib/postgresql/*/bin); install it with `apt-get install postgresql` and retry"
    )


def server_user() -> OsUser:
    """This process's user, or under root the system user `postgres` (created if missing)."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    try:
        entry = pwd.getpwnam(DEFAULT_OS_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", DEFAULT_OS_USER],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if made.returncode != 0:
            raise PostgresError(
                "PostgreSQL refuses to run as root and there is no `postgres` user to run it; "
                f"create one (`useradd --system postgres`: {made.stderr.strip() or made.returncode})"
            ) from None
        entry = pwd.getpwnam(DEFAULT_OS_USER)
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _run(
    user: OsUser, cmd: list[str], *, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as the cluster's user (from `/`, which that user can always enter)."""
    drop: dict[str, object] = {}
    if user.is_other:
        drop = {"user": user.uid, "group": user.gid, "extra_groups": []}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    try:
        done: subprocess.CompletedProcess[str] = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, cwd="/", env=env,
            check=False, **drop,  # type: ignore[call-overload]
        )  # fmt: skip
        return done
    except subprocess.TimeoutExpired:
        raise PostgresError(f"`{Path(cmd[0]).name}` did not finish within {timeout:.0f} s") from None


def _unreachable(path: Path, user: OsUser) -> Path | None:
    """The first existing folder on the way to `path` that `user` may not enter, if any."""
    if not user.is_other:
        return None
    for folder in [*reversed(path.parents), path]:
        try:
            st = folder.stat()
        except FileNotFoundError:
            return None
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return folder
    return None


def _own(path: Path, user: OsUser, mode: int) -> None:
    """Give `path` (recursively) to `user`, e.g. after a copy made by root; set the folder's mode."""
    if user.is_other and path.stat().st_uid != user.uid:
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.lchown(Path(root) / name, user.uid, user.gid)
        os.chown(path, user.uid, user.gid)
    path.chmod(mode)


# ------------------------------------------------------------------------------------------------
# The cluster
# ------------------------------------------------------------------------------------------------
def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 secret PostgreSQL stores for `password` (RFC 5802 and RFC 7677).

    The same construction as PostgreSQL's scram_build_secret (src/common/scram-common.c) and the format
    of pg_authid.rolpassword (https://www.postgresql.org/docs/15/catalog-pg-authid.html). SASLprep is
    the identity on printable ASCII, which is all this accepts.
    """
    if not (password.isascii() and password.isprintable()):
        raise PostgresError(f"{PASSWORD_KEY} must be printable ASCII")
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _postmaster(pgdata: Path) -> tuple[int, int] | None:
    """(pid, port) of the cluster's live postmaster, from postmaster.pid; None when it is not running.

    The file's lines: pid, data directory, start time, port, socket directory, listen address, ...
    (src/include/utils/pidfile.h).
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, and someone else's
    return pid, port


def _log_tail(log: Path, chars: int = 1500) -> str:
    try:
        return log.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return "(no log)"


def init_cluster(pgdata: Path, user: OsUser, bindir: Path) -> bool:
    """Create the cluster in `pgdata` unless it holds one; True when it was created."""
    if (pgdata / "PG_VERSION").exists():
        return False
    if blocked := _unreachable(pgdata.parent, user):
        raise PostgresError(
            f"the `{user.name}` user that runs PostgreSQL cannot enter {blocked}; put the data folder "
            f"where it can (not under /root or pytest's private tmp folders), or `chmod o+x {blocked}`"
        )
    pgdata.mkdir(parents=True, exist_ok=True)
    if any(pgdata.iterdir()):
        raise PostgresError(f"{pgdata} is not empty and holds no PostgreSQL cluster; move or delete it")
    _own(pgdata, user, 0o700)
    done = _run(
        user,
        [str(bindir / "initdb"), "-D", str(pgdata), "--auth-local=peer", "--auth-host=scram-sha-256",
         "--encoding=UTF8", "--no-locale", "--no-instructions"],
    )  # fmt: skip
    if done.returncode != 0:
        raise PostgresError(f"initdb failed in {pgdata}:\n{(done.stdout + done.stderr).strip()[-1500:]}")
    return True


def start_cluster(pgdata: Path, port: int, user: OsUser, bindir: Path, timeout: float = 60) -> Cluster:
    """Start the cluster in `pgdata` on 127.0.0.1:`port` (a running one is reused, on its own port)."""
    socket_dir = pgdata.parent / "postgres-run"
    if running := _postmaster(pgdata):
        return Cluster(pgdata, socket_dir, running[1], user)
    if len(str(socket_dir)) > _MAX_SOCKET_DIR:
        raise PostgresError(
            f"the data folder's path is too long for PostgreSQL's Unix socket ({socket_dir}: "
            f"at most {_MAX_SOCKET_DIR} characters); use a shorter one"
        )
    if port_in_use(HOST, port):
        raise PostgresError(
            f"port {port} on {HOST} is already in use; stop what holds it (`ss -ltnp 'sport = :{port}'`) "
            "or choose another (MRGOV_POSTGRES_PORT)"
        )
    _own(pgdata, user, 0o700)  # a copied data folder belongs to whoever copied it
    socket_dir.mkdir(exist_ok=True)
    _own(socket_dir, user, 0o700)
    log = pgdata / "postgres.log"
    # pg_ctl hands -o to the postgres command through the shell, so each option is quoted for it
    # (https://www.postgresql.org/docs/15/app-pg-ctl.html).
    options = shlex.join(
        ["-k", str(socket_dir), "-p", str(port), "-c", f"listen_addresses={HOST}",
         "-c", f"max_connections={MAX_CONNECTIONS}"]
    )  # fmt: skip
    done = _run(
        user,
        [str(bindir / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w", "-t", str(int(timeout)),
         "-o", options, "start"],
        timeout=timeout + 30,
    )  # fmt: skip
    if done.returncode != 0:
        raise PostgresError(
            f"PostgreSQL did not start on {HOST}:{port} (data in {pgdata}):\n{_log_tail(log)}"
        )
    return Cluster(pgdata, socket_dir, port, user)


def ensure_databases(cluster: Cluster, password: str, bindir: Path) -> None:
    """Create the `mlflow` role and its two databases if missing; set the role's password."""
    verifier = scram_verifier(password)
    script = f"""
-- Nothing below reaches the server log, even when a statement fails.
SET log_min_error_statement = panic;
SET client_min_messages = warning;
SELECT 'CREATE ROLE {ROLE} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}')\\gexec
ALTER ROLE {ROLE} PASSWORD '{verifier}';
SELECT 'CREATE DATABASE {TRACKING_DB} OWNER {ROLE}'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{TRACKING_DB}')\\gexec
SELECT 'CREATE DATABASE {AUTH_DB} OWNER {ROLE}'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{AUTH_DB}')\\gexec
"""
    done = _run(
        cluster.user,
        [str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(cluster.socket_dir),
         "-p", str(cluster.port), "-U", cluster.user.name, "-d", "postgres", "-f", "-"],
        stdin=script,
    )  # fmt: skip
    if done.returncode != 0:
        said = "\n".join(x for x in (done.stdout + done.stderr).splitlines() if "SCRAM-SHA-256$" not in x)
        raise PostgresError(f"could not create the MLflow role and databases:\n{said.strip()}")


def stop_cluster(pgdata: Path, timeout: float = 60) -> bool:
    """Stop the cluster in `pgdata`; False when it was not running.

    SIGINT is PostgreSQL's fast shutdown (https://www.postgresql.org/docs/15/server-shutdown.html),
    what `pg_ctl stop -m fast` sends; sent directly, it needs neither the binaries nor the user.
    """
    running = _postmaster(pgdata)
    if running is None:
        return False
    pid = running[0]
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _postmaster(pgdata) is None:
                return True
            time.sleep(0.1)
    raise PostgresError(f"PostgreSQL (pid {pid}, data in {pgdata}) did not stop; see {pgdata}/postgres.log")


def up(pgdata: Path, port: int, password: str, timeout: float = 60) -> Cluster:
    """Initialise the cluster if needed, start it, and make sure MLflow's role and databases exist."""
    bindir = find_bindir()
    user = server_user()
    init_cluster(pgdata, user, bindir)
    cluster = start_cluster(pgdata, port, user, bindir, timeout)
    try:
        ensure_databases(cluster, password, bindir)
    except PostgresError:
        stop_cluster(pgdata)
        raise
    return cluster


def client_env(password: str) -> Mapping[str, str]:
    """Environment that lets libpq clients (MLflow's SQLAlchemy engines) log in as the `mlflow` role."""
    return {"PGPASSWORD": password}

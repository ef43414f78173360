"""Benchmark 2: the real Pulumi engine on the local MLflow target, against a direct MlflowClient floor.

For each N (default 50 and 200) a template registry is prepared once: an MLflow server (basic auth on)
holding N registered models with 2 READY versions each (one tiny sklearn model logged with a signature,
registered N*2 times), as a training pipeline would leave them. Each measurement starts its own server on
a copy of that template, with a `CountingProxy` in front, so requests are counted at the server side.

Stack (the real CLI on a temporary copy of the project, file backend, offline settings, and
`PULUMI_SKIP_CHECKPOINTS=true` as scripts/pulumi.sh sets it for every project command):
  first `up`, no-op `up`, `refresh`, `destroy` (all `--yes --skip-preview`); models are `retainOnDelete`
  (their versions belong to the training pipeline), so destroy leaves them, with what the stack set on them.
Floor (one Python process, sequential `MlflowClient` calls, no checks; wall time includes its start-up):
  apply:   3 roles, then per model: description, 3 tags, 2 version descriptions, 2 aliases, 3 role grants;
  read:    per model the model and its 2 versions; all roles and users once (what a refresh must read);
  destroy: the 3 roles. Retained models leave the stack whole (tags, aliases, descriptions, grants stay),
           so that is all a destroy changes; the stack's destroy is engine bookkeeping besides.
A no-op `up` has nothing to change; it is set against the read floor (what a drift check must read).

Engine settings tried on the first `up` at the smallest N (time): `--parallel 32`, and the engine's default
checkpoint after every step (`PULUMI_SKIP_CHECKPOINTS=false`): what the product's setting saves.

The servers run with `auth_cache_ttl_seconds = 600` in their basic-auth ini (the local server's default
is 60): without it MLflow checks the admin password with PBKDF2 on every request (about 0.3 s of server
CPU here), which would dominate both the stack and the floor. `--no-auth-cache` measures without it.

Servers (`--db sqlite,postgres`): each database gets its own templates and measurements, one after the
other, reported side by side. sqlite is the default server (1 worker); postgres keeps MLflow's stores and
the auth app's in a private PostgreSQL cluster in the copy's data folder (localdev/postgres.py) and runs
4 workers. Each row records how long its server took to start on a copy of the template, and the
latency of single requests on it (`probe`: sequential reads and writes straight to the server, then 8
readers at once), before the floor runs there.

Run: `python -m bench.engine [--n 50 200] [--db sqlite,postgres]` (writes bench/results/engine.json).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml  # type: ignore[import-untyped]

from bench.common import (
    RESULTS,
    ROLES,
    ROOT,
    fit_exponent,
    full_name,
    machine,
    mlflow_stack_config,
    shared_registry,
    write_result,
)
from bench.profile import CheckpointWatch, CpuSampler
from localdev import mlflow_server
from localdev.cli_env import offline_cli_env
from localdev.counting_proxy import CountingProxy

SIZES = (50, 200, 1000)
# Per child process: at N = 1000 a sequential floor takes about 20 minutes and a first `up` or
# `destroy` on the file backend may take an hour (docs/benchmarks.md, section 2), more on a busy machine.
STEP_TIMEOUT = 4 * 3600
AUTH_CACHE_TTL = 600


# ------------------------------------------------------------------------------------------------
# Servers
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Secrets:
    """The servers' admin secrets, and the database they run on (with its password for postgres)."""

    password: str
    secret_key: str
    db: str = "sqlite"
    db_password: str = ""


@contextlib.contextmanager
def server(data: Path, creds: Secrets, auth_cache: bool) -> Iterator[mlflow_server.Server]:
    """A local MLflow server (basic auth) on `data`, optionally with the auth cache; stopped afterwards."""
    original = mlflow_server._write_auth_ini

    def with_cache(data_dir: Path, database_uri: str | None = None) -> Path:
        ini = original(data_dir, database_uri)
        ttl = f"auth_cache_ttl_seconds = {AUTH_CACHE_TTL if auth_cache else 0}"
        lines = [x for x in ini.read_text().splitlines() if not x.startswith("auth_cache_ttl_seconds")]
        ini.write_text("\n".join([*lines, ttl]) + "\n")
        return ini

    mlflow_server._write_auth_ini = with_cache  # the ini is written inside start(); nothing else changes
    try:
        srv = mlflow_server.start(
            data, auth=True, password=creds.password, secret_key=creds.secret_key,
            db=creds.db, db_password=creds.db_password or None, timeout=300.0,
        )  # fmt: skip
    finally:
        mlflow_server._write_auth_ini = original
    try:
        yield srv
    finally:
        mlflow_server.stop(data)


def client_env(srv: mlflow_server.Server) -> dict[str, str]:
    return {**srv.credentials_env, "MLFLOW_DISABLE_TELEMETRY": "true"}


def make_template(n: int, data: Path, creds: Secrets, auth_cache: bool) -> float:
    """Fill `data` with N models of 2 READY versions each (signature included); return seconds taken."""
    t0 = time.perf_counter()
    with server(data, creds, auth_cache) as srv:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.engine", "--template", srv.url, "--n", str(n)],
            cwd=ROOT, env={**os.environ, **client_env(srv)}, capture_output=True, text=True,
            timeout=STEP_TIMEOUT,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"template N={n} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return time.perf_counter() - t0


def _fill_template(url: str, n: int) -> None:
    """(In a child process.) Log one tiny model with a signature; register it twice under N names."""
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature
    from mlflow.tracking._model_registry.client import ModelRegistryClient
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(url)
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    y = np.array([0, 1, 1, 0])
    model = LogisticRegression().fit(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(x, model.predict(x)), pip_requirements=[]
        )
    reg = ModelRegistryClient(url, url)

    def register(i: int) -> None:
        reg.create_registered_model(full_name(i))
        for _ in range(2):
            reg.create_model_version(
                full_name(i), source=info.model_uri, run_id=run.info.run_id, model_id=info.model_id
            )

    # From POOL threads, one model per task: set-up only, so the fastest way the server allows.
    with ThreadPoolExecutor(POOL) as pool:
        list(pool.map(register, range(n)))


@contextlib.contextmanager
def registry_copy(template: Path, work: Path, creds: Secrets, auth_cache: bool) -> Iterator[CountingProxy]:
    """A server on a fresh copy of the template (a stopped cluster too, for postgres), with a counting
    proxy in front; `proxy.start_s` is how long the server took to start."""
    if work.exists():
        shutil.rmtree(work)
    ignore = shutil.ignore_patterns("server.pid", "server.log", "postmaster.pid", "postgres-run")
    shutil.copytree(template, work, ignore=ignore)
    t0 = time.perf_counter()
    with server(work, creds, auth_cache) as srv, CountingProxy(srv.url) as proxy:
        proxy.credentials = client_env(srv)  # type: ignore[attr-defined]
        proxy.start_s = round(time.perf_counter() - t0, 1)  # type: ignore[attr-defined]
        proxy.server_url = srv.url  # type: ignore[attr-defined]
        proxy.server_pid = srv.pid  # type: ignore[attr-defined]  # its process group: the workers too
        yield proxy


PROBE_READS, PROBE_WRITES, PROBE_PARALLEL, PROBE_PARALLEL_READS = 40, 20, 8, 80


def probe(url: str, credentials: dict[str, str]) -> dict[str, float]:
    """Request latency on a server, without the proxy: one keep-alive session per thread, basic auth.

    Reads are GET registered-models/get of model 0, writes POST registered-models/set-tag on it (a
    `bench_probe` tag, deleted afterwards). Bounded: 16 warm-up reads (every worker's auth cache), 40
    sequential reads on one keep-alive connection (as MLflow's client sends them), 20 reads on a new
    connection each, 20 sequential writes, then 80 reads from 8 threads at once.

    The two kinds of read tell the database's cost from the HTTP server's: uvicorn with `--workers`
    above 1 leaves Nagle's algorithm on for accepted sockets, so a response on a reused connection
    waits for the client's delayed ACK, about 40 ms on Linux (https://github.com/Kludex/uvicorn/issues/3149).
    """
    auth = (credentials["MLFLOW_TRACKING_USERNAME"], credentials["MLFLOW_TRACKING_PASSWORD"])
    api, name = f"{url}/api/2.0/mlflow/registered-models", full_name(0)

    def session() -> requests.Session:
        s = requests.Session()
        s.auth = auth
        return s

    main = session()

    def read(s: requests.Session = main) -> float:
        t0 = time.perf_counter()
        s.get(f"{api}/get", params={"name": name}, timeout=60).raise_for_status()
        return time.perf_counter() - t0

    def write(i: int) -> float:
        t0 = time.perf_counter()
        body = {"name": name, "key": "bench_probe", "value": str(i)}
        main.post(f"{api}/set-tag", json=body, timeout=60).raise_for_status()
        return time.perf_counter() - t0

    def reader(count: int) -> Callable[[int], list[float]]:
        def run(_: int) -> list[float]:
            s = session()
            return [read(s) for _ in range(count)]

        return run

    with ThreadPoolExecutor(PROBE_PARALLEL) as pool:
        list(pool.map(reader(2), range(PROBE_PARALLEL)))  # warm-up
    reads = [read() for _ in range(PROBE_READS)]
    fresh = []
    for _ in range(PROBE_WRITES):
        with session() as s:
            fresh.append(read(s))
    writes = [write(i) for i in range(PROBE_WRITES)]
    main.delete(f"{api}/delete-tag", json={"name": name, "key": "bench_probe"}, timeout=60).raise_for_status()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(PROBE_PARALLEL) as pool:
        per_thread = pool.map(reader(PROBE_PARALLEL_READS // PROBE_PARALLEL), range(PROBE_PARALLEL))
        parallel = [t for times in per_thread for t in times]
    wall = time.perf_counter() - t0

    def median_ms(values: list[float]) -> float:
        return round(1000 * statistics.median(values), 1)

    def p90_ms(values: list[float]) -> float:
        return round(1000 * statistics.quantiles(values, n=10)[8], 1)

    return {
        "read_ms_median": median_ms(reads),
        "read_ms_p90": p90_ms(reads),
        "read_new_connection_ms_median": median_ms(fresh),
        "read_new_connection_ms_p90": p90_ms(fresh),
        "write_ms_median": median_ms(writes),
        "write_ms_p90": p90_ms(writes),
        "parallel_read_ms_median": median_ms(parallel),
        "parallel_reads_per_s": round(len(parallel) / wall, 1),
    }


def counts(proxy: CountingProxy, n: int) -> dict[str, Any]:
    reqs = list(proxy.requests)
    writes = [r for r in reqs if r.is_write]
    errors = [r for r in reqs if r.status >= 400]
    routes = Counter(f"{r.method} {r.path.split('?', 1)[0].removeprefix('/api/2.0/mlflow')}" for r in reqs)
    return {
        "requests": len(reqs),
        "writes": len(writes),
        # Where the requests go: per model, by method and route, most first.
        "routes_per_model": {route: round(count / n, 2) for route, count in routes.most_common()},
        "errors_4xx_5xx": len(errors),
        "requests_per_model": round(len(reqs) / n, 2),
        "writes_per_model": round(len(writes) / n, 2),
    }


# ------------------------------------------------------------------------------------------------
# The floor: sequential MlflowClient calls in one process
# ------------------------------------------------------------------------------------------------
FLOOR_PHASES = ("apply", "read", "destroy")
PARALLEL = "_parallel"
POOL = 8  # the parallel floor's threads: the engine's default `--parallel` (`pulumi up --help`)


def _floor(phase: str, url: str, n: int) -> float:
    """(In a child process.) Make the phase's registry calls; return seconds.

    `apply`, `read`, `destroy` make them one after another. The same phases with `_parallel` make the
    same calls from a pool of POOL threads, one model per task (each model's calls in order, as a
    hand-written script would), the roles first: the best a plain script does with the engine's
    concurrency.
    """
    t0 = time.perf_counter()
    from mlflow import MlflowClient

    from provider.registry.client import AuthClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    auth = AuthClient(url)
    levels = {"ml_engineers": "EDIT", "inference_jobs": "READ", "dashboards": "READ"}
    spec = shared_registry(n)["models"]
    base, parallel = phase.removesuffix(PARALLEL), phase.endswith(PARALLEL)

    def each(tasks: list[Callable[[], object]]) -> None:
        if not parallel:
            for task in tasks:
                task()
            return
        with ThreadPoolExecutor(POOL) as pool:
            for future in [pool.submit(task) for task in tasks]:
                future.result()  # re-raises a failed call

    if base == "apply":
        role_ids: dict[str, int] = {}

        def role(r: str) -> Callable[[], None]:
            return lambda: role_ids.__setitem__(r, int(auth.create_role("default", r, "")["id"]))

        def apply(i: int, m: dict[str, Any]) -> Callable[[], None]:
            def run() -> None:
                name = full_name(i)
                client.update_registered_model(name, m["description"])
                for key, value in m["tags"].items():
                    client.set_registered_model_tag(name, key, value)
                for version, text in m["versionDescriptions"].items():
                    client.update_model_version(name, version, text)
                for alias, version in m["aliases"].items():
                    client.set_registered_model_alias(name, alias, str(version))
                for r in ROLES:
                    auth.add_role_permission(role_ids[r], "registered_model", name, levels[r])

            return run

        each([role(r) for r in ROLES])
        each([apply(i, m) for i, m in enumerate(spec.values())])
    elif base == "read":

        def read(i: int) -> Callable[[], None]:
            def run() -> None:
                client.get_registered_model(full_name(i))
                for version in ("1", "2"):
                    client.get_model_version(full_name(i), version)

            return run

        each([auth.list_all_roles, auth.list_users, *(read(i) for i in range(n))])
    elif base == "destroy":
        # Models are retainOnDelete, and since 04ddb39 a retained model leaves the stack whole (its tags,
        # aliases, descriptions and grants stay): what a destroy changes in the registry is the 3 roles.
        ids = [int(r["id"]) for r in auth.list_all_roles() if r["name"] in ROLES]
        each([functools.partial(auth.delete_role, role_id) for role_id in ids])
    else:
        raise ValueError(f"unknown floor phase {phase!r}")
    return time.perf_counter() - t0


def leftovers(proxy: CountingProxy, n: int) -> int:
    """How many models still carry a tag or alias the stack set (all N when models are retained whole)."""
    from mlflow.tracking._model_registry.client import ModelRegistryClient

    creds: dict[str, str] = proxy.credentials  # type: ignore[attr-defined]
    saved = {k: os.environ.get(k) for k in creds}
    os.environ.update(creds)
    try:
        reg = ModelRegistryClient(proxy.url, proxy.url)
        spec = shared_registry(n)["models"]
        left = 0
        for i, m in enumerate(spec.values()):
            model = reg.get_registered_model(full_name(i))
            if set(model.tags) & set(m["tags"]) or set(model.aliases) & set(m["aliases"]):
                left += 1
        return left
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_floor(phase: str, proxy: CountingProxy, n: int) -> dict[str, Any]:
    proxy.reset()
    env = {**os.environ, **proxy.credentials}  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.engine", "--floor", phase, proxy.url, "--n", str(n)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"floor {phase} N={n} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    inner = float(proc.stdout.strip().splitlines()[-1])
    server_sum, server_busy = proxy.server_time()
    return {
        "wall_s": round(wall, 2), "calls_s": round(inner, 2), **counts(proxy, n),
        "server_latency_sum_s": round(server_sum, 2), "server_busy_s": round(server_busy, 2),
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------
# The stack: the real CLI on a temporary project
# ------------------------------------------------------------------------------------------------
def engine_bin() -> str:
    out = subprocess.run(
        [str(ROOT / "scripts" / "engine.sh")], capture_output=True, text=True, check=True, timeout=3600
    )
    return out.stdout.strip().splitlines()[-1]


@dataclass
class Stack:
    project: Path
    env: dict[str, str]

    def run(
        self, *args: str, extra_env: dict[str, str] | None = None, cpu: CpuSampler | None = None
    ) -> float:
        """Run one `pulumi` command; return its wall time. `cpu` samples its processes while it runs."""
        t0 = time.perf_counter()
        with subprocess.Popen(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.project, env={**self.env, **(extra_env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ) as proc:  # fmt: skip
            if cpu is not None:
                cpu.start(proc.pid)
            try:
                stdout, stderr = proc.communicate(timeout=STEP_TIMEOUT)
            finally:
                if cpu is not None:
                    cpu.stop()
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"pulumi {' '.join(args)} failed:\n{stdout[-4000:]}\n{stderr[-4000:]}")
        return wall

    @property
    def stacks_dir(self) -> Path:
        return self.project.parent / "state" / ".pulumi" / "stacks"

    def state_bytes(self) -> int:
        """Size of the stack's current checkpoint (history and backups left out)."""
        return sum(p.stat().st_size for p in self.stacks_dir.rglob("*.json"))


def make_stack(work: Path, proxy: CountingProxy, n: int, bin_dir: str) -> Stack:
    project = work / "project"
    project.mkdir(parents=True)
    for item in ("__main__.py", "Pulumi.yaml"):
        shutil.copy2(ROOT / item, project / item)
    # The program, and the mrgov provider it runs from ./provider (Pulumi.yaml `plugins`), on the
    # project's virtualenv (the plugin script runs `<project>/.venv/bin/python -m provider`).
    for package in ("components", "provider"):
        shutil.copytree(ROOT / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".venv").symlink_to(ROOT / ".venv")
    (project / "registry.yaml").write_text(yaml.safe_dump(shared_registry(n), sort_keys=False))
    config = {"config": mlflow_stack_config(proxy.url)}
    (project / "Pulumi.bench.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = offline_cli_env(
        work,
        bin_dir,
        # What scripts/pulumi.sh sets: the product's checkpoint strategy (docs/benchmarks.md). The
        # `checkpoints` setting measures the engine's default against it.
        PULUMI_SKIP_CHECKPOINTS="true",
        PYTHONPATH=str(project),
        **proxy.credentials,  # type: ignore[attr-defined]
    )
    stack = Stack(project, env)
    stack.run("stack", "init", "bench")
    return stack


def stack_phase(stack: Stack, proxy: CountingProxy, n: int, *args: str, **kw: Any) -> dict[str, Any]:
    """One command with its profile: requests, the server's time (at the proxy), CPU seconds by
    process kind (bench/profile.py), and the checkpoint files the file backend wrote."""
    proxy.reset()
    cpu = CpuSampler(server_pgid=proxy.server_pid)  # type: ignore[attr-defined]
    with CheckpointWatch(stack.stacks_dir) as watch:
        wall = stack.run(*args, "--yes", "--skip-preview", cpu=cpu, **kw)
    server_sum, server_busy = proxy.server_time()
    return {
        "wall_s": round(wall, 2), **counts(proxy, n), "state_bytes": stack.state_bytes(),
        "server_latency_sum_s": round(server_sum, 2), "server_busy_s": round(server_busy, 2),
        "cpu_s": cpu.by_kind(),
        # A checkpoint is one write of <stack>.json; the file backend also writes a .bak copy and
        # gocloud's .attrs beside each (both counted in the files and bytes).
        "checkpoint_writes": watch.by_suffix.get(".json", 0), "checkpoint_bytes": watch.bytes,
        "checkpoint_files": dict(watch.by_suffix),
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------
VARIANTS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "default": ((), {}),
    "parallel_32": (("--parallel", "32"), {}),
    # The engine's default, a checkpoint after every step: what skipping them saves.
    "checkpoints": ((), {"PULUMI_SKIP_CHECKPOINTS": "false"}),
}


def first_up_variants(
    n: int, template: Path, tmp: Path, creds: Secrets, bin_dir: str, auth_cache: bool, labels: tuple[str, ...]
) -> dict[str, Any]:
    """The first `up` on fresh copies of the template, once per engine setting."""
    out: dict[str, Any] = {}
    for label in labels:
        flags, extra_env = VARIANTS[label]
        vwork = tmp / f"stack-{n}-{label}"
        with registry_copy(template, vwork / "mlflow", creds, auth_cache) as proxy:
            stack = make_stack(vwork, proxy, n, bin_dir)
            out[label] = stack_phase(stack, proxy, n, "up", *flags, extra_env=extra_env)
        shutil.rmtree(vwork, ignore_errors=True)
        print(f"N={n}: first up with {label}: {out[label]}", flush=True)
    return out


def bench_tmp() -> Path:
    """A temporary folder for templates and copies. Open for traversal (0711): a PostgreSQL cluster in
    it runs as the `postgres` user when the benchmark runs as root (localdev/postgres.py)."""
    tmp = Path(tempfile.mkdtemp(prefix="mrgov-bench-"))
    tmp.chmod(0o711)
    return tmp


def settings_only(
    ns: list[int], labels: tuple[str, ...], servers: list[Secrets], bin_dir: str, auth_cache: bool
) -> int:
    """Only the first `up` per engine setting (side by side in one run); writes engine_settings.json."""
    rows = []
    tmp = bench_tmp()
    try:
        for creds in servers:
            for n in ns:
                template = tmp / creds.db / f"template-{n}"
                make_template(n, template, creds, auth_cache)
                variants = first_up_variants(n, template, tmp / creds.db, creds, bin_dir, auth_cache, labels)
                rows.append({"db": creds.db, "n": n, "first_up": variants})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    path = write_result("engine_settings", {"rows": rows})
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


def bench_n(
    n: int, tmp: Path, creds: Secrets, bin_dir: str, auth_cache: bool, settings: bool
) -> dict[str, Any]:
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    template = tmp / f"template-{n}"
    setup_s = make_template(n, template, creds, auth_cache)
    print(f"N={n}: template with {n} models x 2 versions in {setup_s:.1f}s", flush=True)
    out: dict[str, Any] = {
        "db": creds.db, "workers": mlflow_server.DEFAULT_WORKERS[creds.db], "n": n,
        "template_s": round(setup_s, 1), "floor": {}, "stack": {}, "settings": {},
    }  # fmt: skip

    with registry_copy(template, tmp / f"floor-{n}", creds, auth_cache) as proxy:
        out["server_start_s"] = proxy.start_s  # type: ignore[attr-defined]
        print(f"N={n}: {creds.db} server on a copy of the template up in {out['server_start_s']} s")
        out["latency"] = probe(proxy.server_url, proxy.credentials)  # type: ignore[attr-defined]
        print(f"N={n}: {creds.db} request latency: {out['latency']}", flush=True)
        for phase in (*FLOOR_PHASES, *(p + PARALLEL for p in FLOOR_PHASES)):
            out["floor"][phase] = run_floor(phase, proxy, n)
            print(f"N={n}: floor {phase}: {out['floor'][phase]}", flush=True)

    work = tmp / f"stack-{n}"
    with registry_copy(template, work / "mlflow", creds, auth_cache) as proxy:
        stack = make_stack(work, proxy, n, bin_dir)
        for label, args in (("first_up", ("up",)), ("noop_up", ("up",)), ("refresh", ("refresh",)),
                            ("destroy", ("destroy",))):  # fmt: skip
            out["stack"][label] = stack_phase(stack, proxy, n, *args)
            print(f"N={n}: stack {label}: {out['stack'][label]}", flush=True)
        out["stack"]["destroy"]["models_left_with_managed_tags_or_aliases"] = leftovers(proxy, n)
        print(f"N={n}: after destroy: {out['stack']['destroy']['models_left_with_managed_tags_or_aliases']}")

    if settings:
        out["settings"] = first_up_variants(
            n, template, tmp, creds, bin_dir, auth_cache, ("parallel_32", "checkpoints")
        )

    floor = out["floor"]
    st = out["stack"]
    out["ratios"] = {}
    for label, phase in PAIRS:
        for suffix in ("", PARALLEL):
            key = f"{label}_vs_{phase}{suffix}_floor"
            out["ratios"][key] = round(st[label]["wall_s"] / floor[phase + suffix]["wall_s"], 2)
    print(f"N={n}: ratios {out['ratios']}", flush=True)
    out["shares"] = {label: shares(st[label]) for label, _ in PAIRS}
    per_step = out["settings"].get("checkpoints")
    if per_step:
        # What a checkpoint after every step would cost the first up: the engine's CPU on the same
        # requests with hundreds of checkpoints instead of 1, as a share of that run's wall time. The
        # wall-time difference is kept too, but it moves with the load: the two runs are minutes apart.
        wall = per_step["wall_s"] or 1.0
        cpu = per_step["cpu_s"].get("engine", 0.0) - st["first_up"]["cpu_s"].get("engine", 0.0)
        out["shares"]["first_up"]["per_step_checkpoints_engine_cpu"] = round(cpu / wall, 2)
        added = (wall - st["first_up"]["wall_s"]) / wall
        out["shares"]["first_up"]["per_step_checkpoints_wall"] = round(added, 2)
    for label, share in out["shares"].items():
        print(f"N={n}: {label} shares of wall time: {share}", flush=True)
    # When and on what this row ran, so that rows of separate runs (`--merge`) keep their own facts.
    out["run"] = {**machine(), "started": started, "load_average_at_start": load_at_start}
    return out


PAIRS = (("first_up", "apply"), ("noop_up", "read"), ("refresh", "read"), ("destroy", "destroy"))


def shares(phase: dict[str, Any]) -> dict[str, float]:
    """Where one command's wall time went, each as a fraction of it (they overlap: 2 cores, and the
    engine runs 8 steps at once). `server`: time with at least one request in flight at the proxy;
    `engine`, `program`, `provider`: those processes' CPU seconds (bench/profile.py)."""
    wall = phase["wall_s"] or 1.0
    cpu = phase["cpu_s"]
    return {
        "server": round(phase["server_busy_s"] / wall, 2),
        "engine_cpu": round(cpu.get("engine", 0.0) / wall, 2),
        "program_cpu": round(cpu.get("program", 0.0) / wall, 2),
        "provider_cpu": round(cpu.get("provider", 0.0) / wall, 2),
        "server_cpu": round(cpu.get("server", 0.0) / wall, 2),
    }


def goals_at(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 15's goals (part 2), measured on one row (the largest N): each with its figures."""
    st, fl = row["stack"], row["floor"]

    def goal(met: bool, figures: str) -> dict[str, Any]:
        return {"met": met, "figures": figures}

    up, seq, par = st["first_up"]["wall_s"], fl["apply"]["wall_s"], fl["apply_parallel"]["wall_s"]
    noop, refresh, read = st["noop_up"], st["refresh"]["wall_s"], fl["read"]["wall_s"]
    destroy, dfloor = st["destroy"]["wall_s"], fl["destroy"]["wall_s"]
    per_model, floor_per_model = st["first_up"]["requests_per_model"], fl["apply"]["requests_per_model"]
    return {
        "first up <= sequential floor": goal(up <= seq, f"{up:.1f} s vs {seq:.1f} s"),
        "first up <= 1.5x parallel floor": goal(up <= 1.5 * par, f"{up:.1f} s vs 1.5 x {par:.1f} s"),
        "no-op up < 60 s with 0 requests": goal(
            noop["wall_s"] < 60 and noop["requests"] == 0,
            f"{noop['wall_s']:.1f} s, {noop['requests']} requests",
        ),
        "refresh <= 1.2x read floor": goal(refresh <= 1.2 * read, f"{refresh:.1f} s vs 1.2 x {read:.1f} s"),
        "destroy <= 2x its floor": goal(destroy <= 2 * dfloor, f"{destroy:.1f} s vs 2 x {dfloor:.1f} s"),
        "first up requests per model <= floor's": goal(
            per_model <= floor_per_model, f"{per_model:.2f} vs {floor_per_model:.2f}"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--no-auth-cache", action="store_true", help="servers check passwords every request")
    parser.add_argument("--no-settings", action="store_true", help="skip the --parallel/checkpoint runs")
    parser.add_argument(
        "--settings-only",
        nargs="+",
        choices=sorted(VARIANTS),
        help="only the first up under these engine settings, side by side (writes engine_settings.json)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary servers, projects and states")
    parser.add_argument(
        "--db", default="sqlite", help="servers to measure side by side: sqlite, postgres or sqlite,postgres"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of bench/results/engine.json for servers this run does not measure",
    )
    parser.add_argument("--template", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--floor", nargs=2, metavar=("PHASE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.template:
        _fill_template(args.template, args.n[0])
        return 0
    if args.floor:
        print(_floor(args.floor[0], args.floor[1], args.n[0]))
        return 0

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    dbs = [x.strip() for x in args.db.split(",") if x.strip()]
    if not dbs or set(dbs) - set(mlflow_server.DATABASES) or len(set(dbs)) != len(dbs):
        parser.error(f"--db: a comma-separated list of {', '.join(mlflow_server.DATABASES)}, each once")
    base = Secrets(secrets.token_urlsafe(18), secrets.token_hex(16))
    servers = [dataclasses.replace(base, db=db, db_password=secrets.token_urlsafe(18)) for db in dbs]
    bin_dir = engine_bin()
    auth_cache = not args.no_auth_cache
    try:
        if args.settings_only:
            return settings_only(args.n, tuple(args.settings_only), servers, bin_dir, auth_cache)
        rows = run_all(args.n, servers, bin_dir, auth_cache, settings=not args.no_settings, keep=args.keep)
    except mlflow_server.ServerError as exc:
        print(f"bench.engine: {exc}", file=sys.stderr)
        return 1

    if args.merge and (RESULTS / "engine.json").exists():
        # A server measured in an earlier run (say, sqlite, then postgres in a second run of its own).
        earlier = json.loads((RESULTS / "engine.json").read_text())
        kept = [r for r in earlier["rows"] if r.get("db", "sqlite") not in dbs]
        rows = kept + rows
        dbs = list(dict.fromkeys([*(r.get("db", "sqlite") for r in kept), *dbs]))
    growth: dict[str, dict[str, float | None]] = {}
    goals: dict[str, dict[str, Any]] = {}
    for db in dbs:
        mine = [r for r in rows if r["db"] == db]
        growth[db] = growth_exponents(mine)
        big = max(mine, key=lambda r: r["n"])
        goals[db] = {"n": big["n"], **goals_at(big)}
    print(f"growth exponents: {growth}")
    for db, found in goals.items():
        print(f"goals (issue 15) on {db} at N = {found['n']}:")
        for text, g in found.items():
            if text != "n":
                print(f"  {'met    ' if g['met'] else 'not met'}  {text}: {g['figures']}")
    path = write_result(
        "engine",
        {"auth_cache_ttl_seconds": AUTH_CACHE_TTL if auth_cache else 0, "dbs": dbs, "rows": rows,
         "growth_exponent": growth, "goals": goals},
        load_at_start=load_at_start,
    )  # fmt: skip
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


def run_all(
    ns: list[int], servers: list[Secrets], bin_dir: str, auth_cache: bool, settings: bool, keep: bool
) -> list[dict[str, Any]]:
    """Every N on every server, one server after the other (the same load hits both less evenly than
    interleaving would, but a server's template is made once)."""
    rows = []
    tmp = bench_tmp()
    if keep:
        print(f"keeping {tmp}", flush=True)
    try:
        for creds in servers:
            work = tmp / creds.db
            work.mkdir()
            for i, n in enumerate(ns):
                # The engine settings are tried at the smallest N, to keep `make bench` near 20 minutes.
                rows.append(bench_n(n, work, creds, bin_dir, auth_cache, settings=i == 0 and settings))
                if not keep:
                    shutil.rmtree(work / f"template-{n}", ignore_errors=True)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return rows


def growth_exponents(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    growth = {}
    for label in ("first_up", "noop_up", "refresh", "destroy"):
        growth[f"stack_{label}_wall"] = fit_exponent([(r["n"], r["stack"][label]["wall_s"]) for r in rows])
        growth[f"stack_{label}_requests"] = fit_exponent(
            [(r["n"], r["stack"][label]["requests"]) for r in rows]
        )
    for phase in ("apply", "read", "destroy"):
        growth[f"floor_{phase}_wall"] = fit_exponent([(r["n"], r["floor"][phase]["wall_s"]) for r in rows])
    growth["state_bytes_after_first_up"] = fit_exponent(
        [(r["n"], r["stack"]["first_up"]["state_bytes"]) for r in rows]
    )
    return growth


if __name__ == "__main__":
    sys.exit(main())

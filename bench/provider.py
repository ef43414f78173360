"""Benchmark 3: what the mrgov provider process costs before it does any work.

- `start_s`: `python -u -m provider` (what `provider/pulumi-resource-mrgov`, the plugin the engine runs,
  executes) until it prints its gRPC port: the price of every provider process the engine starts per
  command (one per provider instance, so one per stack).
- `provider_modules_s`: importing the provider's modules (`provider.server`, `provider.resources`,
  `provider.schema`: what `python -m provider` imports before it serves); they import MLflow lazily.
- `mlflow_preload_s`: the MLflow imports the provider makes on its first registry call
  (`provider.registry.client.preload_mlflow`) plus what the alias check adds (`mlflow.artifacts`,
  `mlflow.models`).
- The same MLflow imports in a throwaway venv with `mlflow-skinny==3.17.2` instead of full `mlflow`
  (kept in bench/results/skinny-venv, pinned to requirements.lock; skipped with `--no-skinny` or if it
  cannot be installed), with peak RSS, and `-X importtime` summed by root package (`mlflow_import_top`).

Each figure is the median of REPEATS fresh interpreter runs (the start times of each run are kept in
`runs_start_s`), the interpreters interleaved; the bare interpreter start-up is reported separately
(`python_start_s`). Run: `python -m bench.provider`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import RESULTS, ROOT, write_result

REPEATS = 5
# What `python -m provider` (provider/__main__.py) imports before it serves.
PROVIDER_IMPORTS = "import provider.server, provider.resources, provider.schema"
# What the provider imports from MLflow: preload_mlflow(), then the alias check's extras.
MLFLOW_IMPORTS = (
    "import mlflow, mlflow.tracking._model_registry.client, mlflow.utils.rest_utils; "
    "import mlflow.artifacts, mlflow.models"
)
MEASURE = (
    "import time, resource, sys; t = time.perf_counter(); exec(sys.argv[1]); "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true"}


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def time_start(python: str) -> float:
    """Seconds from spawning `python -u -m provider` to reading its port line.

    With no engine address the server still starts and prints its port (the engine's address is only
    used once the engine calls); the process is killed as soon as the port is read.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [python, "-u", "-m", "provider"],
        cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - t0
        if not line.strip().isdigit():
            raise RuntimeError(f"python -m provider printed {line!r}, not a port")
        return elapsed
    finally:
        proc.kill()
        proc.wait()


def time_import(python: str, statement: str) -> tuple[float, float]:
    """(seconds, peak RSS MB) of `statement` in a fresh interpreter, timed inside it."""
    out = subprocess.run(
        [python, "-c", MEASURE, statement], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True
    )
    seconds, rss = out.stdout.split()
    return float(seconds), float(rss)


def python_start(python: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([python, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def import_profile(python: str, statement: str, top: int = 8) -> list[dict[str, Any]]:
    """Import time of `statement` by root package (the modules' own time, summed), largest first."""
    out = subprocess.run(
        [python, "-X", "importtime", "-c", statement], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    own: dict[str, int] = {}
    for line in out.stderr.splitlines():
        parts = line[len("import time:") :].split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        package = parts[2].strip().split(".")[0]
        own[package] = own.get(package, 0) + int(parts[0])
    biggest = sorted(own.items(), key=lambda kv: -kv[1])[:top]
    return [{"package": p, "self_s": round(us / 1e6, 3)} for p, us in biggest]


def skinny_python() -> str | None:
    """A venv with mlflow-skinny (no full mlflow), created once under bench/results; None if impossible."""
    venv = RESULTS / "skinny-venv"
    python = venv / "bin" / "python"
    if python.exists() and (venv / ".installed").exists():
        return str(python)
    RESULTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    constraints = venv / "constraints.txt"
    # Same versions as the project, minus full mlflow (the point of the comparison).
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    constraints.write_text("\n".join(x for x in lock if x and not x.startswith(("#", "mlflow=="))) + "\n")
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", str(constraints), "mlflow-skinny==3.17.2", "pulumi==3.272.0"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if proc.returncode != 0:
        print(f"mlflow-skinny venv could not be installed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    (venv / ".installed").touch()
    return str(python)


def measure(pythons: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every figure for each interpreter, runs interleaved so that load from others hits all alike."""
    raw: dict[str, dict[str, list[float]]] = {label: {} for label in pythons}
    for _ in range(REPEATS):
        for label, python in pythons.items():
            figures = raw[label]
            figures.setdefault("python_start_s", []).append(python_start(python))
            figures.setdefault("start_s", []).append(time_start(python))
            for key, statement in (
                ("provider_modules", PROVIDER_IMPORTS),
                ("mlflow_preload", MLFLOW_IMPORTS),
            ):
                seconds, rss = time_import(python, statement)
                figures.setdefault(f"{key}_s", []).append(seconds)
                figures.setdefault(f"{key}_rss_mb", []).append(rss)
    out: dict[str, dict[str, Any]] = {}
    for label, python in pythons.items():
        out[label] = {key: _median(values) for key, values in raw[label].items()}
        out[label]["runs_start_s"] = [round(x, 3) for x in raw[label]["start_s"]]
        out[label]["runs_mlflow_preload_s"] = [round(x, 3) for x in raw[label]["mlflow_preload_s"]]
        out[label]["mlflow_import_top"] = import_profile(python, MLFLOW_IMPORTS)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-skinny", action="store_true", help="skip the mlflow-skinny venv")
    args = parser.parse_args(argv)
    pythons = {"full_mlflow": str(ROOT / ".venv" / "bin" / "python")}
    skinny = None if args.no_skinny else skinny_python()
    if skinny:
        pythons["mlflow_skinny"] = skinny
    print("Provider overhead (median of fresh processes, interleaved)")
    result: dict[str, Any] = measure(pythons)
    for label, figures in result.items():
        _print(label, figures)
    if skinny:
        full, thin = result["full_mlflow"], result["mlflow_skinny"]
        result["skinny_saves_s"] = round(full["mlflow_preload_s"] - thin["mlflow_preload_s"], 3)
        result["skinny_saves_rss_mb"] = round(
            full["mlflow_preload_rss_mb"] - thin["mlflow_preload_rss_mb"], 1
        )
        print(
            f"mlflow-skinny instead of mlflow: {result['skinny_saves_s']}s and "
            f"{result['skinny_saves_rss_mb']} MB less per provider process (MLflow imports)"
        )
    path = write_result("provider", result)
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


def _print(label: str, figures: dict[str, Any]) -> None:
    print(f"  {label}:")
    for key, value in figures.items():
        if key not in ("mlflow_import_top", "runs_start_s", "runs_mlflow_preload_s"):
            print(f"    {key:<26} {value}")
    top = ", ".join(f"{t['package']} {t['self_s']}s" for t in figures.get("mlflow_import_top", []))
    print(f"    largest imports            {top}")


if __name__ == "__main__":
    sys.exit(main())

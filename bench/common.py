"""Shared helpers of the benchmarks: synthetic registries of N models, result files, machine facts.

Every benchmark describes the same synthetic registry: N models, each with 3 tags, 2 aliases (pinned to
versions 1 and 2), 2 version descriptions and grants for 3 roles (`ml_engineers` EDIT-level, and
`inference_jobs` / `dashboards` EXECUTE), the shape of the seed's models in registry.yaml.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

ROLES = ("ml_engineers", "inference_jobs", "dashboards")


def model_name(i: int) -> str:
    """The short name of synthetic model `i` (matches the default naming rule)."""
    return f"bench_model_{i:04d}"


def shared_registry(n: int) -> dict[str, Any]:
    """registry.yaml content describing N synthetic models (3 tags, 2 aliases, 2 descriptions, 3 roles)."""
    models = {
        model_name(i): {
            "description": f"Synthetic benchmark model {i}.",
            "tags": {"domain": "bench", "algorithm": "logistic_regression", "model_type": "classification"},
            "versionDescriptions": {"1": "Initial version", "2": "Retrained on more data"},
            "aliases": {"Production": 1, "Champion": 2},
        }
        for i in range(n)
    }
    return {
        "catalog": {
            "comment": "Benchmark catalog.",
            "grants": [{"roles": list(ROLES), "privileges": ["USE_CATALOG"]}],
        },
        "schemas": {
            "gold_features": {
                "comment": "Benchmark schema.",
                "grants": [
                    {"roles": ["ml_engineers"], "privileges": ["USE_SCHEMA", "CREATE_MODEL"]},
                    {"roles": ["inference_jobs", "dashboards"], "privileges": ["USE_SCHEMA"]},
                ],
            }
        },
        "roles": {
            "ml_engineers": {"description": "Train and register models.", "modelCreator": True},
            "inference_jobs": {"description": "Batch inference."},
            "dashboards": {"description": "BI dashboards."},
        },
        "modelDefaults": {
            "schema": "gold_features",
            "grants": [
                {"roles": ["ml_engineers"], "privileges": ["CREATE_MODEL_VERSION", "APPLY_TAG"]},
                {"roles": ["inference_jobs", "dashboards"], "privileges": ["EXECUTE"]},
            ],
        },
        "models": models,
    }


def databricks_stack_config() -> dict[str, Any]:
    """Stack config of a Databricks stack (like Pulumi.dev.yaml) for the synthetic registry."""
    return {
        "mrgov:target": {"kind": "databricks"},
        "mrgov:catalog": "bench_catalog",
        "mrgov:deployer": "3f0c2a55-8b1e-4d6a-9c2f-1a7e5b9d0c11",
        "mrgov:roles": {
            "ml_engineers": ["bench-ml-engineers"],
            "inference_jobs": ["bench-inference-jobs"],
            "dashboards": ["bench-dashboards"],
        },
    }


def mlflow_stack_config(tracking_uri: str) -> dict[str, Any]:
    """Stack config of an MLflow stack (like Pulumi.local.yaml) for the synthetic registry."""
    return {
        "mrgov:target": {"kind": "mlflow", "trackingUri": tracking_uri},
        "mrgov:catalog": "bench_catalog",
        "mrgov:roles": {r: [r] for r in ROLES},
        # The versions belong to the "training pipeline": the stack must not delete them on destroy.
        "mrgov:modelDefaults": {"retainOnDelete": True},
    }


def full_name(i: int) -> str:
    return f"bench_catalog.gold_features.{model_name(i)}"


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    """What the figures were measured on (other users' processes may have shared it)."""
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "git_commit": _git_commit(),
    }


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def write_result(name: str, data: dict[str, Any], load_at_start: list[float] | None = None) -> Path:
    """Write `bench/results/<name>.json` (git-ignored) and return its path.

    `load_at_start`: the load average when the run began (`os.getloadavg()`); without it the figure
    is taken now, at the end of the run, and `load_average_at_end` says the same.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    facts = machine()
    facts["load_average_at_end"] = facts["load_average_at_start"]
    if load_at_start is not None:
        facts["load_average_at_start"] = load_at_start
    path.write_text(json.dumps({"machine": facts, **data}, indent=2, sort_keys=False) + "\n")
    return path


def fit_exponent(points: list[tuple[float, float]]) -> float | None:
    """Growth exponent k of y ~ N^k between the smallest and largest N (1.0 is linear)."""
    import math

    pts = sorted((n, y) for n, y in points if n > 0 and y > 0)
    if len(pts) < 2:
        return None
    (n0, y0), (n1, y1) = pts[0], pts[-1]
    return round(math.log(y1 / y0) / math.log(n1 / n0), 2)


def python() -> str:
    """The interpreter running the benchmarks (the project's venv under `make bench`)."""
    return sys.executable

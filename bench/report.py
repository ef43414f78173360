"""Render the latest results in bench/results/*.json as the Markdown tables of docs/benchmarks.md,
and draw docs/bench-engine.png from the engine results.

Run after the benchmarks: `python -m bench.report` prints the tables (paste them into the doc) and
writes the plot: wall time against N for each command, the stack against both floors, log axes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT

PLOT = ROOT / "docs" / "bench-engine.png"
PAIRS = (("first_up", "apply"), ("noop_up", "read"), ("refresh", "read"), ("destroy", "destroy"))


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def program_table(data: dict[str, Any]) -> str:
    lines = [
        "| N | resources (custom+component) | component: eval s (CPU s) | flat: eval s (CPU s) "
        "| ratio wall (CPU) | GC tuned: eval s (CPU s), ratio | spec build s | process s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        c, f, g = r["component"], r["flat"], r["component_gc"]
        lines.append(
            f"| {r['n']} | {c['custom_resources']}+{c['component_resources']} "
            f"| {c['eval_s']:.2f} ({c['eval_cpu_s']:.2f}) | {f['eval_s']:.2f} ({f['eval_cpu_s']:.2f}) "
            f"| {r['ratio_eval']:.2f} ({r['ratio_eval_cpu']:.2f}) "
            f"| {g['eval_s']:.2f} ({g['eval_cpu_s']:.2f}), {r['ratio_gc_tuned_eval']:.2f} "
            f"| {c['spec_s']:.2f} | {c['total_s']:.1f} "
            f"| {c['peak_rss_mb']:.0f} (flat {f['peak_rss_mb']:.0f}) |"
        )
    return "\n".join(lines)


def _db(row: dict[str, Any]) -> str:
    """A row's server (results from before `--db` were all sqlite)."""
    db: str = row.get("db", "sqlite")
    return db


def engine_table(data: dict[str, Any]) -> str:
    lines = [
        "| server | N | command | stack s | floor s (sequential / parallel) | ratio (seq / par) "
        "| requests/model (stack / floor) | writes | 4xx | checkpoint KB | checkpoint writes, MB "
        "| shares: server, engine CPU, program CPU, provider CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        for label, floor_phase in PAIRS:
            s, f = r["stack"][label], r["floor"][floor_phase]
            par = r["floor"].get(f"{floor_phase}_parallel", f)
            sh = r.get("shares", {}).get(label, {})
            share = ", ".join(
                f"{sh.get(k, 0):.2f}" for k in ("server", "engine_cpu", "program_cpu", "provider_cpu")
            )
            lines.append(
                f"| {_db(r)} | {r['n']} | {label.replace('_', ' ')} | {s['wall_s']:.1f} "
                f"| {f['wall_s']:.1f} / {par['wall_s']:.1f} ({floor_phase}) "
                f"| {s['wall_s'] / f['wall_s']:.2f} / {s['wall_s'] / par['wall_s']:.2f} "
                f"| {s['requests_per_model']:.2f} / {f['requests_per_model']:.2f} "
                f"| {s['writes']} | {s['errors_4xx_5xx']} | {s['state_bytes'] / 1024:.0f} "
                f"| {s.get('checkpoint_writes', 0)}, {s.get('checkpoint_bytes', 0) / 2**20:.1f} | {share} |"
            )
        floor_apply = r["floor"]["apply"]["wall_s"]
        for label, s in r.get("settings", {}).items():
            lines.append(
                f"| {_db(r)} | {r['n']} | first up, {label.replace('_', ' ')} | {s['wall_s']:.1f} "
                f"| {floor_apply:.1f} (apply) | {s['wall_s'] / floor_apply:.2f} "
                f"| {s['requests_per_model']:.2f} | {s['writes']} | {s['errors_4xx_5xx']} "
                f"| {s['state_bytes'] / 1024:.0f} | | |"
            )
    return "\n".join(lines)


def runs(data: dict[str, Any]) -> list[str]:
    """Each server's run: its rows' first start, commit and load (rows merged from separate runs with
    `bench.engine --merge` keep their own)."""
    out = []
    for db in dict.fromkeys(_db(r) for r in data["rows"]):
        facts = [r["run"] for r in data["rows"] if _db(r) == db and "run" in r]
        if facts:
            first = min(facts, key=lambda f: f["started"])
            commits = ", ".join(sorted({f["git_commit"] for f in facts}))
            load = first["load_average_at_start"]
            out.append(f"{db}: started {first['started']}, commit {commits}, load at start {load}")
    return out


def routes_table(data: dict[str, Any]) -> str:
    """Where the first `up`'s requests go, per model and route, against the sequential apply floor's
    (the largest N of each server; rows from before the routes were recorded are left out)."""
    lines = ["| server | N | route | first up per model | apply floor per model |", "|---|---|---|---|---|"]
    for db in dict.fromkeys(_db(r) for r in data["rows"]):
        rows = [r for r in data["rows"] if _db(r) == db and "routes_per_model" in r["stack"]["first_up"]]
        if not rows:
            continue
        r = max(rows, key=lambda row: row["n"])
        stack, floor = r["stack"]["first_up"]["routes_per_model"], r["floor"]["apply"]["routes_per_model"]
        for route in sorted(set(stack) | set(floor), key=lambda k: (-stack.get(k, 0), k)):
            lines.append(
                f"| {db} | {r['n']} | `{route}` | {stack.get(route, 0):.2f} | {floor.get(route, 0):.2f} |"
            )
    return "\n".join(lines)


def servers_table(data: dict[str, Any]) -> str:
    """The servers side by side (`bench.engine --db sqlite,postgres`): one column per server.

    Latency rows come from `bench.engine.probe` (requests straight to the server, median / p90).
    """
    dbs: list[str] = list(dict.fromkeys(_db(r) for r in data["rows"]))
    by_key = {(_db(r), r["n"]): r for r in data["rows"]}
    ns = sorted({r["n"] for r in data["rows"]})

    def workers(r: dict[str, Any]) -> str:
        count = r.get("workers", 1)
        return f"{r['server_start_s']:.1f} ({count} worker{'s' if count > 1 else ''})"

    def stack(label: str, floor: str) -> Any:
        def cell(r: dict[str, Any]) -> str:
            s, f = r["stack"][label], r["floor"][floor]
            return f"{s['wall_s']:.1f} ({s['wall_s'] / f['wall_s']:.2f}x), {s['requests']} req"

        return cell

    def floor(phase: str) -> Any:
        def cell(r: dict[str, Any]) -> str:
            f = r["floor"][phase]
            return f"{f['wall_s']:.1f}, {f['requests']} req"

        return cell

    def latency(kind: str) -> Any:
        def cell(r: dict[str, Any]) -> str:
            lat = r.get("latency")
            return f"{lat[f'{kind}_ms_median']:.0f} / {lat[f'{kind}_ms_p90']:.0f}" if lat else ""

        return cell

    def parallel(r: dict[str, Any]) -> str:
        lat = r.get("latency")
        if not lat:
            return ""
        return f"{lat['parallel_reads_per_s']:.0f} req/s ({lat['parallel_read_ms_median']:.0f} ms)"

    figures = [
        ("server start on a copy of the template, s", workers),
        ("read latency (GET model), ms median / p90", latency("read")),
        ("the same, a new connection each", latency("read_new_connection")),
        ("write latency (set tag), ms median / p90", latency("write")),
        ("8 readers at once: throughput (median latency)", parallel),
        ("first `up` s (x apply floor), requests", stack("first_up", "apply")),
        ("no-op `up` s (x read floor), requests", stack("noop_up", "read")),
        ("`refresh` s (x read floor), requests", stack("refresh", "read")),
        ("`destroy` s (x destroy floor), requests", stack("destroy", "destroy")),
        ("floor apply s, requests", floor("apply")),
        ("floor read s, requests", floor("read")),
        ("floor destroy s, requests", floor("destroy")),
    ]
    lines = ["| N | figure | " + " | ".join(dbs) + " |", "|---|---|" + "---|" * len(dbs)]
    for n in ns:
        for text, render in figures:
            cells = [render(by_key[(db, n)]) if (db, n) in by_key else "" for db in dbs]
            lines.append(f"| {n} | {text} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def settings_table(data: dict[str, Any]) -> str:
    lines = [
        "| server | N | setting | first up s | requests/model | checkpoint KB |",
        "|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        for label, s in r["first_up"].items():
            lines.append(
                f"| {_db(r)} | {r['n']} | {label.replace('_', ' ')} | {s['wall_s']:.1f} "
                f"| {s['requests_per_model']:.2f} | {s['state_bytes'] / 1024:.0f} |"
            )
    return "\n".join(lines)


def provider_table(data: dict[str, Any]) -> str:
    keys = (
        ("python_start_s", "bare interpreter start, s"),
        ("start_s", "`python -m provider` to its port, s"),
        ("provider_modules_s", "import the provider's modules, s"),
        ("provider_modules_rss_mb", "  RSS after that, MB"),
        ("mlflow_preload_s", "MLflow imports of the provider, s"),
        ("mlflow_preload_rss_mb", "  RSS after that, MB"),
    )
    labels = [k for k in ("full_mlflow", "mlflow_skinny") if data.get(k)]
    lines = ["| figure | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for key, text in keys:
        lines.append(f"| {text} | " + " | ".join(str(data[k].get(key, "")) for k in labels) + " |")
    return "\n".join(lines)


def engine_plot(data: dict[str, Any], path: Path = PLOT) -> Path:
    """Wall time against N, one panel per command: the stack and both floors, per server, log axes."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    dbs = list(dict.fromkeys(_db(r) for r in data["rows"]))
    for ax, (label, phase) in zip(axes.flat, PAIRS, strict=True):
        for db, style in zip(dbs, ("-", "--", ":"), strict=False):
            rows = sorted((r for r in data["rows"] if _db(r) == db), key=lambda r: r["n"])
            ns = [r["n"] for r in rows]
            suffix = f" ({db})" if len(dbs) > 1 else ""
            lines = (
                ("stack", [r["stack"][label]["wall_s"] for r in rows], "o", "C0"),
                (f"{phase} floor, sequential", [r["floor"][phase]["wall_s"] for r in rows], "s", "C1"),
                (
                    f"{phase} floor, parallel",
                    [r["floor"].get(f"{phase}_parallel", r["floor"][phase])["wall_s"] for r in rows],
                    "^",
                    "C2",
                ),
            )
            for text, ys, marker, color in lines:
                ax.plot(ns, ys, style, marker=marker, color=color, label=text + suffix)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(label.replace("_", " "))
        ax.set_xlabel("models (N)")
        ax.set_ylabel("wall time, s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    m = data["machine"]
    when = "; ".join(runs(data)) or f"{m['date']}, commit {m['git_commit']}"
    fig.suptitle(f"bench.engine: the real engine against two floors ({when})", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> int:
    for name, render in (
        ("program_eval", program_table),
        ("engine", engine_table),
        ("engine_settings", settings_table),
        ("provider", provider_table),
    ):
        data = _load(name)
        if data is None:
            print(f"<!-- no bench/results/{name}.json -->\n")
            continue
        m = data["machine"]
        load, commit = m["load_average_at_start"], m["git_commit"]
        print(f"<!-- {name}: {m['date']}, load at start {load}, commit {commit} -->")
        print(render(data))
        if name == "engine":
            for run in runs(data):
                print(f"<!-- {run} -->")
            print(f"\n{routes_table(data)}")
        if name == "engine" and len({_db(r) for r in data["rows"]}) > 1:
            print(f"\n{servers_table(data)}")
        print(f"\ngrowth: {data.get('growth_exponent')}\ngoals: {data.get('goals')}\n")
    engine = _load("engine")
    if engine is not None and all("apply_parallel" in r["floor"] for r in engine["rows"]):
        print(f"wrote {engine_plot(engine).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render the latest results in bench/results/*.json as the Markdown tables of docs/benchmarks.md.

Run after the benchmarks: `python -m bench.report` prints the tables; paste them into the doc.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench.common import RESULTS


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


def engine_table(data: dict[str, Any]) -> str:
    lines = [
        "| N | command | stack s | floor s | ratio | requests/model (stack / floor) | writes | 4xx | "
        "checkpoint KB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    pairs = (("first_up", "apply"), ("noop_up", "read"), ("refresh", "read"), ("destroy", "destroy"))
    for r in data["rows"]:
        for label, floor_phase in pairs:
            s, f = r["stack"][label], r["floor"][floor_phase]
            lines.append(
                f"| {r['n']} | {label.replace('_', ' ')} | {s['wall_s']:.1f} "
                f"| {f['wall_s']:.1f} ({floor_phase}) | {s['wall_s'] / f['wall_s']:.2f} "
                f"| {s['requests_per_model']:.2f} / {f['requests_per_model']:.2f} "
                f"| {s['writes']} | {s['errors_4xx_5xx']} | {s['state_bytes'] / 1024:.0f} |"
            )
        floor_apply = r["floor"]["apply"]["wall_s"]
        for label, s in r.get("settings", {}).items():
            lines.append(
                f"| {r['n']} | first up, {label.replace('_', ' ')} | {s['wall_s']:.1f} "
                f"| {floor_apply:.1f} (apply) | {s['wall_s'] / floor_apply:.2f} "
                f"| {s['requests_per_model']:.2f} | {s['writes']} | {s['errors_4xx_5xx']} "
                f"| {s['state_bytes'] / 1024:.0f} |"
            )
    return "\n".join(lines)


def settings_table(data: dict[str, Any]) -> str:
    lines = ["| N | setting | first up s | requests/model | checkpoint KB |", "|---|---|---|---|---|"]
    for r in data["rows"]:
        for label, s in r["first_up"].items():
            lines.append(
                f"| {r['n']} | {label.replace('_', ' ')} | {s['wall_s']:.1f} | {s['requests_per_model']:.2f} "
                f"| {s['state_bytes'] / 1024:.0f} |"
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
        print(f"<!-- {name}: {m['date']}, load at start {m['load_average_at_start']} -->")
        print(render(data))
        print(f"\ngrowth: {data.get('growth_exponent')}\ngoals: {data.get('goals')}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

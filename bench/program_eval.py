"""Benchmark 1: evaluating the program under Pulumi mocks, against a flat hand-written program.

For N = 10, 100, 1000 synthetic models (3 tags, 2 aliases, 2 version descriptions, grants for 3 roles
each) on the Databricks target, each variant runs in a fresh Python process and reports:

- `eval_s`: from building the stack spec to the last registration resolved (imports excluded);
- `spec_s`: the part spent in `components.spec.build` (merge, validation, governance rules);
- `eval_cpu_s`: the CPU time of the same span (less sensitive to other users of the machine);
- `total_s`: the whole process, imports included;
- `peak_rss_mb`: the process's peak RSS (getrusage), and `import_rss_mb`, the RSS after imports.

Variants:
- `component`: what `__main__.py` does: `spec.build` then `Environment` (DatabricksRegistry and its
  components), with the same exports;
- `component_gc`: the same, with Python's cyclic GC tuned as the program could do it (`gc.freeze()`
  after imports, `gc.set_threshold(50_000, 20, 100)`): how much of the cost is the collector;
- `flat_gc`: the flat program with the same GC tuning: `component_gc` against `flat_gc` is like
  against like (issue 15 part 4), and the parent checks that both declare the same custom resources
  (the same type and name for each);
- `flat`: a hand-written program with no spec and no ComponentResource, looping over the same plain
  dicts and declaring the same custom resources with the same inputs and options: the databricks and
  mrgov providers, catalog, schema and models with their `databricks.Grants`, and the same
  `mrgov:registry:ModelMetadata` per model (tags, alias pins, version descriptions), through the
  mrgov provider on `databricks-uc`.

Run: `python -m bench.program_eval` (writes bench/results/program_eval.json).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, databricks_stack_config, fit_exponent, shared_registry, write_result

SIZES = (10, 100, 1000)
REPEATS = {10: 3, 100: 2, 1000: 1}
GC_THRESHOLD = (50_000, 20, 100)
VARIANTS = ("component", "flat", "component_gc", "flat_gc")
DEPLOYER = "3f0c2a55-8b1e-4d6a-9c2f-1a7e5b9d0c11"


# ------------------------------------------------------------------------------------------------
# Child: one program, one N, under mocks.
# ------------------------------------------------------------------------------------------------
def _child(variant: str, n: int) -> dict[str, Any]:
    t_proc = time.perf_counter()
    import pulumi
    import pulumi_databricks  # noqa: F401
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    # Both programs' imports, so that import cost is not part of the evaluation in either.
    import components.databricks.registry  # imported where it is used (components/databricks/target.py)
    import components.environment
    import components.spec  # noqa: F401
    from bench.common import peak_rss_mb

    class Echo(pulumi_mocks.Mocks):
        """Providers that accept every input and echo it back; the registry holds no other aliases."""

        def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            state = dict(args.inputs)
            if args.typ == "mrgov:registry:ModelMetadata":
                state["otherAliases"] = {}
            return f"{args.name}-id", state

        def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            return {}, []

    class Counting(pulumi_mocks.MockMonitor):
        def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
            super().__init__(mocks)
            self.registered: dict[str, int] = {"custom": 0, "component": 0}
            self.custom: list[str] = []

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
            self.registered["custom" if request.custom else "component"] += 1
            if request.custom:
                self.custom.append(f"{request.type}::{request.name}")
            return super().RegisterResource(request)

    if variant.endswith("_gc"):
        # What the program would gain from tuning Python's cyclic GC (see docs/benchmarks.md, Growth).
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD[0], GC_THRESHOLD[1], GC_THRESHOLD[2])
    raw_shared = shared_registry(n)
    raw_stack = databricks_stack_config()
    import_rss = peak_rss_mb()
    monitor = Counting(Echo())
    pulumi.runtime.set_mocks(monitor.mocks, project="mrgov", stack="bench", preview=False, monitor=monitor)
    timings: dict[str, float] = {}

    def program() -> None:
        if variant.startswith("component"):
            _component_program(raw_stack, raw_shared, timings)
        else:
            _flat_program(raw_shared)

    t0, cpu0 = time.perf_counter(), time.process_time()
    _sync_await(run_pulumi_func(program))
    eval_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "variant": variant,
        "n": n,
        "eval_s": round(eval_s, 3),
        "eval_cpu_s": round(cpu_s, 3),
        "spec_s": round(timings.get("spec_s", 0.0), 3),
        "total_s": round(time.perf_counter() - t_proc, 3),
        "import_rss_mb": round(import_rss, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "custom_resources": monitor.registered["custom"],
        "component_resources": monitor.registered["component"],
        "custom_declared": sorted(monitor.custom),
    }


def _component_program(
    raw_stack: dict[str, Any], raw_shared: dict[str, Any], timings: dict[str, float]
) -> None:
    """What __main__.py does, with the spec built from dicts instead of pulumi.Config."""

    from components.environment import Environment, EnvironmentArgs, export_outputs
    from components.spec import build

    t = time.perf_counter()
    spec = build("bench", raw_stack, shared=raw_shared)
    timings["spec_s"] = time.perf_counter() - t
    env = Environment("registry", EnvironmentArgs(spec=spec))
    export_outputs(spec, env)


def _flat_program(raw: dict[str, Any]) -> None:
    """The same custom resources, declared by hand from plain dicts: no spec, no components."""
    import pulumi
    import pulumi_databricks as databricks

    from provider import sdk
    from provider.limits import UC_SCHEME, alias_uri

    principals = {
        "ml_engineers": "bench-ml-engineers",
        "inference_jobs": "bench-inference-jobs",
        "dashboards": "bench-dashboards",
    }
    catalog_name = "bench_catalog"
    provider = databricks.Provider("registry-databricks-provider")
    registry = sdk.Provider("registry-databricks-mrgov", sdk.ProviderArgs(registry_uri=UC_SCHEME))
    po = pulumi.ResourceOptions(provider=provider)

    def grants(name: str, blocks: dict[str, list[str]], on: pulumi.Resource, **securable: str) -> None:
        blocks = {DEPLOYER: ["MANAGE"], **blocks}
        databricks.Grants(
            name,
            grants=[
                databricks.GrantsGrantArgs(principal=p, privileges=sorted(v))
                for p, v in sorted(blocks.items())
            ],
            **securable,
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[on], deleted_with=on, protect=False),
        )

    catalog = databricks.Catalog(
        "registry-databricks-catalog-catalog",
        name=catalog_name,
        comment=raw["catalog"]["comment"],
        opts=po,
    )
    grants(
        "registry-databricks-catalog-grants",
        {p: ["USE_CATALOG"] for p in principals.values()},
        catalog,
        catalog=catalog_name,
    )
    schema_full = f"{catalog_name}.gold_features"
    schema = databricks.Schema(
        "registry-databricks-schema-gold_features-schema",
        catalog_name=catalog_name,
        name="gold_features",
        comment=raw["schemas"]["gold_features"]["comment"],
        opts=pulumi.ResourceOptions(provider=provider, depends_on=[catalog]),
    )
    grants(
        "registry-databricks-schema-gold_features-grants",
        {
            principals["ml_engineers"]: ["CREATE_MODEL", "USE_SCHEMA"],
            principals["inference_jobs"]: ["USE_SCHEMA"],
            principals["dashboards"]: ["USE_SCHEMA"],
        },
        schema,
        schema=schema_full,
    )
    alias_uris: dict[str, dict[str, str]] = {}
    unmanaged: dict[str, pulumi.Output[dict[str, str]]] = {}
    latest: dict[str, pulumi.Output[dict[str, str]]] = {}
    lineage: dict[str, pulumi.Output[dict[str, Any]]] = {}
    for short, m in raw["models"].items():
        full = f"{schema_full}.{short}"
        base = f"registry-databricks-model-{short}"
        model = databricks.RegisteredModel(
            f"{base}-model",
            catalog_name=catalog_name,
            schema_name="gold_features",
            name=short,
            comment=m["description"],
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[schema]),
        )
        grants(
            f"{base}-grants",
            {
                principals["ml_engineers"]: ["APPLY_TAG", "CREATE_MODEL_VERSION"],
                principals["inference_jobs"]: ["EXECUTE"],
                principals["dashboards"]: ["EXECUTE"],
            },
            model,
            model=full,
        )
        metadata = sdk.ModelMetadata(
            f"{base}-metadata",
            sdk.ModelMetadataArgs(
                model=full,
                tags=dict(sorted(m["tags"].items())),
                aliases={alias: str(version) for alias, version in sorted(m["aliases"].items())},
                version_descriptions={str(v): text for v, text in sorted(m["versionDescriptions"].items())},
            ),
            pulumi.ResourceOptions(provider=registry, depends_on=[model], deleted_with=model, protect=False),
        )
        alias_uris[short] = {a: alias_uri(full, a) for a in sorted(m["aliases"])}
        unmanaged[short] = metadata.other_aliases
        # The component program's lineage outputs (components/lineage.py), so both export the same.
        latest[short] = metadata.latest_version.apply(
            lambda v, full=full: {"version": str(v), "uri": f"models:/{full}/{v}"} if v else {}
        )
        lineage[short] = metadata.lineage.apply(lambda seen: dict(seen or {}))
    pulumi.export("models", {short: f"{schema_full}.{short}" for short in raw["models"]})
    pulumi.export("aliasUris", alias_uris)
    pulumi.export("unmanagedAliases", unmanaged)
    pulumi.export("target", "databricks")
    pulumi.export("catalog", catalog_name)
    pulumi.export("adoptedModels", [])
    pulumi.export(
        "latestVersions", pulumi.Output.all(**latest).apply(lambda m: {k: v for k, v in m.items() if v})
    )
    pulumi.export("lineage", pulumi.Output.all(**lineage).apply(lambda m: {k: v for k, v in m.items() if v}))


# ------------------------------------------------------------------------------------------------
# Parent: every N and variant in fresh processes, interleaved so that load from others hits both.
# ------------------------------------------------------------------------------------------------
def _run_child(variant: str, n: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.program_eval", "--child", variant, "--n", str(n)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} N={n} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--child", choices=VARIANTS)
    parser.add_argument("--n", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.n[0])))
        return 0

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    rows = []
    print("Program evaluation under mocks (Databricks target), median of fresh processes")
    print(f"{'N':>5} {'variant':>12} {'eval s':>8} {'CPU s':>7} {'spec s':>7} {'total s':>8} {'peak MB':>8} "
          f"{'import MB':>9} {'resources':>10}")  # fmt: skip
    for n in args.n:
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        for _ in range(REPEATS.get(n, 2)):
            for variant in VARIANTS:
                runs[variant].append(_run_child(variant, n))
        row: dict[str, Any] = {"n": n}
        for results in runs.values():
            for r in results[1:]:
                r.pop("custom_declared")
        for variant, results in runs.items():
            med = {
                key: round(statistics.median(r[key] for r in results), 3)
                for key in ("eval_s", "eval_cpu_s", "spec_s", "total_s", "peak_rss_mb", "import_rss_mb")
            }
            med["custom_resources"] = results[0]["custom_resources"]
            med["custom_declared"] = results[0].pop("custom_declared")
            med["component_resources"] = results[0]["component_resources"]
            med["runs_eval_s"] = [r["eval_s"] for r in results]
            row[variant] = med
            print(f"{n:>5} {variant:>12} {med['eval_s']:>8.2f} {med['eval_cpu_s']:>7.2f} "
                  f"{med['spec_s']:>7.2f} {med['total_s']:>8.2f} "
                  f"{med['peak_rss_mb']:>8.0f} {med['import_rss_mb']:>9.0f} "
                  f"{med['custom_resources']:>5}+{med['component_resources']}")  # fmt: skip
        declared = {v: row[v].pop("custom_declared") for v in VARIANTS}
        # Like against like: the flat programs must declare exactly the component program's resources.
        row["same_custom_resources"] = all(d == declared["component"] for d in declared.values())
        if not row["same_custom_resources"]:
            only = sorted(set(declared["component"]) ^ set(declared["flat"]))
            print(f"{n:>5} the flat program differs from the component program: {only[:10]}")
        c, f = row["component"], row["flat"]
        row["ratio_eval"] = round(c["eval_s"] / f["eval_s"], 3)
        row["ratio_eval_cpu"] = round(c["eval_cpu_s"] / f["eval_cpu_s"], 3)
        row["ratio_eval_without_spec"] = round((c["eval_s"] - c["spec_s"]) / f["eval_s"], 3)
        row["ratio_total"] = round(c["total_s"] / f["total_s"], 3)
        row["ratio_peak_rss"] = round(c["peak_rss_mb"] / f["peak_rss_mb"], 3)
        row["ratio_gc_tuned_eval"] = round(row["component_gc"]["eval_s"] / f["eval_s"], 3)
        cg, fg = row["component_gc"], row["flat_gc"]
        row["ratio_gc_both_eval"] = round(cg["eval_s"] / fg["eval_s"], 3)
        row["ratio_gc_both_eval_cpu"] = round(cg["eval_cpu_s"] / fg["eval_cpu_s"], 3)
        print(
            f"{n:>5} {'ratio':>12} {row['ratio_eval']:>8.2f} (CPU {row['ratio_eval_cpu']:.2f}; "
            f"without spec {row['ratio_eval_without_spec']:.2f}; "
            f"whole process {row['ratio_total']:.2f}; peak RSS {row['ratio_peak_rss']:.2f}; "
            f"GC tuned {row['ratio_gc_tuned_eval']:.2f}; both GC tuned {row['ratio_gc_both_eval']:.2f}, "
            f"CPU {row['ratio_gc_both_eval_cpu']:.2f}; same custom resources {row['same_custom_resources']})"
        )
        rows.append(row)

    growth = {
        f"{variant}_{key}": fit_exponent([(r["n"], r[variant][key]) for r in rows])
        for variant in VARIANTS
        for key in ("eval_s", "eval_cpu_s", "peak_rss_mb")
    }
    growth["component_peak_rss_above_imports"] = fit_exponent(
        [(r["n"], r["component"]["peak_rss_mb"] - r["component"]["import_rss_mb"]) for r in rows]
    )
    big = next((r for r in rows if r["n"] == 1000), None)
    goals: dict[str, Any] = {}
    if big:
        goals = {
            "tuned_eval_1000_under_15s": big["component_gc"]["eval_s"] < 15,
            "tuned_ratio_to_tuned_flat_at_1000_le_1.1": big["ratio_gc_both_eval"] <= 1.1,
            "ratio_at_1000_le_1.25": big["ratio_eval"] <= 1.25,
            "eval_1000_under_20s": big["component"]["eval_s"] < 20,
            "eval_cpu_1000_under_20s": big["component"]["eval_cpu_s"] < 20,
            "process_1000_under_20s": big["component"]["total_s"] < 20,
            "eval_1000_under_20s_with_gc_tuned": big["component_gc"]["eval_s"] < 20,
            "peak_1000_under_1GB": big["component"]["peak_rss_mb"] < 1024,
        }
    print(f"growth exponents (y ~ N^k between smallest and largest N): {growth}")
    print(f"goals: {goals}")
    path = write_result(
        "program_eval", {"rows": rows, "growth_exponent": growth, "goals": goals}, load_at_start=load_at_start
    )
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

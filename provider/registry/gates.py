"""Promotion gates: an alias moves only to a version whose run's metric passes the alias's gate.

The seed compares two versions by the metrics of the runs behind them ("Version Comparison":
`client.get_model_version(...).run_id`, then `client.get_run(run_id).data.metrics`) and prints a
table. Here that comparison is a check: before an alias moves, `ModelMetadata.check` reads the run of
the version the alias points at now and the run of the new one, and the gate decides.

A gate (`Gate`) names a metric and says which way is better. `against: current` requires the new
version to beat the current one by at least `minDelta`; `against: none` only applies the bounds.
`min` and `max` bound the new version's value in both cases. A version without a run, a run that is
gone, or a run without the metric fails the gate: it fails closed. So does the current version's,
when the gate compares with it.

A failing gate is a check failure on `aliases.<Alias>` whose message holds the comparison table, so
`preview` fails and the alias stays put. A passing gate sends the same table to the engine as an info
diagnostic (provider/diagnostics.py), shown with the resource in the preview. A break-glass override
(`gateOverrides: {Production: "INC-123: rollback"}`) lets the alias move anyway: the table is shown,
marked overridden, and when the alias is set the provider tags the new version with the reason and
who deployed it (`promotion_override_reason`, `promotion_override_by`). Those tags are a record, not
declared keys: removing the override later leaves them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from provider import diagnostics
from provider.config import Connection, caller_username
from provider.declare import Struct, arg
from provider.limits import OVERRIDE_BY_TAG, OVERRIDE_REASON_TAG
from provider.registry import state
from provider.resource import Failures

CURRENT = "current"
NONE = "none"
AGAINST = (CURRENT, NONE)
UNKNOWN_DEPLOYER = "unknown"


@dataclass(frozen=True)
class Gate(Struct):
    TOKEN = "mrgov:registry:Gate"
    DESCRIPTION = (
        "A promotion gate on one alias: the metric that the run behind the new version must pass, "
        "compared with the version the alias points at now (`against: current`) and/or bounded by "
        "`min` and `max`. A missing run or metric fails the gate."
    )

    metric: str = arg("The run metric to compare, as the training run logged it, e.g. `val_f1`.")
    higher_is_better: bool = arg(
        "True when a higher value is better (`val_f1`), false when lower is (`val_rmse`).", default=True
    )
    against: str = arg(
        "`current`: the new version must beat the version the alias points at now by at least "
        "`minDelta`; `none`: only `min` and `max` apply.",
        default=CURRENT,
    )
    min_delta: float = arg(
        "How much better than the current version the new one must be (0: at least as good).",
        default=0.0,
    )
    min: float | None = arg("The lowest value the new version may have.", default=None)
    max: float | None = arg("The highest value the new version may have.", default=None)


def gate_problems(alias: str, gate: Gate) -> Failures:
    """What is wrong with a gate's own values, as (property path, reason)."""
    path = f"gates.{alias}"
    out: Failures = []
    if not gate.metric.strip():
        out.append((f"{path}.metric", "is empty; name the run metric to compare, e.g. val_f1"))
    if gate.against not in AGAINST:
        out.append((f"{path}.against", f"must be {CURRENT!r} or {NONE!r}, got {gate.against!r}"))
    for name, value in (("minDelta", gate.min_delta), ("min", gate.min), ("max", gate.max)):
        if value is not None and not math.isfinite(value):
            out.append((f"{path}.{name}", f"must be a finite number, got {value!r}"))
    if gate.min_delta < 0:
        out.append((f"{path}.minDelta", f"must be 0 or more, got {gate.min_delta!r}"))
    if gate.min is not None and gate.max is not None and gate.min > gate.max:
        out.append((path, f"min {gate.min!r} is above max {gate.max!r}; no version could pass"))
    if gate.against == NONE and gate.min is None and gate.max is None:
        out.append((path, "checks nothing: with against 'none' it needs a min or a max"))
    return out


# ------------------------------------------------------------------------------------------------
# The verdict and its table (pure)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    """One version's value of the gate's metric, or why there is none."""

    version: str
    value: float | None
    missing: str = ""


@dataclass(frozen=True)
class Verdict:
    alias: str
    gate: Gate
    new: Side
    current: Side | None
    """The version the alias points at now; None when it points nowhere yet."""
    problems: tuple[str, ...]
    override: str | None = None
    """The break-glass reason, when one is declared."""

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def allowed(self) -> bool:
        """The alias may move: the gate passed, or an override lets it through."""
        return self.passed or self.override is not None

    @property
    def status(self) -> str:
        if self.passed:
            return "PASSED"
        return f"FAILED, OVERRIDDEN ({self.override})" if self.override is not None else "FAILED"


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def _compared(gate: Gate, current: Side | None, new: Side) -> bool:
    return gate.against == CURRENT and current is not None and current.version != new.version


def judge(alias: str, gate: Gate, new: Side, current: Side | None, override: str | None = None) -> Verdict:
    """The gate's verdict on moving `alias` from `current` to `new`."""
    problems: list[str] = []
    m = gate.metric
    if new.value is None:
        problems.append(f"version {new.version} (new): {new.missing}")
    if _compared(gate, current, new):
        assert current is not None
        if current.value is None:
            problems.append(
                f"version {current.version} (current): {current.missing}; nothing to compare with"
            )
        elif new.value is not None:
            need = current.value + gate.min_delta if gate.higher_is_better else current.value - gate.min_delta
            worse = new.value < need if gate.higher_is_better else new.value > need
            if worse:
                sign = ">=" if gate.higher_is_better else "<="
                delta = f", minDelta {_fmt(gate.min_delta)}" if gate.min_delta else ""
                problems.append(
                    f"{m} of version {new.version} is {_fmt(new.value)}; the gate needs {sign} {_fmt(need)} "
                    f"(version {current.version} holds {_fmt(current.value)}{delta})"
                )
    if new.value is not None:
        if gate.min is not None and new.value < gate.min:
            problems.append(f"{m} of version {new.version} is {_fmt(new.value)}, below min {_fmt(gate.min)}")
        if gate.max is not None and new.value > gate.max:
            problems.append(f"{m} of version {new.version} is {_fmt(new.value)}, above max {_fmt(gate.max)}")
    return Verdict(alias, gate, new, current, tuple(problems), override)


def threshold(gate: Gate, current: Side | None, new: Side) -> str:
    """The gate's threshold on the new version's value, as text (`>= 0.8123 (current), >= 0.8000 (min)`)."""
    parts: list[str] = []
    if _compared(gate, current, new) and current is not None and current.value is not None:
        delta = gate.min_delta if gate.higher_is_better else -gate.min_delta
        sign = ">=" if gate.higher_is_better else "<="
        extra = f" {'+' if gate.higher_is_better else '-'} {_fmt(gate.min_delta)}" if gate.min_delta else ""
        parts.append(f"{sign} {_fmt(current.value + delta)} (current{extra})")
    elif gate.against == CURRENT and current is None:
        parts.append("no current version")
    if gate.min is not None:
        parts.append(f">= {_fmt(gate.min)} (min)")
    if gate.max is not None:
        parts.append(f"<= {_fmt(gate.max)} (max)")
    return ", ".join(parts) or "-"


def table(verdict: Verdict) -> str:
    """The comparison table of a verdict: the seed's "Version Comparison" printout, as a gate."""
    gate, new, current = verdict.gate, verdict.new, verdict.current
    better = "higher" if gate.higher_is_better else "lower"
    against = "the current version" if gate.against == CURRENT else "bounds only"
    head = (
        f"promotion gate of alias {verdict.alias!r}: {gate.metric}, {better} is better, against "
        f"{against}: {verdict.status}"
    )
    cur_head = f"Version {current.version} (current)" if current is not None else "Current"
    cur_value = "(none)" if current is None else _fmt(current.value) if current.value is not None else "N/A"
    rows = [
        ["Metric", cur_head, f"Version {new.version} (new)", "Threshold"],
        [
            gate.metric,
            cur_value,
            _fmt(new.value) if new.value is not None else "N/A",
            threshold(gate, current, new),
        ],
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [head]
    rule = "-" * (sum(widths) + 6 + max(len(r[3]) for r in rows))
    lines.append(rule)
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)))
        if row is rows[0]:
            lines.append(rule)
    lines.append(rule)
    lines += [f"- {p}" for p in verdict.problems]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Reading the runs, and the check
# ------------------------------------------------------------------------------------------------
def side(registry_uri: str, model: str, version: str, metric: str) -> Side:
    """A version's value of `metric`, from the run that logged it (cached reads)."""
    held = state.get_version(registry_uri, model, version)
    if held is None:
        return Side(version, None, "the version does not exist")
    if not held.run_id:
        return Side(version, None, "the version was registered without a run, so it has no metrics")
    metrics = state.get_run_metrics(registry_uri, held.run_id)
    if metrics is None:
        return Side(version, None, f"its run {held.run_id} does not exist")
    if metric not in metrics:
        logged = ", ".join(sorted(metrics)) or "none"
        return Side(version, None, f"its run {held.run_id} logged no metric {metric!r} (it logged: {logged})")
    return Side(version, metrics[metric])


def evaluate(
    conn: Connection, model: str, alias: str, version: str, gate: Gate, override: str | None
) -> Verdict:
    """The verdict on pointing `alias` at `version`: reads the model (cached), both versions and runs."""
    uri = conn.registry_uri
    held = state.get_model(uri, model)
    now = held.aliases.get(alias) if held is not None else None
    current = side(uri, model, now, gate.metric) if now is not None and gate.against == CURRENT else None
    return judge(alias, gate, side(uri, model, version, gate.metric), current, override)


def check_gates(
    conn: Connection,
    model: str,
    moving: Mapping[str, str],
    gates: Mapping[str, Gate],
    overrides: Mapping[str, str],
) -> Failures:
    """A failure per gated alias of `moving` ({alias: new version}) whose gate fails, unless overridden.

    The tables of the gates that let their alias move go to the engine as info diagnostics.
    """
    failures: Failures = []
    for alias, version in sorted(moving.items()):
        gate = gates.get(alias)
        if gate is None:
            continue
        verdict = evaluate(conn, model, alias, version, gate, overrides.get(alias))
        if verdict.allowed:
            diagnostics.info(table(verdict))
        else:
            failures.append(
                (
                    f"aliases.{alias}",
                    f"cannot point alias {alias!r} at version {version}: its promotion gate failed\n"
                    f"{table(verdict)}\n"
                    "register a version that passes, or declare a break-glass override with a reason "
                    f"(`gateOverrides.{alias}`; in this project's stack file "
                    f"`mrgov:models.<model>.overrides.{alias}.reason`)",
                )
            )
    return failures


def override_record(reason: str) -> dict[str, str]:
    """The version tags that record an override: the reason and who deployed it."""
    return {OVERRIDE_REASON_TAG: reason, OVERRIDE_BY_TAG: caller_username() or UNKNOWN_DEPLOYER}

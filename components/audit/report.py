"""The audit as Markdown (for a pull-request comment) and as JSON (for tools), from one `Report`."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from components.audit.checklist import ITEM_BY_ID, ITEMS, Check, ModelAudit, Report

ICON = {
    ("pass", "mandatory"): "✅ pass",
    ("pass", "advisory"): "✅ pass",
    ("fail", "mandatory"): "❌ fail",
    ("fail", "advisory"): "⚠️ fail (advisory)",
    ("skip", "mandatory"): "⏭️ skip",
    ("skip", "advisory"): "⏭️ skip",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _counts(checks: list[Check]) -> Counter[str]:
    out: Counter[str] = Counter()
    for c in checks:
        out[
            "mandatory failed"
            if c.failed_mandatory
            else "advisory failed"
            if c.status == "fail"
            else c.status
        ] += 1
    return out


def _summary(checks: list[Check]) -> str:
    n = _counts(checks)
    return (
        f"❌ {n['mandatory failed']} mandatory failed · ⚠️ {n['advisory failed']} advisory failed · "
        f"✅ {n['pass']} passed · ⏭️ {n['skip']} skipped"
    )


def to_markdown(report: Report) -> str:
    verdict = "❌ **fails**" if report.mandatory_failures else "✅ **passes**"
    env = f"environment `{report.environment}`, {'production' if report.production else 'not production'}"
    lines = [
        f"# Registry audit: `{report.stack}`",
        "",
        f"The seed's Validation Checklist on the live registry ({report.target} {report.registry}; {env}), "
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC: every model and every version. Items and what they "
        "check: docs/audit.md.",
        "",
        f"The stack {verdict} the mandatory items. {_summary(report.checks)}.",
        "",
        "| model | latest version | mandatory failed | advisory failed | passed | skipped |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for m in report.models:
        n = _counts(list(m.checks))
        latest = f"{m.latest_version} `{m.latest_uri}`" if m.latest_version else "none"
        lines.append(
            f"| `{m.name}` | {latest} | {n['mandatory failed']} | {n['advisory failed']} | {n['pass']} | "
            f"{n['skip']} |"
        )
    for m in report.models:
        lines += ["", *_model_section(m)]
    return "\n".join(lines).rstrip() + "\n"


def _model_section(m: ModelAudit) -> list[str]:
    lines = [f"## `{m.full_name}`", ""]
    if m.latest_version:
        lines += [
            f"Latest version: {m.latest_version}, loaded as `{m.latest_uri}` (there is no `Latest` alias: "
            "MLflow reserves `latest` and Unity Catalog keeps none).",
            "",
        ]
    lines += ["| section | item | version | result | evidence |", "|---|---|---|---|---|"]
    for c in m.checks:
        item = ITEM_BY_ID[c.item]
        lines.append(
            f"| {item.section} | {item.title} | {c.version or ''} | {ICON[(c.status, c.severity)]} | "
            f"{_cell(c.evidence)} |"
        )
    if m.lineage:
        lines += [
            "",
            "**Lineage** of the versions an alias points at:",
            "",
            "| aliases | version | run | source | input datasets |",
            "|---|---|---|---|---|",
        ]
        for row in m.lineage:
            datasets = "; ".join(row.datasets) or "none logged"
            note = f" ({row.note})" if row.note else ""
            run = f"`{row.run_id}`" if row.run_id else "-"
            source = f"`{row.source}`" if row.source else "-"
            cells = [", ".join(row.aliases), row.version, run + _cell(note), source, _cell(datasets)]
            lines.append(f"| {' | '.join(cells)} |")
    return lines


def to_json(report: Report) -> dict[str, Any]:
    return {
        "stack": report.stack,
        "environment": report.environment,
        "production": report.production,
        "target": report.target,
        "registry": report.registry,
        "generatedAt": report.generated_at.isoformat(),
        "options": report.options,
        "exitCode": report.exit_code,
        "summary": dict(_counts(report.checks)),
        "items": [
            {
                "id": i.id,
                "section": i.section,
                "title": i.title,
                "scope": i.scope,
                "severity": i.severity,
                "passesWhen": i.passes_when,
            }
            for i in ITEMS
        ],
        "models": [
            {
                "name": m.name,
                "fullName": m.full_name,
                "exists": m.exists,
                "latestVersion": {"version": m.latest_version, "uri": m.latest_uri}
                if m.latest_version
                else None,
                "checks": [
                    {
                        "item": c.item,
                        "version": c.version,
                        "status": c.status,
                        "severity": c.severity,
                        "evidence": c.evidence,
                    }
                    for c in m.checks
                ],
                "lineage": [
                    {
                        "version": r.version,
                        "aliases": list(r.aliases),
                        "runId": r.run_id,
                        "source": r.source,
                        "datasets": list(r.datasets),
                        "note": r.note,
                    }
                    for r in m.lineage
                ],
            }
            for m in report.models
        ],
    }


def to_json_text(report: Report) -> str:
    return json.dumps(to_json(report), indent=2, sort_keys=False) + "\n"

"""What registry.yaml declares for cost_anomaly_detector, as the mrgov provider receives it in any stack."""

from __future__ import annotations

from typing import Any

# The promotion gate of its Production alias.
CAD_GATE = {
    "metric": "val_f1", "higherIsBetter": True, "against": "current", "minDelta": 0.0, "min": 0.6
}  # fmt: skip


def cad_metadata(model: str, aliases: dict[str, str]) -> dict[str, Any]:
    """Its ModelMetadata inputs, given the stack's full name of the model and the aliases it pins."""
    return {
        "model": model,
        "tags": {"algorithm": "isolation_forest", "domain": "cost", "model_type": "anomaly_detection"},
        "aliases": aliases,
        "versionDescriptions": {
            "1": "Initial version",
            "2": "Added z-score features",
            "3": "Retrained with 30-day lookback features. Improved anomaly rate from 8% to 5%.",
        },
        "versionTags": {},
        "archiveKeepLatest": 0.0,  # no retention (archiveAfterDays unset, so not sent)
        "gates": {"Production": CAD_GATE},
        "gateOverrides": {},
    }

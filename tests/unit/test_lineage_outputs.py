"""The stack outputs `latestVersions` and `lineage`, from each ModelMetadata's outputs, on both targets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from components.environment import Environment, EnvironmentArgs, export_outputs
from components.spec import build_from_files
from components.validate import ROOT
from provider.limits import version_uri
from tests.unit.conftest import MRGOV_METADATA, EchoMocks, MockRun

RUN = "4a027a447dbc417c9dbc7bf94682c1f8"


class RegistryMocks(EchoMocks):
    """The mrgov provider's lineage outputs, as it answers them from what the registry holds."""

    def __init__(self, latest: dict[str, str], runs: dict[str, dict[str, str]]) -> None:
        super().__init__()
        self.latest = latest  # {model full name: latest version}
        self.runs = runs  # {model full name: {version: run id}}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        id_, state = super().new_resource(args)
        if args.typ == MRGOV_METADATA:
            model = str(args.inputs["model"])
            state["latestVersion"] = self.latest.get(model, "")
            state["lineage"] = {
                v: {"runId": self.runs.get(model, {}).get(v, ""), "source": f"models:/m-{model[-3:]}{v}"}
                for v in sorted(set((args.inputs.get("aliases") or {}).values()), reverse=True)
            }
        return id_, state


def _outputs(
    mock_program: Callable[..., MockRun], monkeypatch: pytest.MonkeyPatch, stack: str, mocks: EchoMocks
) -> dict[str, Any]:
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))
    spec = build_from_files(ROOT, stack)

    def program() -> dict[str, Any]:
        export_outputs(spec, Environment("registry", EnvironmentArgs(spec=spec)))
        return dict(exported)

    return mock_program(program, stack=stack, mocks=mocks).outputs


@pytest.mark.parametrize(("stack", "catalog"), [("local", "local_catalog"), ("dev", "dev_catalog")])
def test_latest_versions_give_the_version_and_its_uri_on_both_targets(
    mock_program: Callable[..., MockRun], monkeypatch: pytest.MonkeyPatch, stack: str, catalog: str
) -> None:
    cad, bf = (f"{catalog}.gold_features.{m}" for m in ("cost_anomaly_detector", "budget_forecaster"))
    mocks = RegistryMocks(latest={cad: "3", bf: "12"}, runs={cad: {"2": RUN}})

    outputs = _outputs(mock_program, monkeypatch, stack, mocks)

    # A model without versions (failure_predictor here) has no entry, like the other per-model outputs.
    assert outputs["latestVersions"] == {
        "budget_forecaster": {"version": "12", "uri": f"models:/{bf}/12"},
        "cost_anomaly_detector": {"version": "3", "uri": f"models:/{cad}/3"},
    }


def test_lineage_lists_each_pinned_version_in_version_order(
    mock_program: Callable[..., MockRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    cad = "local_catalog.gold_features.cost_anomaly_detector"
    mocks = RegistryMocks(latest={cad: "3"}, runs={cad: {"2": RUN}})

    outputs = _outputs(mock_program, monkeypatch, "local", mocks)

    # Pulumi.local.yaml pins Production and Champion of cost_anomaly_detector to 2 and of
    # budget_forecaster to 1; failure_predictor pins nothing, so it has no entry.
    assert outputs["lineage"] == {
        "budget_forecaster": {"1": {"runId": "", "source": "models:/m-ter1"}},
        "cost_anomaly_detector": {"2": {"runId": RUN, "source": "models:/m-tor2"}},
    }


def test_outputs_of_a_state_that_has_no_lineage_yet_are_empty(
    mock_program: Callable[..., MockRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state migrated from the dynamic providers has `latestVersion: ""` until a refresh reads it."""
    outputs = _outputs(mock_program, monkeypatch, "local", EchoMocks())
    assert (outputs["latestVersions"], outputs["lineage"]) == ({}, {})


def test_version_uri_loads_one_version() -> None:
    assert version_uri("c.s.m", "7") == "models:/c.s.m/7"

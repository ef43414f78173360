"""The target contract (components/target.py) and the one table of targets (components/targets.py)."""

from __future__ import annotations

import inspect

import pytest

from components.spec import SpecError, build, load_stack_file
from components.spec.problems import target_kinds
from components.target import Target
from components.targets import TARGETS, target_for, unknown_kind_message
from components.validate import ROOT


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_each_table_entry_satisfies_the_protocol(kind: str) -> None:
    target = TARGETS[kind]
    assert target.kind == kind
    for name, member in inspect.getmembers(Target, inspect.isfunction):
        if not name.startswith("_"):
            assert callable(getattr(target, name)), name
            ours = inspect.signature(getattr(type(target), name))
            assert list(ours.parameters) == list(inspect.signature(member).parameters), name


def test_the_unknown_kind_message_lists_the_tables_kinds() -> None:
    with pytest.raises(ValueError) as caught:
        target_for("sagemaker")
    assert str(caught.value) == unknown_kind_message("sagemaker")
    assert str(caught.value) == "unknown kind 'sagemaker'; allowed: " + ", ".join(repr(k) for k in TARGETS)


def test_the_config_document_takes_the_tables_kinds() -> None:
    assert target_kinds() == ", ".join(repr(k) for k in TARGETS)
    raw = load_stack_file(ROOT, "local")
    raw["target"] = {"trackingUri": "http://127.0.0.1:5000"}
    with pytest.raises(SpecError) as caught:
        build("local", raw, ROOT)
    assert f"kind is required; allowed: {target_kinds()}" in str(caught.value)

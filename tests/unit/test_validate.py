"""`python -m components.validate`: the pull-request check of every stack file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.validate import ROOT, main


def test_every_committed_stack_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for stack in ("local", "dev", "staging", "prod"):
        assert f"ok   {stack}:" in out


def test_a_bad_stack_fails_with_its_key_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(ROOT / "registry.yaml", tmp_path)
    text = (ROOT / "Pulumi.local.yaml").read_text().replace("Champion: 2", "latest: 2")
    (tmp_path / "Pulumi.local.yaml").write_text(text)
    assert main(["--project", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "Pulumi.local.yaml mrgov:models.cost_anomaly_detector.aliases.latest" in out
    assert "reserved" in out


def test_a_missing_stack_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qa"]) == 1
    assert "no Pulumi.qa.yaml" in capsys.readouterr().out

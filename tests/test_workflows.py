"""The GitHub Actions workflows pass actionlint (installed from the Go module proxy)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTIONLINT = ROOT / "scripts" / "actionlint.sh"


def _lint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, timeout=600)


def test_workflows_are_clean() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {w.name for w in workflows} >= {"preview.yml", "up.yml"}
    result = _lint(*workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.no }}\n"
    )
    result = _lint(bad)
    assert result.returncode != 0
    assert "matrix" in result.stdout

"""The Pulumi CLI's environment for a throwaway project (the tests' and the benchmark's engine runs)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def offline_cli_env(work: Path, engine_bin: str, **extra: str) -> dict[str, str]:
    """This process's environment without its PULUMI_ and MLFLOW_ settings, plus: the engine and the
    project's virtualenv first on PATH, a private PULUMI_HOME and file backend under `work`, a random
    passphrase, no update check or plugin downloads, and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "MLFLOW_"))}
    state = work / "state"
    state.mkdir(parents=True, exist_ok=True)
    env.update(
        PATH=f"{engine_bin}:{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}",
        PULUMI_HOME=str(work / "pulumi-home"),
        PULUMI_BACKEND_URL=f"file://{state}",
        PULUMI_CONFIG_PASSPHRASE=secrets.token_urlsafe(16),
        PULUMI_SKIP_UPDATE_CHECK="1",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="1",
        **extra,
    )
    return env

#!/usr/bin/env bash
# Runs the Pulumi CLI with this project's offline settings:
# - the engine from scripts/engine.sh (built from Go modules, or a pulumi on PATH);
# - a private PULUMI_HOME and a local file state backend, both under .state/;
# - no update checks and no automatic plugin downloads (there is no internet);
# - only the final checkpoint of each update (PULUMI_SKIP_CHECKPOINTS, below);
# - the local secrets (MLflow admin password, config passphrase) from the
#   environment or the generated, git-ignored .state/secrets.env.
# Every variable can be overridden from the environment, e.g. PULUMI_BACKEND_URL.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${MRGOV_STATE:-$ROOT/.state}"
BIN="$("$ROOT/scripts/engine.sh")"

mkdir -p "$STATE/backend" "$STATE/pulumi-home"
export PATH="$BIN:$PATH"
export PULUMI_HOME="${PULUMI_HOME:-$STATE/pulumi-home}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$STATE/backend}"
export PULUMI_SKIP_UPDATE_CHECK=1
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=1
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=1
# Only the final checkpoint: the file backend rewrites the whole state after every step, which grows
# with N² (pulumi/pulumi#10960). Safe because every mrgov create is idempotent (it adopts what an
# interrupted `up` left); tests/e2e/test_interrupted_up.py kills an `up` and checks the next converges.
# After a killed `up`, `pulumi cancel` removes its lock. PULUMI_SKIP_CHECKPOINTS=false turns it off.
export PULUMI_SKIP_CHECKPOINTS="${PULUMI_SKIP_CHECKPOINTS:-true}"

# Local secrets: whatever the environment already has wins.
eval "$("$ROOT/.venv/bin/python" - "$STATE" <<'PY'
import shlex, sys
from pathlib import Path
from localdev.mlflow_server import load_secrets
for key, value in load_secrets(Path(sys.argv[1])).items():
    if key != "MLFLOW_FLASK_SERVER_SECRET_KEY":
        print(f"export {key}={shlex.quote(value)}")
PY
)"
cd "$ROOT"
exec pulumi "$@"

#!/usr/bin/env bash
# Finds or builds the Pulumi engine this project runs on, and prints the folder
# that holds `pulumi` and its plugins.
#
# 1. A `pulumi` on PATH at ENGINE_VERSION or newer is used as it is.
# 2. Otherwise the CLI is built from Pulumi's Go modules into a cache folder
#    outside the clone (reused by later clones and CI), next to the scripts the
#    engine needs: Pulumi's `pulumi-language-python-exec` and
#    `pulumi-resource-pulumi-python` from the sdk module, and our Python
#    language host (engine/), because the Go proxy does not serve Pulumi's.
# 3. Pulumi's YAML language host is built next to it by scripts/yamlhost.sh
#    (cached too), so `runtime: yaml` projects also run offline.
# Idempotent: a cache that already holds ENGINE_VERSION is not rebuilt.
set -euo pipefail

ENGINE_VERSION="${ENGINE_VERSION:-3.274.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MRGOV_ENGINE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mrgov/engine-v$ENGINE_VERSION}"
BIN="$CACHE/bin"
log() { echo "engine: $*" >&2; }

version_ge() { # is $1 >= $2 (dotted numbers)
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]
}

install_host_scripts() { # our language host, cheap so always refreshed; the YAML one, built once
    install -m 0755 "$ROOT/engine/pulumi-language-python" "$BIN/pulumi-language-python"
    install -m 0644 "$ROOT/engine/langhost.py" "$BIN/langhost.py"
    "$ROOT/scripts/yamlhost.sh" "$BIN" >&2
}

if [ -z "${MRGOV_FORCE_BUILD:-}" ] && command -v pulumi >/dev/null 2>&1 \
    && [ "$(dirname "$(command -v pulumi)")" != "$BIN" ]; then
    have="$(pulumi version 2>/dev/null | sed 's/^v//')"
    if [ -n "$have" ] && version_ge "$have" "$ENGINE_VERSION"; then
        log "using pulumi v$have from PATH"
        dirname "$(command -v pulumi)"
        exit 0
    fi
    log "pulumi v$have on PATH is older than v$ENGINE_VERSION; building our own"
fi

if [ -x "$BIN/pulumi" ] && [ "$("$BIN/pulumi" version 2>/dev/null)" = "v$ENGINE_VERSION" ] \
    && [ -x "$BIN/pulumi-language-python-exec" ] && [ -x "$BIN/pulumi-resource-pulumi-python" ]; then
    install_host_scripts
    log "v$ENGINE_VERSION already built in $BIN"
    echo "$BIN"
    exit 0
fi

command -v go >/dev/null || { log "Go is needed to build the engine (see README: Installing Pulumi)"; exit 1; }
log "building Pulumi v$ENGINE_VERSION from Go modules into $BIN (a few minutes the first time)"
mkdir -p "$BIN"
start=$(date +%s)
(
    cd "$ROOT/scripts/engine"
    export GOFLAGS=-mod=mod
    go build -trimpath -tags osusergo,grpcnotrace \
        -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$ENGINE_VERSION" \
        -o "$BIN/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    mv "$BIN/pulumi.tmp" "$BIN/pulumi"
    sdk="$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@v$ENGINE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
    # Module zips keep no file modes, hence install -m 0755.
    install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$BIN/"
    install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$BIN/"
)
install_host_scripts
log "built in $(( $(date +%s) - start ))s: $("$BIN/pulumi" version)"
echo "$BIN"

#!/usr/bin/env bash
# Builds Pulumi's YAML language host, `pulumi-language-yaml`, from the
# pulumi-yaml Go module (wrapper module: yamlhost/) into the engine's bin folder,
# next to `pulumi`, so `runtime: yaml` projects run offline. Called by
# scripts/engine.sh; usable alone: scripts/yamlhost.sh [BIN]
# Idempotent: a stamp file records the pulumi-yaml version and a hash of the
# wrapper's go.mod/go.sum; a binary with a matching stamp is not rebuilt
# (delete the stamp to force a rebuild).
# Logs go to stderr; nothing is printed on stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENGINE_VERSION="${ENGINE_VERSION:-3.274.1}"
BIN="${1:-${MRGOV_ENGINE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mrgov/engine-v$ENGINE_VERSION}/bin}"
MOD="$ROOT/scripts/yamlhost"
OUT="$BIN/pulumi-language-yaml"
STAMP="$BIN/.pulumi-language-yaml.stamp"
log() { echo "yamlhost: $*" >&2; }

# The version comes from the wrapper's go.mod: one place to bump it.
YAML_VERSION="$(sed -n 's#^[[:space:]]*\(require[[:space:]]*\)\{0,1\}github.com/pulumi/pulumi-yaml \(v[^[:space:]]*\).*#\2#p' "$MOD/go.mod" | head -1)"
[ -n "$YAML_VERSION" ] || { log "no github.com/pulumi/pulumi-yaml requirement in $MOD/go.mod"; exit 1; }
want="github.com/pulumi/pulumi-yaml $YAML_VERSION $(cat "$MOD/go.mod" "$MOD/go.sum" | sha256sum | cut -c1-16)"

if [ -x "$OUT" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    exit 0
fi

command -v go >/dev/null || { log "Go is needed to build pulumi-language-yaml (see README: Installing Pulumi)"; exit 1; }
log "building pulumi-language-yaml $YAML_VERSION from Go modules into $BIN"
mkdir -p "$BIN"
start=$(date +%s)
tmp="$BIN/.pulumi-language-yaml.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(
    cd "$MOD"
    export GOFLAGS=-mod=mod
    # The CLI build's flags, plus the -s -w and version stamp of pulumi-yaml's .goreleaser.yml.
    go build -trimpath -tags osusergo,grpcnotrace \
        -ldflags "-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=$YAML_VERSION" \
        -o "$tmp" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
)
mv -f "$tmp" "$OUT"
echo "$want" >"$STAMP"
log "built in $(( $(date +%s) - start ))s: $OUT"

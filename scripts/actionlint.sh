#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint, installed once from the Go
# module proxy into the same cache folder as the engine.
set -euo pipefail
VERSION=v1.7.12
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${MRGOV_TOOLS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mrgov/tools-$VERSION}"
if [ ! -x "$BIN/actionlint" ]; then
    echo "actionlint: installing $VERSION into $BIN" >&2
    mkdir -p "$BIN"
    (cd "$ROOT/scripts/engine" && GOFLAGS=-mod=mod GOBIN="$BIN" go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION")
fi
cd "$ROOT"
exec "$BIN/actionlint" "$@"

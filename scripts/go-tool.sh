#!/usr/bin/env bash
# Builds one command from its Go module into the cache folder the control plane uses, once:
#   scripts/go-tool.sh NAME PACKAGE VERSION
# e.g. promtool github.com/prometheus/prometheus/cmd/promtool v0.316.0. Rebuilt only when
# Go, the version or this script change; a build in progress elsewhere is waited for.
set -euo pipefail
cd "$(dirname "$0")/.."

name="$1" package="$2" version="$3"
BIN_DIR="${KAOS_CACHE_DIR:-$HOME/.cache/kaos-memory}/bin"

say() { printf '%s: %s\n' "$name" "$*"; }
die() {
  printf '%s: %s\n' "$name" "$*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "Go not found: install Go 1.26+ to build $name"
stamp="$({
  printf '%s\n' "$(go env GOVERSION)" "$package@$version"
  cat scripts/go-tool.sh
} | sha256sum | cut -d' ' -f1)"

if [ -x "$BIN_DIR/$name" ] && [ "$(cat "$BIN_DIR/.$name.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

mkdir -p "$BIN_DIR"
# Shares the control plane's lock: two builds at once would compete for 2 cores.
exec 9>"$BIN_DIR/.lock"
flock 9
work="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

say "building $package@$version (cached afterwards)"
start=$SECONDS
if ! GOBIN="$work" GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" \
  "$package@$version" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  die "building $name failed; log above"
fi
mv -f "$work/$name" "$BIN_DIR/$name"
printf '%s\n' "$stamp" >"$BIN_DIR/.$name.stamp"
say "built $name in $((SECONDS - start))s"

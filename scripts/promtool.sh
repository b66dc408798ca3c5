#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker) from its Go module into the same cache
# folder as the control plane, so the chart's PrometheusRule can be checked with the
# tool Prometheus itself uses. Rebuilt only when the version or this script change.
set -euo pipefail
cd "$(dirname "$0")/.."

# Prometheus 3.x publishes its Go module as v0.3xx.y (v0.316.0 is Prometheus 3.6-era).
PROMETHEUS_MODULE_VERSION=v0.316.0
BIN_DIR="${KAOS_CACHE_DIR:-$HOME/.cache/kaos-memory}/bin"
SCRIPT="scripts/promtool.sh"

say() { printf 'promtool: %s\n' "$*"; }
die() {
  printf 'promtool: %s\n' "$*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "Go not found: install Go 1.26+ to build promtool"
go_version="$(go env GOVERSION)"
stamp="$({
  printf '%s\n' "$go_version" "$PROMETHEUS_MODULE_VERSION"
  cat "$SCRIPT"
} | sha256sum | cut -d' ' -f1)"

if [ -x "$BIN_DIR/promtool" ] && [ "$(cat "$BIN_DIR/.promtool.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

mkdir -p "$BIN_DIR"
# Shares the control plane's lock: two builds at once would compete for 2 cores.
exec 9>"$BIN_DIR/.lock"
flock 9
work="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

say "building promtool $PROMETHEUS_MODULE_VERSION (a cold build takes a few minutes; cached afterwards)"
start=$SECONDS
if ! GOBIN="$work" GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  die "building promtool failed; log above"
fi
mv -f "$work/promtool" "$BIN_DIR/promtool"
printf '%s\n' "$stamp" >"$BIN_DIR/.promtool.stamp"
say "built promtool in $((SECONDS - start))s"

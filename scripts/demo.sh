#!/usr/bin/env bash
# npm run demo: install what a fresh clone lacks, then play the story (demo/main.ts).
# Each install step is skipped when already done and says how long it took; the first
# control plane build takes minutes (~12 min on 2 cores) and prints progress while it runs.
# The story runs on a real node where one can (root on Linux); elsewhere the demo says
# why and plays its fallback with local processes.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*"; }
began=$SECONDS
timed() {
  local what="$1" t=$SECONDS
  shift
  "$@" || {
    local rc=$?
    printf '    %s: failed (exit %s) after %ss\n' "$what" "$rc" "$((SECONDS - t))"
    return "$rc"
  }
  printf '    %s: done in %ss\n' "$what" "$((SECONDS - t))"
}

if [ ! -d node_modules ]; then
  step "npm ci (first run)"
  timed "npm ci" npm ci --no-audit --no-fund
fi
timed "redis-server" bash scripts/ensure-redis.sh
if [ "$(uname -s)" = Linux ] && [ "$(id -u)" -eq 0 ]; then
  step "node runtime: containerd, runc, CNI plugins, nft from Debian (installed once)"
  timed "node runtime" bash scripts/node-deps.sh ||
    echo "==> node runtime not installed: the demo will fall back to local processes (see above)"
else
  step "node runtime: skipped (a real node needs root on Linux); the demo will use local processes"
fi
step "control plane and node: Kubernetes components, CoreDNS, helm (built from Go modules on first run, ~12 min on 2 cores; cached after)"
timed "control plane" bash scripts/controlplane.sh
step "npm run build"
timed "build" npm run --silent build
printf '==> ready to play after %ss (the images are built, or found cached, as the node starts)\n\n' "$((SECONDS - began))"

# exec: Ctrl-C and SIGTERM go straight to the demo, which cleans up what it started.
exec node --import tsx demo/main.ts

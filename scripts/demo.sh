#!/usr/bin/env bash
# npm run demo: install what a fresh clone lacks, then play the story (demo/main.ts).
# Each install step is skipped when already done; the first control plane build
# takes minutes and prints progress lines while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*"; }

if [ ! -d node_modules ]; then
  step "npm ci (first run)"
  npm ci --no-audit --no-fund
fi
bash scripts/ensure-redis.sh
step "control plane: kube-apiserver, etcd and helm (built from Go modules on first run, cached after)"
bash scripts/controlplane.sh
step "npm run build"
npm run --silent build
echo

# exec: Ctrl-C and SIGTERM go straight to the demo, which cleans up what it started.
exec node --import tsx demo/main.ts

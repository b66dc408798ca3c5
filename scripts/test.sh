#!/usr/bin/env bash
# npm test: set up everything the tests need on this machine, then run every suite.
# Ends with one line "N passed, N failed" summed over all suites.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/ensure-redis.sh
step "node runtime (containerd, runc, CNI plugins, nft from Debian; installed once)"
# Only the real-node suites (test/node) and the demo need it (root on Linux).
bash scripts/node-deps.sh || echo "==> node runtime not installed: the real-node suites will fail (see above)"
step "control plane and node (Kubernetes components, CoreDNS, helm; cached after the first build)"
# Without it the unit and Redis suites still run; each Kubernetes suite then fails with one line.
bash scripts/controlplane.sh || echo "==> control plane not built: the Kubernetes suites will fail (see above)"
# promtool checks the chart's alerts (test/chart/monitoring.test.ts); its cold build time is in
# docs/decisions.md ("Checking the alerts").
bash scripts/promtool.sh || echo "==> promtool not built: the chart's rule test will fail (see above)"
# actionlint checks the release workflow (test/release/workflow.test.ts); about 10 s cold.
bash scripts/actionlint.sh || echo "==> actionlint not built: the release workflow test will fail (see above)"


results="$(mktemp -d)"
node_group=""
finish() {
  # A check that failed ends the script: the real-node suites started beside it stop too
  # (their node stops itself once the run that owns it is gone).
  [ -n "$node_group" ] && kill -TERM -- "-$node_group" 2>/dev/null || true
  rm -rf "$results"
}
trap finish EXIT
status=0
timings=()
timed() {
  local name="$1" start=$SECONDS
  shift
  "$@" || status=$?
  timings+=("$name: $((SECONDS - start)) s")
}

step "build"
npm run --silent build

# The real-node suites spend most of their time waiting on Kubernetes (rollouts, probes,
# the kubelet's sync, real TTLs), so they run beside everything after the build, from the
# node's boot on: their lines come prefixed "node | ". They are the run's longest part; the
# rest yields the CPU to them (nice), so what the node waits on is not slowed by the rest.
step "real-node suites and the demo, started beside the rest (lines prefixed 'node | ')"
node_started=$SECONDS
set -m
{
  npx vitest run --config test/vitest.integration.config.ts --project node \
    --reporter=default --reporter=json --outputFile.json="$results/node.json" 2>&1 \
    | sed -u 's/^/node | /' | tee "$results/node.log"
  exit "${PIPESTATUS[0]}"
} &
node_group=$!
set +m

step "typecheck, lint"
nice -n 10 npm run --silent typecheck
nice -n 10 npm run --silent lint

step "unit tests"
timed "unit tests" nice -n 10 npx vitest run --reporter=default --reporter=json \
  --outputFile.json="$results/unit.json"
step "integration and end-to-end tests"
timed "integration and end-to-end tests" nice -n 10 npx vitest run \
  --config test/vitest.integration.config.ts --project integration \
  --reporter=default --reporter=json --outputFile.json="$results/integration.json"

step "waiting for the real-node suites"
wait "$node_group" || status=$?
node_group=""
timings+=("real-node suites and the demo (from the build's end): $((SECONDS - node_started)) s")

step "times"
printf '%s\n' "${timings[@]}"
# Each real-node file's time as its reporter line gives it (hooks included: the JSON's leave
# out a file's beforeAll, where the node's boot and the chart's installs are).
sed 's/\x1b\[[0-9;]*m//g' "$results/node.log" \
  | sed -nE 's#^node \| +. +node +test/([a-z/.-]+)\.test\.ts \(.*\) ([0-9]+)ms$#\1 \2#p' \
  | awk '{ printf "%s%s %d s", (NR > 1 ? ", " : "  "), $1, ($2 + 500) / 1000 } END { if (NR) print "" }'

node -e '
  // Failed tests, plus each file that failed with no failed test (a hook or import error),
  // so the line counts every failure once.
  const fs = require("node:fs");
  let passed = 0, failed = 0;
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) { failed++; continue; }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    for (const file of r.testResults)
      if (file.status === "failed" && !file.assertionResults.some((t) => t.status === "failed")) failed++;
  }
  console.log(`${passed} passed, ${failed} failed`);
' "$results/unit.json" "$results/integration.json" "$results/node.json"
exit "$status"

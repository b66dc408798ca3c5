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


step "build, typecheck, lint"
npm run --silent build
npm run --silent typecheck
npm run --silent lint

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
status=0
timings=()
timed() {
  local name="$1" start=$SECONDS
  shift
  "$@" || status=$?
  timings+=("$name: $((SECONDS - start)) s")
}
step "unit tests"
timed "unit tests" npx vitest run --reporter=default --reporter=json --outputFile.json="$results/unit.json"
step "integration and end-to-end tests"
timed "integration and end-to-end tests" npx vitest run --config test/vitest.integration.config.ts \
  --reporter=default --reporter=json --outputFile.json="$results/integration.json"

step "times"
printf '%s\n' "${timings[@]}"
node -e '
  // The two integration projects run one after the other: the wall time of each.
  const fs = require("node:fs");
  const f = process.argv[1];
  if (!fs.existsSync(f)) process.exit(0);
  const groups = {};
  for (const t of JSON.parse(fs.readFileSync(f, "utf8")).testResults) {
    const name = /\/test\/(node|demo)\//.test(t.name) ? "node" : "integration";
    const g = (groups[name] ??= { start: Infinity, end: 0, files: 0 });
    g.start = Math.min(g.start, t.startTime);
    g.end = Math.max(g.end, t.endTime);
    g.files++;
  }
  for (const [name, g] of Object.entries(groups))
    console.log(`  project ${name}: ${g.files} files, ${Math.round((g.end - g.start) / 1000)} s`);
' "$results/integration.json"

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
' "$results/unit.json" "$results/integration.json"
exit "$status"

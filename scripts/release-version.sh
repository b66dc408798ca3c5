#!/usr/bin/env bash
# A release's first check: the tag vX.Y.Z, the chart's version and appVersion, and the npm
# package's version must all say X.Y.Z, or the chart would install an image nobody pushed.
#   scripts/release-version.sh vX.Y.Z     (prints X.Y.Z)
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-}"
[[ "$tag" =~ ^v([0-9]+\.[0-9]+\.[0-9]+)$ ]] || {
  echo "release-version: the tag must be vX.Y.Z, not '$tag'" >&2
  exit 2
}
want="${BASH_REMATCH[1]}"
field() { sed -nE "s/^$1:[[:space:]]*['\"]?([^'\"]+)['\"]?[[:space:]]*$/\1/p" charts/kaos-memory/Chart.yaml; }
npm_version="$(node -p 'require("./package.json").version')"
bad=0
for pair in "charts/kaos-memory/Chart.yaml version=$(field version)" \
  "charts/kaos-memory/Chart.yaml appVersion=$(field appVersion)" \
  "package.json version=$npm_version"; do
  if [ "${pair##*=}" != "$want" ]; then
    echo "release-version: ${pair%=*} is '${pair##*=}', the tag says $want" >&2
    bad=1
  fi
done
[ "$bad" = 0 ] || exit 1
echo "$want"

#!/usr/bin/env bash
# Builds the test cluster from Go modules: every command under test/controlplane/cmd
# (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
# kubectl, CoreDNS, a pause binary and a hostPath volume provisioner) in ONE `go build`,
# so the packages they share compile once, and helm with `go install`. The binaries go
# to a cache folder outside the clone, so every checkout and CI run on this machine
# reuses them; they are rebuilt only when their sources, the versions or this script
# change.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
HELM_KUBE_MINOR=37 # helm v3.22 is built on client-go v0.37 (its Makefile derives this)
CP_DIR=test/controlplane
BIN_DIR="${KAOS_CACHE_DIR:-$HOME/.cache/kaos-memory}/bin"
SCRIPT="scripts/controlplane.sh"

say() { printf 'controlplane: %s\n' "$*"; }
die() {
  printf 'controlplane: %s\n' "$*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "Go not found: install Go 1.26+ (https://go.dev/dl/) to build the Kubernetes components and helm"
go_version="$(go env GOVERSION)"
go_minor="$(printf '%s' "$go_version" | sed -E 's/^go1\.([0-9]+).*/\1/')"
[[ "$go_minor" =~ ^[0-9]+$ && "$go_minor" -ge 26 ]] || die "found $go_version: install Go 1.26+ (https://go.dev/dl/)"

# Versions come from go.mod, so bumping a require there is the whole upgrade.
mod_version() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$CP_DIR/go.mod"; }
K8S_VERSION="$(mod_version k8s.io/kubernetes)"
[ -n "$K8S_VERSION" ] || die "no k8s.io/kubernetes require in $CP_DIR/go.mod"
k8s_major="$(printf '%s' "$K8S_VERSION" | sed -E 's/^v([0-9]+)\..*/\1/')"
k8s_minor="$(printf '%s' "$K8S_VERSION" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')"

# One hash over everything that decides a binary's bytes. `kube` names the one build
# of every command under $CP_DIR/cmd.
stamp() {
  local name="$1"
  {
    printf '%s\n' "$name" "$go_version" "$K8S_VERSION" "$HELM_VERSION" "$HELM_KUBE_MINOR"
    cat "$SCRIPT"
    if [ "$name" != helm ]; then
      cat "$CP_DIR/go.mod" "$CP_DIR/go.sum"
      find "$CP_DIR/cmd" -type f | LC_ALL=C sort | xargs cat
    fi
  } | sha256sum | cut -d' ' -f1
}

# The commands the one `go build` makes: one binary per folder under $CP_DIR/cmd.
KUBE_BINS=()
for dir in "$CP_DIR"/cmd/*/; do KUBE_BINS+=("$(basename "$dir")"); done

up_to_date() {
  local name="$1" bin
  if [ "$name" = kube ]; then
    for bin in "${KUBE_BINS[@]}"; do [ -x "$BIN_DIR/$bin" ] || return 1; done
  else
    [ -x "$BIN_DIR/$name" ] || return 1
  fi
  [ "$(cat "$BIN_DIR/.$name.stamp" 2>/dev/null)" = "$(stamp "$name")" ]
}

# Runs a build in the background and prints a line every 15 s: a cold
# kube-apiserver build takes minutes and should not look like a hang.
build() {
  local name="$1"
  shift
  local log="$work/$name.log" start=$SECONDS pid status=0
  say "building $name (a cold build takes minutes; cached afterwards)"
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 15); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then say "  $name: still building, $((SECONDS - start))s"; fi
  done
  wait "$pid" || status=$?
  if [ "$status" -ne 0 ]; then
    cat "$log" >&2
    die "building $name failed (exit $status); log above"
  fi
  say "built $name in $((SECONDS - start))s"
}

mkdir -p "$BIN_DIR"
# Two runs at once (a developer and CI) must not write the same files.
exec 9>"$BIN_DIR/.lock"
flock 9

work="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

install_bin() { # name stamp
  mv -f "$work/$1" "$BIN_DIR/$1"
  printf '%s\n' "$2" >"$BIN_DIR/.$1.stamp"
}

# Each stamp is taken before its build, so a source edited during a build makes the
# next run build again instead of marking stale binaries as current.
if ! up_to_date kube; then
  kube_stamp="$(stamp kube)"
  # One invocation for all of them: kubelet, kube-controller-manager and kubectl share
  # most of their packages with kube-apiserver, so each compiles once.
  say "one go build of: ${KUBE_BINS[*]}"
  build kubernetes go -C "$CP_DIR" build -trimpath -o "$work/" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
    -X k8s.io/component-base/version.gitMajor=$k8s_major \
    -X k8s.io/component-base/version.gitMinor=$k8s_minor \
    -X k8s.io/component-base/version.gitTreeState=clean \
    -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
    -X k8s.io/client-go/pkg/version.gitMajor=$k8s_major \
    -X k8s.io/client-go/pkg/version.gitMinor=$k8s_minor" ./cmd/...
  for bin in "${KUBE_BINS[@]}"; do mv -f "$work/$bin" "$BIN_DIR/$bin"; done
  printf '%s\n' "$kube_stamp" >"$BIN_DIR/.kube.stamp"
fi

if ! up_to_date helm; then
  helm_stamp="$(stamp helm)"
  # The same -X flags as helm's Makefile, so `helm version` and the default
  # .Capabilities.KubeVersion are what a released helm reports.
  build helm env GOBIN="$work" GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_KUBE_MINOR \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_KUBE_MINOR" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  install_bin helm "$helm_stamp"
fi

#!/usr/bin/env bash
# Installs what a real single-node cluster needs from Debian's packages: the container
# runtime (containerd, runc), the CNI bridge plugins, nft for kube-proxy's nftables mode,
# a static busybox for the small images, and redis-server for the Redis image.
# Idempotent: quick when everything is already there.
set -euo pipefail

say() { printf 'node-deps: %s\n' "$*"; }

[ "$(uname -s)" = Linux ] || {
  say "not Linux: a real node cannot run here"
  exit 1
}

# package -> a file it installs, to tell cheaply whether it is there.
declare -A wants=(
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [nftables]=/usr/sbin/nft
  [busybox-static]=/bin/busybox
  [redis-server]=/usr/bin/redis-server
  [redis-tools]=/usr/bin/redis-cli
  # Usually there already: the node's bridge and routes.
  [iproute2]=/bin/ip
)

missing=()
for pkg in "${!wants[@]}"; do
  [ -e "${wants[$pkg]}" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
say "installing ${missing[*]} (Debian packages)"
start=$SECONDS
$SUDO apt-get update -qq
# containerd's package starts a service where systemd runs; nothing here needs it, and the
# cluster starts its own containerd with its own config and socket.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
say "installed in $((SECONDS - start))s"

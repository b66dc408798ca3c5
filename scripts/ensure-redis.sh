#!/usr/bin/env bash
# Puts redis-server on PATH (Debian's package) when a clean machine lacks it, and
# Debian's python3-redis, with which the Python interop suite (test/interop/) writes
# and reads the layout as KAOS's RedisMemory does.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if ! /usr/bin/python3 -c 'import redis' >/dev/null 2>&1; then missing+=(python3-redis); fi
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
echo "==> installing ${missing[*]} (Debian packages)"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null

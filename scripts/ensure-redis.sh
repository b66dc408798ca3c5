#!/usr/bin/env bash
# Puts redis-server on PATH (Debian's package) when a clean machine lacks it.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
echo "==> installing redis-server (Debian package)"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null

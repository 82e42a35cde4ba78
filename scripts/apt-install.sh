#!/usr/bin/env bash
# Installs the given Debian packages (none given: does nothing), with sudo
# when not root. Shared by scripts/test.sh and bench/compare.sh, which each
# decide what is missing.
set -euo pipefail
[ $# -gt 0 ] || exit 0
echo "installing Debian packages: $*"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null

#!/usr/bin/env bash
# Make a system tool a test needs available, noninteractively: the binary on PATH is used as
# is; else, on Debian or Ubuntu, `apt-get install` its package, as root or through
# passwordless sudo. Prints the binary's path on the last line of stdout.
#   scripts/install-tool.sh qemu-x86_64 qemu-user        # the cross-CPU emulation test
#   scripts/install-tool.sh sshd openssh-server          # the SSH remote test
#   scripts/install-tool.sh chromium chromium fonts-liberation   # (install-chromium.sh)
# Exit 0: found or installed; 1: missing and cannot be installed here (the test then skips,
# or fails under CI=true).
set -euo pipefail
BIN=${1:?usage: scripts/install-tool.sh BINARY PACKAGE [PACKAGE...]}
PKG=${2:?usage: scripts/install-tool.sh BINARY PACKAGE [PACKAGE...]}
PKGS=("${@:2}")

find_bin() {
  local p
  for p in "$(command -v "$BIN" 2>/dev/null || true)" "/usr/sbin/$BIN" "/usr/bin/$BIN"; do
    if [[ -n "$p" && -x "$p" ]]; then echo "$p"; return 0; fi
  done
  return 1
}

if found=$(find_bin); then
  echo "$found"
  exit 0
fi
. /etc/os-release 2>/dev/null || true
if [[ "${ID:-}" != "debian" && "${ID_LIKE:-}" != *debian* ]]; then
  echo "install-tool: $BIN missing and ${PRETTY_NAME:-this system} has no apt-get: install $PKG" >&2
  exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "install-tool: $BIN missing and no root or passwordless sudo to apt-get $PKG" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q >&2
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${PKGS[@]}" >&2
found=$(find_bin) || { echo "install-tool: apt-get installed $PKG but no $BIN" >&2; exit 1; }
echo "$found"

#!/usr/bin/env bash
# Make a headless Chromium available for the explorer's browser test (tests/test_explore.py),
# noninteractively. Prints the binary's path on the last line of stdout.
#   1. $REASONMED_CHROMIUM, or a chromium / chrome already on PATH (GitHub's Ubuntu runners
#      ship one), is used as is;
#   2. else on Debian: apt-get install chromium (+ fonts, so screenshots read well), as root
#      or through passwordless sudo. Ubuntu's `chromium` package is only a snap shim, which
#      cannot run headless in CI: there, install Google Chrome or set REASONMED_CHROMIUM.
# Exit 0: found or installed; 1: missing and cannot be installed here (the test then skips,
# or fails under CI=true).
#   scripts/install-chromium.sh
set -euo pipefail

find_browser() {
  if [[ -n "${REASONMED_CHROMIUM:-}" && -x "${REASONMED_CHROMIUM}" ]]; then
    echo "$REASONMED_CHROMIUM"; return 0
  fi
  local b
  for b in chromium chromium-browser google-chrome-stable google-chrome; do
    if p=$(command -v "$b" 2>/dev/null) && [[ "$p" != /snap/* ]] && "$p" --version >/dev/null 2>&1; then
      echo "$p"; return 0
    fi
  done
  return 1
}

if found=$(find_browser); then
  echo "chromium already installed: $("$found" --version 2>/dev/null)"
  echo "$found"
  exit 0
fi

# Debian's chromium (+ fonts, so screenshots read well), through the shared apt helper.
# Ubuntu's `chromium` package is only a snap shim, which cannot run headless in CI: there,
# install Google Chrome or set REASONMED_CHROMIUM.
. /etc/os-release 2>/dev/null || true
if [[ "${ID:-}" != "debian" ]]; then
  echo "install-chromium: no Chromium found and ${PRETTY_NAME:-this system} is not Debian;" \
       "install Chromium or Chrome and/or set REASONMED_CHROMIUM=/path/to/binary" >&2
  exit 1
fi
"$(dirname "$0")/install-tool.sh" chromium chromium fonts-liberation fonts-dejavu-core >/dev/null
found=$(find_browser) || { echo "install-chromium: apt-get ran but no chromium binary" >&2; exit 1; }
echo "chromium installed: $("$found" --version 2>/dev/null)"
echo "$found"

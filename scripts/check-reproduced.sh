#!/usr/bin/env bash
# Rebuildable from hashes: after a `dvc repro` in a fresh clone, dvc.lock and the tracked
# metrics (data/, reports/) must be the committed bytes. Compared against HEAD, not the
# index: DVC's core.autostage (.dvc/config) stages the dvc.lock a repro writes, so a plain
# `git diff` (work tree against index) would never see it change.
#   scripts/check-reproduced.sh          # exit 1 and the diff when anything differs
set -euo pipefail
cd "$(dirname "$0")/.."
if ! git diff --exit-code --stat HEAD -- dvc.lock data reports; then
  echo "FAIL: this clone's dvc repro did not reproduce the committed dvc.lock / metrics" >&2
  git diff HEAD -- dvc.lock | head -80 >&2
  exit 1
fi
echo "dvc.lock, data/ and reports/ are the committed bytes"

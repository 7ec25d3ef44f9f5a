#!/usr/bin/env bash
# The GPU check: one GPU (H100/H200), about 8 minutes, no downloads; writes reports/gpu.md.
# Options go to benchmarks/gpu_check.py (--dry-run: no GPU, --only 1,3, --budget-s, --out).
#   scripts/gpu-check.sh               (GPU machine: the `gpu` extra installed, or PYTHON=...)
#   scripts/gpu-check.sh --dry-run     (any machine: builds every argument object)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"

#!/usr/bin/env bash
# Install the pinned environment into a Python prefix: the project's .venv (make), or the
# conda env Snakemake builds from envs/reasonmed.yaml under --software-deployment-method
# conda (its post-deploy script calls this). torch first (CPU build unless a GPU is there:
# scripts/install-torch.sh), then exactly the lock file (hashes checked, no resolver), then
# the project itself without touching its dependencies.
#   scripts/install-env.sh .venv
set -euo pipefail
PREFIX=$(cd "${1:?usage: scripts/install-env.sh PREFIX}" && pwd)
cd "$(dirname "$0")/.."
LOCK=${LOCK:-requirements/cpu.lock}
scripts/install-torch.sh "$PREFIX"
"$PREFIX/bin/pip" install -q --require-hashes --no-deps -r "$LOCK"
"$PREFIX/bin/pip" install -q --no-deps --no-build-isolation -e .

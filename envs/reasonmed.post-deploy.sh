#!/usr/bin/env bash
# Run by Snakemake inside the new conda env, from the workflow's directory (the repo root).
set -euo pipefail
scripts/install-env.sh "$CONDA_PREFIX"

#!/usr/bin/env bash
# Install torch into the given venv without pulling a multi-GB CUDA build on a CPU-only
# machine: with a GPU, PyPI's default (CUDA) wheel; without one, the CPU wheel, from a local
# wheel folder when pip is configured with one, else from PyTorch's CPU index.
#   scripts/install-torch.sh .venv
set -euo pipefail
VENV=${1:-.venv}
# The version lives in requirements/ (a dep of every stage that computes with torch).
TORCH_VERSION=${TORCH_VERSION:-$(cat "$(dirname "$0")/../requirements/torch.version")}
PIP="$VENV/bin/pip"
if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') already installed"
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  "$PIP" install "torch==$TORCH_VERSION"
elif ! "$PIP" install "torch==$TORCH_VERSION+cpu" 2>/dev/null; then
  "$PIP" install "torch==$TORCH_VERSION+cpu" --extra-index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
fi

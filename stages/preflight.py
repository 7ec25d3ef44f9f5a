"""preflight: the pre-flight check as the DAG's first stage, on every `dvc repro` / `dvc exp run`.

Every params section, role, model folder, SFTConfig, vLLM object, launcher config, GPU, key
and endpoint (reasonmed/ops/check.py, reasonmed/ops/runtime.py), one line per problem, before
any stage loads a model. dvc.yaml marks it `always_changed`; its one output has the same bytes
whenever the check passes, so a pass reruns nothing downstream. A pass is remembered for the
same params, code and machine (work/check/), so an unchanged rerun takes a fraction of a
second; endpoints are asked every time.

    python -m stages.preflight params.yaml data/preflight
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reasonmed.core.stage import entry
from reasonmed.ops.check import main as check

READY = "the pre-flight check passed\n"  # constant: a pass must not rerun anything below


def main() -> None:
    ap = argparse.ArgumentParser(description="The pre-flight check, as a DVC stage.")
    ap.add_argument("params")
    ap.add_argument("out")
    a = ap.parse_args()
    check(["--params", a.params, "--quiet", "--once", "--reach", "all"])
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ready.txt").write_text(READY, encoding="utf-8")


if __name__ == "__main__":
    entry(main)

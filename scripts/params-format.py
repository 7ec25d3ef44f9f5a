"""Rewrite params files in the exact layout DVC writes back after `dvc exp run -S`, so that
an override changes only the overridden line.

DVC loads params with ruamel (round-trip), applies the overrides through OmegaConf and
dumps with its defaults (80-column lines, 2-space indents); lists come back block style and
lose the comments inside them. This script applies a no-op override the same way until the
file stops changing, and fails if that takes more than two rounds. Keep comments about a
list above it, not inside it.

    python scripts/params-format.py params.yaml configs/paper.yaml configs/api.yaml
"""

import shutil
import sys
import tempfile

from dvc.utils.hydra import apply_overrides
from ruamel.yaml import YAML


def noop_override(path: str) -> str:
    seed = YAML(typ="safe", pure=True).load(open(path, encoding="utf-8"))["run"]["seed"]
    return f"run.seed={seed}"


def dvc_rewrite(text: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    apply_overrides(f.name, [noop_override(f.name)])
    return open(f.name, encoding="utf-8").read()


if __name__ == "__main__":
    bad = 0
    for path in sys.argv[1:]:
        text = open(path, encoding="utf-8").read()
        out = dvc_rewrite(dvc_rewrite(text))
        if dvc_rewrite(out) != out:
            print(f"{path}: DVC's layout is not a fixed point", file=sys.stderr)
            bad = 1
            continue
        if out != text:
            shutil.copy(path, path + ".bak")
            open(path, "w", encoding="utf-8").write(out)
            print(f"{path}: rewritten in DVC's layout (previous version: {path}.bak)")
    sys.exit(bad)

"""Time the whole default DAG cold, as a new user meets it: a fresh clone of HEAD (no model
build cache, no request cache, no DVC cache), `dvc repro`, then where the time went and
whether the run reproduced the committed dvc.lock. Takes as long as the run (minutes).

    python benchmarks/default_run.py                          # the whole DAG
    python benchmarks/default_run.py --target benchmark@medqa  # one stage and what it needs

Figures: total wall; per job its own wall (work/runs/<job>.json, written by the stage) and
its gap (time since the previous job finished: the stage's process start, imports and
DVC's bookkeeping around it); the sum of the gaps minus the walls is what no stage's code
spends. Commit first: uncommitted edits are not in the clone.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent


def jobs(clone: Path, start: float) -> list[tuple[str, float, float]]:
    """(job, own wall, gap since the previous job ended), in the order they finished."""
    rows, prev = [], start
    for f in sorted((clone / "work/runs").glob("*.json"), key=os.path.getmtime):
        end = f.stat().st_mtime
        rows.append((f.stem, float(json.loads(f.read_text()).get("wall_s", 0.0)), end - prev))
        prev = end
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the clone and print its path")
    ap.add_argument("--target", help="a stage to repro (with its upstream) instead of all")
    a = ap.parse_args()
    clone = Path(tempfile.mkdtemp(prefix="reasonmed-default-")) / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(VENV)  # the installed environment, not a second install
    env = {**os.environ, "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.time()
    r = subprocess.run(["dvc", "repro", *([a.target] if a.target else [])], cwd=clone,
                       env=env, capture_output=True, text=True)
    total = time.time() - t0
    if r.returncode:
        sys.exit(f"dvc repro failed ({r.returncode}) in {clone}:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    rows = jobs(clone, t0)
    print(f"default {a.target or 'DAG'}, cold, fresh clone: {total:.1f} s "
          f"({os.cpu_count()} CPUs)")
    print(f"{'job':34} {'wall_s':>7} {'gap_s':>7}")
    for name, wall, gap in rows:
        print(f"{name:34} {wall:7.1f} {gap:7.1f}")
    # Shard jobs run side by side inside generate: their walls overlap, so count the stage.
    own = sum(w for n, w, _ in rows if not n.startswith("generate-"))
    own += sum(g for n, _, g in rows if n.startswith("generate"))
    print(f"stage code {own:.1f} s, the rest (process start, imports, DVC, Snakemake) "
          f"{total - own:.1f} s")
    diff = subprocess.run(["git", "status", "--porcelain", "dvc.lock"], cwd=clone,
                          capture_output=True, text=True).stdout.strip()
    print("dvc.lock reproduced exactly" if not diff else
          "dvc.lock differs from the committed one (an edit since it was written, or a "
          "reproducibility bug: `git diff HEAD dvc.lock` in the clone)")
    if a.keep:
        print(f"clone: {clone}")
    else:
        shutil.rmtree(clone.parent)


if __name__ == "__main__":
    main()

"""Time `dvc repro` and `dvc status` when the pipeline is up to date (run `make repro` first).

    python benchmarks/repro_noop.py
"""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(*cmd: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - t0, r.stdout + r.stderr


def main() -> None:
    dt, out = timed("dvc", "status")
    if "up to date" not in out:
        sys.exit(f"pipeline is not up to date; run `make repro` first:\n{out}")
    for cmd in (("dvc", "status"), ("dvc", "repro")):
        times = [timed(*cmd)[0] for _ in range(3)]
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"{' '.join(cmd)} (no-op): best {min(times):.2f} s, runs {runs}")


if __name__ == "__main__":
    main()

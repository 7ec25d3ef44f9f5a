"""Every benchmark script runs: a figure that cannot be produced is a broken promise too.

Each script runs as a user runs it (a subprocess, from the repository), at toy sizes, and
must print its headline line. The figures themselves are not asserted (benchmarks print,
never assert; their sizes here say nothing about speed). `repro_noop.py` needs a built
workspace and `vllm_throughput.py` the vLLM CPU-build venv: tests/test_vllm_backend.py
runs that one.

    python -m pytest -q tests/test_bench_scripts.py
"""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

CASES = [
    ("fingerprint.py", ["--gib", "0.02", "--shard-gib", "0.01"], "memoised digest"),
    ("generate_cache.py", ["--questions", "3", "--max-tokens", "4"], "warm: 9 paths"),
    ("hf_throughput.py", ["--prompts", "6", "--max-tokens", "4", "--batch-size", "3",
                          "--repeats", "2", "--hidden", "64"], "median round ratio"),
    ("data_plane.py", ["--questions", "300"], "rows per variant"),
    ("contracts.py", ["--steps", "2"], "usable"),
    # one stage of a fresh clone: the clone, the timing table and the lock check all run
    ("default_run.py", ["--target", "benchmark@medqa"], "dvc.lock reproduced exactly"),
]


@pytest.mark.parametrize("script, args, expect", CASES, ids=[c[0] for c in CASES])
def test_benchmark_runs_and_prints_its_figures(script, args, expect, tmp_path):
    r = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=600,
                       env={**__import__("os").environ, "TMPDIR": str(tmp_path)})
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert expect in r.stdout, r.stdout[-3000:]


def test_explorer_build_runs_on_the_committed_sample(tmp_path):
    data = ROOT / "data"
    if not (data / "generate/paths.jsonl").exists():
        pytest.skip("data/ not built here (make repro): the explorer benchmark reads it")
    r = subprocess.run([sys.executable, "benchmarks/explorer_build.py", "--questions", "60",
                        "--dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "scale-up" in r.stdout

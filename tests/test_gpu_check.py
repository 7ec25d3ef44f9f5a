"""The GPU check's dry run works on a CPU machine, and its report says what a GPU rebuild
reproduces from part 5's result.

The dry run is the script as a user runs it (scripts/gpu-check.sh): every argument object
of the six parts is built here (vLLM kwargs as dicts, SFTConfig kwargs and a built
SFTConfig, the accelerate command line and its params file read by the stage's loaders,
the model config and parameter count), so a renamed field or a bad config fails before a
GPU is booked. The measurements themselves need one GPU (about 8 minutes).

    python -m pytest -q tests/test_gpu_check.py
"""

import os
import subprocess
import sys

from benchmarks._gpu_report import DIFFERENT, SAME, TITLES, render
from tests.conftest import ROOT


def dry_run(tmp_path, *args):
    out = tmp_path / "gpu.md"
    r = subprocess.run(["scripts/gpu-check.sh", "--dry-run", "--out", str(out), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path)})
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return r.stdout, out.read_text(encoding="utf-8")


def test_the_dry_run_builds_every_part_and_writes_the_report(tmp_path):
    stdout, report = dry_run(tmp_path)
    for n in TITLES:
        assert f"part {n} (not run (dry run)" in stdout  # one line per part, as it finishes
        assert f"## Part {n}: {TITLES[n]}" in report
    assert report.count("| not run (dry run) |") == 6 and "Status: error" not in report
    # the argument objects of each part
    for needle in ('"engine (vllm.LLM kwargs)"', '"enable_prefix_caching": true',
                   '"backend": "guidance"', '"requests": 288',  # 32 questions x 9
                   '"verdict"', '"maxLength": 300',  # the verifier's schema
                   '"TRL defaults"', '"packing": true', '"padding_free": true', "SFTConfig built",
                   '"accelerate.commands.launch"', '"configs/accelerate/deepspeed_zero3.yaml"',
                   '"stages.sft"', '"CUBLAS_WORKSPACE_CONFIG": ":4096:8"',
                   '"model_type": "qwen2"', "parameters (0.5b)",
                   "GRPOConfig built", '"reward_weights"', '"num_generations": 8'):
        assert needle in report, needle
    # no temp folder or interpreter path leaks into a report meant to be committed
    assert str(tmp_path) not in report.replace(str(tmp_path / "gpu.md"), "")
    assert sys.executable not in report


def test_only_picks_parts(tmp_path):
    stdout, report = dry_run(tmp_path, "--only", "2,4")
    assert "part 2 (" in stdout and "part 4 (" in stdout and "part 1 (" not in stdout
    assert "## Part 2" in report and "## Part 4" in report and "## Part 3" not in report
    assert report.count("not chosen (--only)") == 4


def fabricated(same: bool) -> dict:
    ok = {"status": "ok", "seconds": 12.5, "met": True, "target": "t"}
    return {1: {**ok, "figure": "project/bare tokens/s 0.981", "details": {"rounds": [1, 2]}},
            2: {"status": "error", "error": "RuntimeError: engine died", "seconds": 3},
            3: {**ok, "figure": "packing 1.83x TRL defaults' tokens/s", "plan": {"a": 1}},
            4: {**ok, "figure": "6 ZeRO-3 steps"},
            5: {**ok, "figure": "deterministic: same bytes" if same else "different",
                "met": same, "same_bytes": same, "default_same_bytes": False}}


def test_the_report_table_and_the_rebuild_paragraph_follow_part_5():
    meta = {"mode": "GPU run", "device": "NVIDIA H100", "parameters": 548982784, "size": "0.5b",
            "versions": {"vllm": "0.31.0"}, "command": "scripts/gpu-check.sh"}
    same, different = render(meta, fabricated(True)), render(meta, fabricated(False))
    assert "| 1 | " + TITLES[1] + " | project/bare tokens/s 0.981 | t | yes | 12.5 |" in same
    assert "| 2 | " + TITLES[2] + " | error: RuntimeError: engine died |" in same
    assert "548,982,784 parameters" in same and "vllm 0.31.0" in same
    assert SAME in same and DIFFERENT not in same
    assert DIFFERENT in different and SAME not in different
    assert "| no |" in different  # part 5 missed its target
    assert "Without them the two runs saved different bytes" in same


def test_the_rebuild_paragraph_without_part_5_says_what_is_expected():
    text = render({}, {1: {"status": "not run (dry run)"}})
    assert "Not measured yet" in text and "same GPU model, driver and library versions" in text
    assert "`dvc pull`" in text and text.count("not chosen (--only)") == 5

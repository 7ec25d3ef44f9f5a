"""End to end: `dvc repro` of the whole DAG on the tiny default in a fresh copy of the repo."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def sh(*cmd, cwd, check=True):
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and r.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh clone-like copy (tracked + untracked-not-ignored files) of the default."""
    dst = tmp_path_factory.mktemp("repo")
    files = sh("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    sh("git", "init", "-q", cwd=dst)
    sh("git", "add", "-A", cwd=dst)
    sh("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init", cwd=dst)
    r = sh("dvc", "repro", cwd=dst)
    return dst, r


@pytest.mark.slow
def test_repro_runs_every_stage_and_second_repro_is_noop(repo):
    dst, first = repo
    for stage, spec in yaml.safe_load((dst / "dvc.yaml").read_text())["stages"].items():
        names = [f"{stage}@{k}" for k in spec["foreach"]] if "foreach" in spec else [stage]
        for name in names:
            assert f"Running stage '{name}'" in first.stdout, name
    second = sh("dvc", "repro", cwd=dst)
    assert "Running stage" not in second.stdout
    assert sh("dvc", "status", cwd=dst).stdout.strip().endswith("up to date.")
    assert "generate" in sh("dvc", "dag", cwd=dst).stdout


@pytest.mark.slow
def test_default_run_verdicts_are_mixed_and_all_parse(repo):
    dst, _ = repo
    gen = json.loads((dst / "data/generate/stats.json").read_text())
    ver = json.loads((dst / "data/verify/stats.json").read_text())
    col = json.loads((dst / "data/collect/stats.json").read_text())
    n_q = sum(1 for _ in open(dst / "data/collect/questions.jsonl"))
    assert n_q >= 40 and gen["paths_out"] == 9 * n_q
    assert ver["paths_in"] == gen["paths_out"]
    assert ver["correct"] > 0 and ver["error"] > 0 and ver["unparsed"] == 0
    assert ver["parse_failure_rate"] == 0
    ledger = json.loads((dst / "data/generate/ledger.json").read_text())
    assert {r["role"] for r in ledger} == {"agent1", "agent2", "agent3"}
    assert col  # stats exist


@pytest.mark.slow
def test_forced_rerun_makes_zero_model_calls(repo):
    dst, _ = repo
    sh("dvc", "repro", "-f", "-s", "verify", cwd=dst)
    assert json.loads((dst / "data/verify/stats.json").read_text())["model_calls"] == 0

"""A generate process killed mid-run resumes from the request cache and leaves no partial out."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from reasonmed.params import read_params
from reasonmed.records import JsonlWriter

ROOT = Path(__file__).resolve().parents[1]


def cached_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_killed_generate_resumes_without_reasking(tiny_models, tmp_path):
    from benchmarks._tiny import questions

    with JsonlWriter(tmp_path / "questions.jsonl") as w:
        w.write_all(questions(60))
    params = read_params(ROOT / "params.yaml")
    params["run"]["cache"] = str(tmp_path / "cache.sqlite")
    params["models"]["agent1"] = {"backend": "hf", "model": tiny_models["agent"],
                                  "options": {"batch_size": 6}}
    params["generate"].update(max_tokens=24, batch_questions=4)  # many small cache commits
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "paths.jsonl"
    cmd = [sys.executable, "-m", "stages.generate", "shard", str(tmp_path / "questions.jsonl"),
           str(out), "--agent", "agent1", "--params", str(tmp_path / "params.yaml")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while cached_rows(tmp_path / "cache.sqlite") < 30 and time.time() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = cached_rows(tmp_path / "cache.sqlite")
    assert 0 < done_before < 180, "kill should land mid-run"
    assert not out.exists(), "no half-written artifact"

    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    ledger = json.loads(out.with_suffix(".ledger.json").read_text())[0]
    assert ledger["cache_hits"] == done_before
    assert ledger["model_calls"] == 180 - done_before
    assert sum(1 for _ in open(out)) == 180

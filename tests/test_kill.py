"""A killed or interrupted run resumes with a plain `dvc repro`, and the result is the same
bytes as an uninterrupted run from a fresh copy.

For generate and verify, four signals (SIGKILL of the worker, SIGKILL of the whole process
tree, SIGINT to the tree as Ctrl-C sends it, SIGTERM to `dvc` alone) at four points each:
before the first batch is committed, mid-run (a batch generated but not committed), with
every request answered but the output not yet renamed into place, and after the outputs
are written with only exit hooks left. The process is held at the point by
reasonmed/core/faults.py, so each kill lands exactly there. Afterwards: no process left, no
lock to remove, no incomplete-file error, no stray temp file, and every output md5 equals
the reference run's.

A small copy of the default keeps this inside the CI budget: 6 questions, 2 agents x 1 shard,
small batches (so "mid-run" exists), short outputs.
"""

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from reasonmed.core.params import read_params
from tests.conftest import clone_like, up_to_date, upstream

BIN = Path(sys.executable).parent
OUTS = {"generate": ["data/generate/paths.jsonl", "data/generate/ledger.json",
                     "data/generate/stats.json"],
        "verify": ["data/verify/verdicts.jsonl", "data/verify/ledger.json",
                   "data/verify/stats.json"]}
POINTS = {
    "generate": ["generate-agent1-0of1@before_commit:1",   # nothing committed yet
                 "generate-agent2-0of1@before_commit:3",   # mid-run: batch 3 generated, lost
                 "before_rename:paths.jsonl",              # all done, output not yet in place
                 "generate@after_main"],                   # a job's outputs written, exit hooks left
    "verify": ["verify@before_commit:1", "verify@before_commit:4", "before_rename:verdicts.jsonl",
               "verify@after_main"],
}
# kill-*: SIGKILL (nothing can react); sigint: Ctrl-C to the whole tree; sigterm-dvc:
# `kill <dvc>` alone, which DVC does not pass on (each stage dies with its parent instead)
SIGNALS = ["kill-worker", "kill-tree", "sigint", "sigterm-dvc"]


def sh(*cmd, cwd, env=None, check=True):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})})
    if check and r.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def md5s(repo: Path, stage: str) -> dict[str, str]:
    return {f: hashlib.md5((repo / f).read_bytes()).hexdigest() for f in OUTS[stage]}


def small_default(dst: Path) -> None:
    """Shrink the default in place: 6 questions, 2 agents, one shard each, small batches."""
    lines = (dst / "assets/questions_sample.jsonl").read_text().splitlines()
    (dst / "assets/questions_sample.jsonl").write_text("\n".join(lines[::8][:6]) + "\n")
    p = read_params(dst / "params.yaml")
    p["generate"]["agents"] = ["agent1", "agent2"]
    p["generate"]["max_tokens"] = 24
    p["verify"]["max_tokens"] = 96
    p["exec"]["generate"].update(shards=1, snakemake="--cores 2")
    for role in ("agent1", "agent2", "verifier"):
        p["models"][role]["options"]["batch_size"] = 4
    (dst / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    # The DAG up to verify only, so a plain `dvc repro` is the whole (small) pipeline.
    dvc = yaml.safe_load((dst / "dvc.yaml").read_text())
    dvc = {"stages": {s: dvc["stages"][s] for s in upstream(dvc["stages"], "verify")}}
    g = dvc["stages"]["generate"]
    g["deps"].remove("models/${generate.agents[2]}")  # two agents
    g["params"].remove("models.${generate.agents[2]}")
    (dst / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dst = tmp_path_factory.mktemp("kill")
    clone_like(dst, edit=small_default)
    sh("dvc", "repro", cwd=dst)
    return dst, {s: md5s(dst, s) for s in OUTS}


def reset(repo: Path, stage: str) -> None:
    """Make `stage` start from nothing: no outputs, no cached completions of its own, and an
    empty DVC cache (DVC would otherwise check the outputs out again without running)."""
    subprocess.run(["rm", "-rf", str(repo / ".dvc/cache")], check=True)
    for f in OUTS[stage]:
        (repo / f).unlink(missing_ok=True)
    for f in (repo / ".cache/llm").glob(f"{stage}*.sqlite"):
        f.unlink()
    if stage == "generate":
        subprocess.run(["rm", "-rf", str(repo / "work/generate")], check=True)


def interrupt(repo: Path, stage: str, how: str, point: str) -> None:
    marker = repo / "held"
    marker.unlink(missing_ok=True)
    # SHELL=/bin/sh: DVC runs a stage through `$SHELL -c`, and dash (Debian's sh, what a CI
    # runner without SHELL gets) stays between DVC and the stage where bash would exec it,
    # so the stage's parent outlives a killed `dvc`: the harder case for sigterm-dvc.
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "REASONMED_HOLD": point,
           "REASONMED_HOLD_MARKER": str(marker), "SHELL": "/bin/sh"}
    log = open(repo.parent / "interrupted.log", "w+")
    # SIGINT back to its default in the run, as a terminal's Ctrl-C finds it: a suite started
    # in the background (`make test &`, nohup) hands every child SIGINT ignored, and Python
    # keeps an ignored SIGINT ignored, so the "Ctrl-C" would never arrive.
    proc = subprocess.Popen(["dvc", "repro", stage], cwd=repo, env=env, start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 240
        while not marker.exists():
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                log.seek(0)
                raise AssertionError(f"never reached {point}:\n{log.read()[-3000:]}")
            time.sleep(0.1)
        time.sleep(0.2)
        worker = int(marker.read_text().split()[0])
        if how == "kill-worker":
            os.kill(worker, signal.SIGKILL)
        elif how == "kill-tree":
            os.killpg(proc.pid, signal.SIGKILL)
        elif how == "sigterm-dvc":
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"{how} at {point}: the run did not stop") from None
        left = time.time() + 60  # a stopped stage takes its children with it
        while (alive := group(proc.pid)) and time.time() < left:
            time.sleep(0.5)
        log.seek(0)
        err = log.read()
        assert proc.returncode != 0, f"{how} at {point}: the interrupted run claims success"
        if how in ("sigint", "sigterm-dvc"):
            assert not alive, f"{how} at {point}: left behind {alive}"
            assert "Traceback" not in err, err[-3000:]
            assert re.search(r"^\w+: stopped by SIG(INT|TERM)\b.*`dvc repro` resumes$", err, re.M), \
                err[-3000:]
    finally:  # a failed cell leaves nothing running into the next one
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def group(pgid: int) -> list[str]:
    """Live processes of a process group (the run's: it started its own session)."""
    out = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if line.split()[0] == str(pgid) and not line.split()[1].startswith("Z")]


# CI runs four cells: the whole tree SIGKILLed mid-batch in generate (a partly warm cache
# must not change the rest), `kill <dvc>` mid-batch in generate (the fan-out must stop
# Snakemake's jobs with no signal from DVC), Ctrl-C mid-batch in verify (no lock or
# incomplete-file error after it) and Ctrl-C in verify's exit hooks (exit non-zero, no
# traceback); the other 28 are marked exhaustive (`make test-all`): each cell costs about
# a minute of model-loading runs.
PT = {"start": 0, "mid-batch": 1, "before-output": 2, "after-main": 3}
CI_CELLS = {("generate", "mid-batch", "kill-tree"), ("verify", "mid-batch", "sigint"),
            ("generate", "mid-batch", "sigterm-dvc"), ("verify", "after-main", "sigint")}
CELLS = [pytest.param(stage, PT[point], how, id=f"{stage}-{point}-{how}",
                      marks=() if (stage, point, how) in CI_CELLS else pytest.mark.exhaustive)
         for stage in OUTS for point in PT for how in SIGNALS]


@pytest.mark.slow
@pytest.mark.parametrize("stage, point, how", CELLS)
def test_interrupted_stage_resumes_to_the_same_bytes(repo, stage, point, how):
    dst, reference = repo
    reset(dst, stage)
    interrupt(dst, stage, how, POINTS[stage][point])
    sh("dvc", "repro", cwd=dst)  # plain: no unlock, no --rerun-incomplete by hand
    assert md5s(dst, stage) == reference[stage]
    assert up_to_date(dst)
    stray = [str(p.relative_to(dst)) for p in dst.rglob(".*.tmp")
             if not {".git", ".dvc"} & set(p.relative_to(dst).parts)]
    assert not stray, f"temp files left behind: {stray}"

"""Shared fixtures: offline env, a session-wide set of tiny models, the real benchmark files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def sh(*cmd, cwd, check=True, env=None):
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and r.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def clone_like(dst: Path, edit=None) -> Path:
    """A fresh clone-like copy (tracked + untracked-not-ignored files) of the repo at `dst`,
    committed, after `edit(dst)` when given (a smaller variant for a test)."""
    files = sh("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    if edit is not None:
        edit(dst)
    sh("git", "init", "-q", cwd=dst)
    commit(dst, "init")
    return dst


def commit(repo: Path, msg: str) -> None:
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", msg, "--allow-empty",
       cwd=repo)


@pytest.fixture(scope="session")
def default_repo(tmp_path_factory):
    """A fresh copy of the default after one full `dvc repro`, committed; the params keys
    every stage read are traced. (repo, trace file, repro output). Tests that change it put
    it back (git checkout) unless they run last (tests/test_pipeline.py)."""
    dst = clone_like(tmp_path_factory.mktemp("repo"))
    trace = tmp_path_factory.mktemp("trace") / "params-trace.tsv"
    r = sh("dvc", "repro", cwd=dst, env={"REASONMED_TRACE_PARAMS": str(trace)})
    commit(dst, "repro")
    return dst, trace, r


def benchmarks_dir() -> Path | None:
    """../shared/data/benchmarks (or $REASONMED_BENCHMARKS); None when absent outside CI."""
    p = Path(os.environ.get("REASONMED_BENCHMARKS", ROOT.parent / "shared/data/benchmarks"))
    if p.is_dir():
        return p
    if os.environ.get("CI") == "true" and not os.environ.get("REASONMED_BENCHMARKS_OPTIONAL"):
        pytest.fail(f"real benchmark data missing at {p}: under CI these tests must run")
    return None


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    p = benchmarks_dir()
    if p is None:
        pytest.skip("real benchmark data not found (set REASONMED_BENCHMARKS or place ../shared)")
    return p


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """Two tiny Llama models built by the `models` stage's builder (no warm-up: speed)."""
    from reasonmed.tinymodels import Params, build_tiny

    out = tmp_path_factory.mktemp("models")
    p = Params(corpus=str(ROOT / "assets/corpus.txt"), vocab_size=512, pretrain_steps=0)
    corpus, tok = (ROOT / "assets/corpus.txt").read_text()[:40000], None
    for role, seed in (("agent", 1), ("judge", 2)):
        tok = build_tiny(out / role, {"seed": seed, "hidden_size": 64, "num_attention_heads": 2},
                         p, corpus, tokenizer=tok)
    return {r: str(out / r) for r in ("agent", "judge")}

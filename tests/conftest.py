"""Shared fixtures: offline env, a session-wide set of tiny models, the real benchmark files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import reasonmed  # noqa: F401  pins the CPU kernels' instruction set before torch loads

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


_BUILDS: list[Path] = []


def model_builds() -> Path:
    """The tiny-model build cache every copy of the repo shares in this session.

    The models stage memoises each build by content (.cache/models/<key>: the role's build
    spec, models_build, the corpus and the builder's code), so a hit is the same bytes as a
    build. Seeded from the workspace's own cache when it has one (CI runs `make repro`
    first); the request cache is never shared, so every copy generates for real."""
    if not _BUILDS:
        import atexit
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="reasonmed-model-builds-"))
        atexit.register(shutil.rmtree, d, True)
        if (ROOT / ".cache/models").is_dir():
            shutil.copytree(ROOT / ".cache/models", d, dirs_exist_ok=True, symlinks=True)
        _BUILDS.append(d)
    return _BUILDS[0]


def clone_like(dst: Path, edit=None) -> Path:
    """A fresh clone-like copy (tracked + untracked-not-ignored files) of the repo at `dst`,
    committed, after `edit(dst)` when given (a smaller variant for a test); its
    .cache/models is the session's shared build cache (model_builds)."""
    files = sh("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    (dst / ".cache").mkdir(exist_ok=True)
    (dst / ".cache/models").symlink_to(model_builds(), target_is_directory=True)
    if edit is not None:
        edit(dst)
    sh("git", "init", "-q", cwd=dst)
    commit(dst, "init")
    return dst


def up_to_date(repo: Path) -> bool:
    """`dvc status` names nothing but the pre-flight, which dvc.yaml marks always changed (it
    runs first on every repro and writes the same bytes when it passes)."""
    import json

    out = json.loads(sh("dvc", "status", "--json", cwd=repo).stdout or "{}")
    return {k: v for k, v in out.items() if v != ["always changed"]} == {}


def stages_run(dvc_output: str) -> set[str]:
    """Stages a `dvc repro` / `dvc exp run` output says it ran, the pre-flight left out (it
    runs every time)."""
    import re

    return set(re.findall(r"Running stage '([^']+)'", dvc_output)) - {"preflight"}


def upstream(stages: dict, target: str) -> list[str]:
    """`target` and the stages whose outputs it depends on, in dvc.yaml order."""
    def paths(entries):
        return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]

    owner = {o: name for name, st in stages.items()
             for k in ("outs", "metrics", "plots") for o in paths(st.get("do", st).get(k))}
    need, todo = set(), [target]
    while todo:
        name = todo.pop()
        if name in need:
            continue
        need.add(name)
        for d in paths(stages[name].get("do", stages[name]).get("deps")):
            todo += [st for o, st in owner.items()
                     if d == o or d.startswith(o.rstrip("/") + "/") or o.startswith(d.rstrip("/") + "/")]
    return [name for name in stages if name in need]


def commit(repo: Path, msg: str) -> None:
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", msg, "--allow-empty",
       cwd=repo)


def smaller_default(dst: Path) -> None:
    """The default at a quarter of its questions and a third of its benchmark items, every
    stage, tier and table still present: the DAG's mechanics in less time (the full
    default's shapes are held by tests/test_default.py on the committed artifacts)."""
    sample = dst / "assets/questions_sample.jsonl"
    lines = sample.read_text().splitlines()
    sample.write_text("\n".join(lines[::4]) + "\n")  # 12 of 48, every benchmark style
    # Text edits, not a YAML dump: params.yaml keeps DVC's own layout, so the README's
    # `dvc exp run -S` still changes one line of it (tests/test_pipeline.py checks that).
    text = (dst / "params.yaml").read_text()
    for old, new in (("    limit: 24\n", "    limit: 8\n"), ("  sample_size: 30 ", "  sample_size: 8 ")):
        assert old in text, old
        text = text.replace(old, new)
    (dst / "params.yaml").write_text(text)


@pytest.fixture(scope="session")
def default_repo(tmp_path_factory):
    """A fresh copy of the (smaller) default after one full `dvc repro`, committed; the params keys
    every stage read are traced. (repo, trace file, repro output). Tests that change it put
    it back (git checkout) unless they run last (tests/test_pipeline.py)."""
    dst = clone_like(tmp_path_factory.mktemp("repo"), edit=smaller_default)
    trace = tmp_path_factory.mktemp("trace") / "params-trace.tsv"
    r = sh("dvc", "repro", cwd=dst, env={"REASONMED_TRACE_PARAMS": str(trace)})
    commit(dst, "repro")
    return dst, trace, r


def write_benchmarks(params: Path, folder: Path) -> Path:
    """What the benchmark stages write for `params` (collect and evaluate read it); relative
    benchmark paths are the repository's."""
    from reasonmed.core.params import read_params
    from reasonmed.core.records import JsonlWriter, Question
    from reasonmed.ingest.benchmarks import KIND, normalise

    for name in read_params(params)["benchmarks"]:
        spec = KIND.spec_of(name, str(params))
        if spec.kind == "local" and not Path(spec.path).is_absolute():
            spec = spec.model_copy(update={"path": str(ROOT / spec.path)})
        with JsonlWriter(folder / f"{name}.jsonl") as w:
            w.write_all(r for r in normalise(name, spec) if isinstance(r, Question))
    return folder


def benchmarks_dir() -> Path | None:
    """The full public benchmark files: the folder $REASONMED_BENCHMARKS names, or None (the
    tests that need them skip, whatever CI says: a clone has only the shipped copies)."""
    folder = os.environ.get("REASONMED_BENCHMARKS")
    return Path(folder) if folder and Path(folder).is_dir() else None


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    p = benchmarks_dir()
    if p is None:
        pytest.skip("the full benchmark files are not here: set REASONMED_BENCHMARKS to their folder")
    return p


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """Two tiny Llama models built by the `models` stage's builder (no warm-up: speed)."""
    from reasonmed.method.tinymodels import Params, build_tiny

    out = tmp_path_factory.mktemp("models")
    p = Params(corpus=str(ROOT / "assets/corpus.txt"), vocab_size=512, pretrain_steps=0)
    corpus, tok = (ROOT / "assets/corpus.txt").read_text()[:40000], None
    for role, seed in (("agent", 1), ("judge", 2)):
        tok = build_tiny(out / role, {"seed": seed, "hidden_size": 64, "num_attention_heads": 2},
                         p, corpus, tokenizer=tok)
    return {r: str(out / r) for r in ("agent", "judge")}



# Test files that run together on one pytest-xdist worker (`make test` runs two), in file
# order, as a serial run has them: those sharing the one full-DAG copy (default_repo: about
# six minutes to build, so once; test_pipeline leaves it changed and test_remote puts it
# back), and those running dvc in the workspace itself (plots, experiments, artifact diffs:
# two DVC commands there would meet on its lock). tests/test_wiring.py checks the first
# list against the tests that use the fixture.
GROUPS = {
    "default_repo": ("tests/test_exec_knobs.py", "tests/test_mutations.py",
                     "tests/test_pipeline.py", "tests/test_remote.py"),
    "workspace_dvc": ("tests/test_plots.py", "tests/test_results.py"),
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Each GROUPS entry is one unit of work for one worker; every other test is its own.
    (pytest-xdist's `--dist loadgroup` marks do not take on pytest 9, whose node ids no
    longer come from the attribute xdist rewrites; a scheduler's scopes are xdist's API.)"""
    from xdist.scheduler import LoadScopeScheduling

    class Grouped(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return next((g for g, files in GROUPS.items() if path in files), nodeid)

    return Grouped(config, log)


def pytest_collection_modifyitems(config, items):
    """On an xdist worker, the default_repo group first: the longest unit starts at once
    on one worker while the other takes everything else (the same order on every worker,
    as xdist requires)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        first = set(GROUPS["default_repo"])
        items.sort(key=lambda i: str(i.path.relative_to(ROOT)) not in first)  # stable

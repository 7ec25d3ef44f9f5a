"""An edit reruns exactly what it changes, and a rerun of the edited stage changes its output.

On a fresh copy of the default after one full `dvc repro` (conftest's `default_repo`,
traced: every params key each stage read is recorded):

- every module of the project, edited (a comment appended): `dvc status` names exactly the
  stages whose import closure holds it;
- every stage's prompt file, and one params key every stage reads: `dvc status` names
  exactly the stages that read it (by the trace of the real run, not by dvc.yaml);
- every execution knob under `exec`: `dvc status` names nothing;
- a prompt edit, then `dvc repro --single-item <stage>`: the stage's output changes (and for
  generate every path carries the new prompt's hash: no stale shard is reassembled).

The downstream stages follow by DVC's own rule (their input artifact changed), which the
e2e tests exercise (learning rate, summarizer prompt).
"""

import contextlib
import hashlib
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from reasonmed.core.params import read_params
from reasonmed.core.records import content_hash
from reasonmed.ops.wiring import ROLE_KEYS, code_deps, covers, render_stages, roles_of
from tests.conftest import ROOT, sh, stages_run, up_to_date

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
PARAMS = read_params(ROOT / "params.yaml")
# The pre-flight runs on every repro and writes the same bytes when it passes: no edit makes
# it "rerun" anything, so it is left out of every rerun set here (tests/test_preflight.py).
STAGES = [s for s in DVC if not DVC[s].get("always_changed")]
# One output per stage whose bytes a prompt edit must change.
PRIMARY = {"generate": "data/generate/paths.jsonl", "verify": "data/verify/verdicts.jsonl",
           "rank": "data/rank/scores.jsonl", "refine": "data/refine/chosen.jsonl",
           "optimize": "data/optimize/chosen.jsonl", "summarize": "data/summarize/summaries.jsonl",
           "score": "data/score/scores.jsonl", "evaluate": "data/evaluate/base/predictions.jsonl"}
SINGLE = {"evaluate": "evaluate@base"}
# A key each stage reads, and a new value for it.
KNOBS = {"models": ("models_build.pretrain_steps", 41), "collect": ("collect.dedup.threshold", 0.81),
         "generate": ("generate.top_p", 0.91), "verify": ("verify.top_p", 0.94),
         "route": ("route.unparsed", "unrouted"), "rank": ("rank.k", 3),
         "refine": ("refine.top_p", 0.91), "optimize": ("optimize.top_p", 0.99),
         "summarize": ("summarize.top_p", 0.94), "assemble": ("assemble.path_provenance", False),
         "score": ("score.sample_size", 29), "sft": ("sft.config.weight_decay", 0.11),
         "evaluate": ("evaluate.top_p", 0.91), "report": ("report.dpi", 121),
         "benchmark": ("benchmarks.medqa.limit", 23),
         "external": ("external.medical_o1_demo.split", "demo2"),
         "explore": ("explore.page_size", 49), "lmeval": ("lmeval.mc_prefix", "Answer:"),
         "rl": ("rl.format_weight", 0.3)}


_PARSED: dict = {}


def _load_params_once(path, fs, **kwargs):
    """DVC's params loader, parsing a file once per (path, mtime, size): `dvc status` reads
    params.yaml again for each of the 27 stages (ruamel round-trip, ~0.2 s a time), which is
    most of a status call. Same bytes, same parse; a copy, so no caller shares state."""
    import copy

    from dvc.utils.serialize import load_path

    st = os.stat(path)
    key = (str(path), st.st_mtime_ns, st.st_size, tuple(sorted(kwargs.items())))
    if key not in _PARSED:
        _PARSED[key] = load_path(path, fs, **kwargs)
    return copy.deepcopy(_PARSED[key])


def status(repo: Path) -> set[str]:
    """Stages `dvc status` names (in-process: no interpreter start per call)."""
    from unittest import mock

    import dvc.dependency.param
    from dvc.repo import Repo

    with mock.patch.object(dvc.dependency.param, "load_path", _load_params_once), \
            Repo(str(repo)) as r:  # names are "<dvc.yaml path>:<stage>[@item]" off the cwd
        names = {name.rsplit(":", 1)[-1].split("@")[0] for name in r.status()}
        return names & set(STAGES)  # not the pre-flight: it runs on every repro


def reads(trace: Path) -> dict[str, set[str]]:
    """stage -> params keys its process read in the fixture's run (the trace)."""
    out: dict[str, set[str]] = defaultdict(set)
    for line in trace.read_text().splitlines():
        script, key = line.split("\t")
        out[Path(script).stem].add(key)
    return out


def reads_key(keys: set[str], key: str) -> bool:
    return any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in keys)


def set_param(repo: Path, key: str, value) -> None:
    p = read_params(repo / "params.yaml")
    d = p
    *head, last = key.split(".")
    for part in head:
        d = d[part]
    d[last] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


def restore(repo: Path, check: bool = True) -> None:
    # from HEAD, not the index: DVC stages dvc.lock itself (core.autostage in .dvc/config)
    sh("git", "checkout", "HEAD", "--", ".", cwd=repo)
    if check:
        assert status(repo) == set()


@pytest.fixture(scope="module")
def traced(default_repo):
    repo, trace, _ = default_repo
    restore(repo)
    return repo, reads(trace)


def declared(repo: Path) -> dict[str, set[str]]:
    """stage -> the dep paths DVC resolved for it (foreach items folded into their stage)."""
    from dvc.repo import Repo

    out: dict[str, set[str]] = defaultdict(set)
    with Repo(str(repo)) as r:
        for st in r.index.stages:
            name = st.name.split("@")[0]
            if name in STAGES:
                out[name] |= {os.path.relpath(d.fs_path, repo) for d in st.deps}
    return out


def importers(repo: Path) -> dict[str, frozenset[str]]:
    """module -> the stages whose import closure holds it (what an edit of it must rerun)."""
    modules = sorted(str(p.relative_to(repo)) for d in ("reasonmed", "stages")
                     for p in (repo / d).rglob("*.py"))
    return {m: frozenset(s for s in STAGES if covers(code_deps(s, root=repo), m))
            for m in modules}


def edit_each(repo: Path, modules, expected) -> dict:
    """Append a comment to each module in turn; what `dvc status` names against `expected`."""
    wrong = {}
    for m in modules:
        with open(repo / m, "a") as f:
            f.write("\n# edited by the mutation test\n")
        got = status(repo)
        restore(repo, check=False)  # before asserting: a failure must not leak into the next
        if got != expected[m]:
            wrong[m] = {"extra": sorted(got - expected[m]), "missing": sorted(expected[m] - got)}
    return wrong


@pytest.mark.slow
def test_module_edits_rerun_exactly_the_stages_that_import_them(traced):
    """Every module against the dep paths DVC itself resolved (no stage misses a module it
    imports, none lists one it does not), then one module of each distinct importer set
    edited for real: `dvc status` names exactly those stages. DVC decides from the dep
    paths alone, so the modules of one set behave alike (the next test edits every one)."""
    repo, _ = traced
    expected, deps = importers(repo), declared(repo)
    wrong = {}
    for m, want in expected.items():
        got = {s for s in STAGES if covers(sorted(deps[s]), m)}
        if got != want:
            wrong[m] = {"extra": sorted(got - want), "missing": sorted(want - got)}
    assert not wrong, wrong
    one_each = {want: m for m, want in reversed(list(expected.items()))}.values()
    assert not (wrong := edit_each(repo, one_each, expected)), wrong
    assert status(repo) == set()


@pytest.mark.slow
@pytest.mark.exhaustive
def test_every_module_edit_reruns_exactly_its_importers(traced):
    repo, _ = traced
    expected = importers(repo)
    assert not (wrong := edit_each(repo, expected, expected)), wrong
    assert status(repo) == set()


@pytest.mark.slow
def test_prompt_and_param_edits_rerun_exactly_their_readers(traced):
    repo, seen = traced
    for stage in STAGES:
        key, value = KNOBS[stage]
        assert reads_key(seen[stage], key), f"{stage} never read {key}: pick another knob"
        set_param(repo, key, value)
        try:
            assert status(repo) == {s for s in STAGES if reads_key(seen[s], key)}, key
        finally:
            restore(repo, check=False)
    # the torch thread count shapes bytes (a parallel sum's order), so it is hashed: every
    # stage that computes with torch reruns, as the trace says
    set_param(repo, "run.threads", 1)
    try:
        assert status(repo) == {s for s in STAGES if reads_key(seen[s], "run.threads")}
        assert {"sft", "evaluate", "verify"} <= status(repo)
    finally:
        restore(repo, check=False)
    prompts = {PARAMS[s]["prompt"]: s for s in PARAMS if isinstance(PARAMS[s], dict)
               and "prompt" in PARAMS[s]}
    for prompt, section in prompts.items():
        with open(repo / prompt, "a") as f:
            f.write("\nBe brief.\n")
        readers = {s for s in STAGES if section in seen[s] or f"{section}.prompt" in seen[s]}
        try:
            assert status(repo) == readers, prompt
        finally:
            restore(repo, check=False)


@pytest.mark.slow
def test_execution_knobs_rerun_nothing(traced):
    repo, _ = traced
    p = read_params(repo / "params.yaml")
    ex = p["exec"]
    ex.update(workers=1, progress_every_s=1, log_level="DEBUG")
    ex["generate"].update(shards=3, snakemake="--cores 1")
    for stage, knobs in ex.items():
        if stage in DVC and stage != "generate":
            ex[stage] = {k: 3 for k in knobs}
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    try:
        assert status(repo) == set()
        # ...and a repro reruns nothing either (the Snakemake shards are keyed without them).
        assert stages_run(sh("dvc", "repro", cwd=repo).stdout) == set()
    finally:
        restore(repo, check=False)


# CI reruns generate (the stale-shard case) and summarize; the other six are exhaustive
# (`make test-all`): each is one model-loading stage run.
CI_PROMPTS = {"generate", "summarize"}


@pytest.mark.slow
@pytest.mark.parametrize("stage", [pytest.param(s, marks=() if s in CI_PROMPTS else pytest.mark.exhaustive)
                                   for s in sorted(PRIMARY)])
def test_a_prompt_edit_changes_the_stage_output(traced, stage):
    repo, _ = traced
    out = repo / PRIMARY[stage]
    before = hashlib.md5(out.read_bytes()).hexdigest()
    prompt = repo / PARAMS[stage]["prompt"]
    prompt.write_text(prompt.read_text().rstrip() + "\nAnswer as briefly as you can.\n")
    try:
        sh("dvc", "repro", "--single-item", SINGLE.get(stage, stage), cwd=repo)
        assert hashlib.md5(out.read_bytes()).hexdigest() != before
        if stage == "generate":
            new = content_hash(prompt.read_text(encoding="utf-8"))
            hashes = {json.loads(line)["prompt_hash"] for line in out.read_text().splitlines()}
            assert hashes == {new}, "paths still carry the old prompt's hash"
    finally:
        # Put the prompt back and the outputs with it, from DVC's cache (no model load: the
        # forced-rerun test in test_pipeline shows a rerun re-asks nothing).
        restore(repo, check=False)
        sh("dvc", "checkout", "--force", cwd=repo)
    assert hashlib.md5(out.read_bytes()).hexdigest() == before
    assert up_to_date(repo)


@pytest.mark.slow
def test_role_keys_are_what_each_stage_reads(traced):
    # reasonmed.ops.wiring.ROLE_KEYS (the params keys naming a stage's roles, which the
    # pre-flight check compares with dvc.yaml) against the models.<role> keys each stage
    # really read in the traced run
    repo, seen = traced
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    params = read_params(repo / "params.yaml")
    for name in render_stages(dvc, params):
        base = name.split("@")[0]
        if base in ROLE_KEYS:
            read = {k.split(".", 1)[1] for k in seen[base] if k.startswith("models.")}
            assert read == set(roles_of(name, params)), name


@contextlib.contextmanager
def put_back(repo: Path):
    """Whatever the block edits or reruns, the repo is its commit again afterwards: files
    from HEAD, outputs from DVC's cache (no model load)."""
    try:
        yield
    finally:
        restore(repo, check=False)
        sh("dvc", "checkout", "--force", cwd=repo)


def run_log(repo: Path, job: str) -> dict:
    return json.loads((repo / "work/runs" / f"{job}.json").read_text())


@pytest.mark.slow
def test_an_edit_of_completion_code_asks_the_model_again(traced):
    # The request cache keys on the code that computes a completion (the backend's import
    # closure): after an edit, a rerun asks every request again instead of replaying what
    # the old code computed. A comment changes no behaviour, so the bytes are the same.
    repo, _ = traced
    out = repo / "data/summarize/summaries.jsonl"
    before = hashlib.md5(out.read_bytes()).hexdigest()
    with open(repo / "reasonmed/llm/backends/hf.py", "a") as f:
        f.write("\n# edited by the mutation test\n")
    with put_back(repo):
        sh("dvc", "repro", "--single-item", "summarize", cwd=repo)
        log = run_log(repo, "summarize")
        assert log["cache_hits"] == 0 and log["model_calls"] > 0, log
        assert hashlib.md5(out.read_bytes()).hexdigest() == before


@pytest.mark.slow
def test_a_warm_cache_after_a_behaviour_edit_writes_what_a_cold_cache_does(traced):
    # The converse of "a rerun makes no call": new sampling code (the counter-hash constant,
    # which changes every sampled token) with the old completions in the cache must write
    # what the same code writes with no cache at all, never the old output.
    repo, _ = traced
    out = repo / "data/optimize/chosen.jsonl"
    before = out.read_bytes()
    f = repo / "reasonmed/llm/sampling.py"
    text = f.read_text()
    assert "0x9E3779B1" in text
    f.write_text(text.replace("0x9E3779B1", "0x9E3779B7"))
    with put_back(repo):
        sh("dvc", "repro", "--single-item", "optimize", cwd=repo)
        warm = out.read_bytes()
        assert run_log(repo, "optimize")["model_calls"] > 0
        set_param(repo, "exec.cache", ".cache/llm-cold")  # an empty cache (exec: no rerun)
        sh("dvc", "repro", "--force", "--single-item", "optimize", cwd=repo)
        shutil.rmtree(repo / ".cache/llm-cold")
        assert out.read_bytes() == warm, "a warm cache replayed completions of the old code"
        assert warm != before


@pytest.mark.slow
def test_a_hand_edited_shard_is_regenerated_not_gathered(traced):
    repo, _ = traced
    out = repo / "data/generate/paths.jsonl"
    before = out.read_bytes()
    # this key's shards (an earlier prompt-edit test pruned them): from the cache
    sh("dvc", "repro", "--force", "--single-item", "generate", cwd=repo)
    assert out.read_bytes() == before
    shard = next(f for f in sorted((repo / "work/generate").glob("agent1/*/*of*.jsonl"))
                 if f.stat().st_size)  # (a shard with no whole window is empty)
    rows = shard.read_text().splitlines()
    row = json.loads(rows[0])
    row["cot"] = "edited by hand"
    shard.write_text("\n".join([json.dumps(row), *rows[1:]]) + "\n")
    with put_back(repo):
        r = sh("dvc", "repro", "--force", "--single-item", "generate", cwd=repo)
        assert "regenerating it" in r.stdout + r.stderr
        assert out.read_bytes() == before, "the hand-edited row reached paths.jsonl"
        assert "edited by hand" not in shard.read_text()


@pytest.mark.slow
def test_a_role_switched_by_params_is_followed_by_its_deps(traced):
    # rank.model: ranker -> agent2. After the switch, an edit of models.agent2 reruns rank;
    # an edit of the ranker's spec no longer does
    repo, _ = traced
    set_param(repo, "rank.model", "agent2")
    with put_back(repo):
        assert "rank" in status(repo)
        sh("dvc", "repro", "--single-item", "rank", cwd=repo)
        assert "rank" not in status(repo)
        set_param(repo, "models.agent2.options.batch_size", 47)
        assert "rank" in status(repo)
        set_param(repo, "models.agent2.options.batch_size", 48)
        set_param(repo, "models.ranker.options.batch_size", 31)
        assert "rank" not in status(repo)


@pytest.mark.slow
def test_swapping_the_weights_of_a_local_model_folder_reruns_its_consumers(traced, tmp_path):
    from reasonmed.ops.wiring import sync_dvc_yaml

    repo, _ = traced
    ext = tmp_path / "judge"
    shutil.copytree(repo / "models/verifier", ext)
    set_param(repo, "models.ranker.model", str(ext))
    with put_back(repo):
        assert sync_dvc_yaml(repo / "dvc.yaml", repo)  # the folder becomes a dep of models
        sh("dvc", "repro", "--single-item", "models", cwd=repo)
        sh("dvc", "repro", "--single-item", "rank", cwd=repo)
        assert not {"models", "rank"} & status(repo)  # (downstream: rank's records moved)
        # other weights, same file names and sizes: the agent's model in the judge's folder
        shutil.copy(repo / "models/agent1/model.safetensors", ext / "model.safetensors")
        st = status(repo)
        assert "models" in st and "rank" not in st  # rank follows once models rehashes
        sh("dvc", "repro", "--single-item", "models", cwd=repo)
        assert "rank" in status(repo)

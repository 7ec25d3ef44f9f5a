"""Execution knobs are execution-only, proved by bytes.

A key belongs under `exec` only if a cold run with it changed writes byte-identical
outputs. `dvc status` cannot tell (no exec key is a DVC param, so it always says clean):
only a run can. Here one cold run of the whole (smaller) default with **every** exec key
changed at once (shards, Snakemake cores, cache folder, offline, log level, progress
interval, failure budget) must write the dvc.lock of the reference cold run: every
output's hash, metrics and plots included. The per-knob runs (`make test-all`) say which
knob broke it when that fails. `exec.workers` (parallel model builds) is proved on builds
of its own, as the shared build cache would otherwise answer. This test is how batch sizes
and per-stage chunking left `exec`: with them changed, one evaluation prediction moved (an
hf row's float arithmetic follows its batch-mates), so they are hashed now.

    python -m pytest tests/test_exec_knobs.py
"""

import shutil
from pathlib import Path

import pytest
import yaml

from reasonmed.core.params import read_params
from tests.conftest import ROOT, clone_like, commit, sh, smaller_default

# What every exec key becomes. A key missing here fails the test: a new knob must be
# proved too. Not here, because they change bytes and are hashed instead: the torch thread
# count (run.threads, options.threads), an hf role's batch_size (options) and each stage's
# requests per backend call (verify.batch_paths, generate.batch_questions, ...), which
# decide which requests share an hf batch (reasonmed/llm/client.py: plan_batches).
CHANGED = {
    "cache": ".cache/llm-other", "offline": False, "workers": 1, "progress_every_s": 1,
    "log_level": "DEBUG", "max_failure_rate": 0.5,
    "generate.shards": 3, "generate.snakemake": "--cores 1",
}


def leaves(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        out += leaves(v, key + ".") if isinstance(v, dict) else [key]
    return out


def pattern(key: str) -> str:
    parts = key.split(".")
    return "roles.*." + parts[-1] if parts[0] == "roles" else key


def change(params: dict, only: set[str] | None = None) -> list[str]:
    """Set every exec leaf (or those whose pattern is in `only`) to its CHANGED value;
    returns the keys changed. A leaf with no CHANGED entry raises."""
    ex = params["exec"]
    done = []
    for key in leaves(ex):
        pat = pattern(key)
        if pat not in CHANGED:
            raise AssertionError(f"exec.{key} has no changed value in CHANGED: prove it too")
        if only is not None and pat not in only:
            continue
        node = ex
        *head, last = key.split(".")
        for part in head:
            node = node[part]
        assert node[last] != CHANGED[pat], f"exec.{key} already has the changed value"
        node[last] = CHANGED[pat]
        done.append(key)
    params["exec"].setdefault("max_failure_rate", CHANGED["max_failure_rate"])
    return done


def outputs_of(lock: Path | str) -> dict[str, str]:
    """Every out of every stage in a dvc.lock (a path, or its text): path -> md5."""
    stages = yaml.safe_load(lock.read_text() if isinstance(lock, Path) else lock)["stages"]
    return {o["path"]: o["md5"] for st in stages.values() for o in st.get("outs", [])}


TARGETS = ("evaluate@reasonmed", "score")


def test_every_exec_key_of_the_default_has_a_changed_value():
    # the run below changes every key the default sets; a new one must join CHANGED
    assert len(change(read_params(ROOT / "params.yaml"))) >= len(CHANGED) - 1
    params = read_params(ROOT / "params.yaml")
    params["exec"]["roles"] = {"verifier": {"batch_size": 3}}
    with pytest.raises(AssertionError, match="roles.verifier.batch_size"):
        change(params)  # an unproved knob is refused


@pytest.mark.slow
def test_a_cold_run_with_every_exec_knob_changed_writes_the_same_bytes(default_repo, tmp_path_factory):
    ref, _, _ = default_repo

    def edit(dst: Path) -> None:
        smaller_default(dst)
        (dst / "dvc.lock").unlink()  # only what this run writes (the committed one is the full default's)
        p = read_params(dst / "params.yaml")
        change(p)
        (dst / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))

    dst = clone_like(tmp_path_factory.mktemp("knobs"), edit=edit)
    # Every stage kind an exec knob touches (the fan-out, each LLM stage, a fine-tune and
    # an evaluation of it, the models' copy from the build cache): the other five evaluation
    # rows, two fine-tunes and the report would only repeat them.
    sh("dvc", "repro", *TARGETS, cwd=dst)
    # the reference run as committed (a later test may apply an experiment to its workspace)
    want = outputs_of(sh("git", "show", "HEAD:dvc.lock", cwd=ref).stdout)
    got = outputs_of(dst / "dvc.lock")
    assert len(got) > 30
    differ = sorted(k for k in got if want.get(k) != got[k])
    assert not differ, f"outputs that an exec knob changed: {differ}"


# One knob group at a time, each on the stages it touches, cold (no request cache): which
# knob changes bytes, when the all-at-once run says one does.
GROUPS = {
    "shards": ({"generate.shards", "generate.snakemake"}, ["generate"]),
    "logging": ({"progress_every_s", "log_level", "max_failure_rate"}, ["verify", "sft@cotmed"]),
}


@pytest.mark.slow
@pytest.mark.exhaustive
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_one_knob_group_cold_writes_the_same_bytes(default_repo, tmp_path_factory, group):
    ref, _, _ = default_repo
    only, stages = GROUPS[group]
    dst = tmp_path_factory.mktemp(f"knob-{group}") / "repo"
    sh("git", "clone", "-q", str(ref), str(dst), cwd=ref.parent)
    (dst / ".cache").mkdir()
    (dst / ".cache/models").symlink_to((ref / ".cache/models").resolve(), target_is_directory=True)
    shutil.copytree(ref / ".dvc/cache", dst / ".dvc/cache", symlinks=True)
    sh("dvc", "checkout", "--force", cwd=dst)
    p = read_params(dst / "params.yaml")
    change(p, only)
    (dst / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    commit(dst, group)
    for stage in stages:
        sh("dvc", "repro", "--force", "--single-item", stage, cwd=dst)
    want, got = outputs_of(ref / "dvc.lock"), outputs_of(dst / "dvc.lock")
    assert {k: got[k] for k in want if got.get(k) != want[k]} == {}, group


@pytest.mark.slow
def test_worker_count_never_changes_a_built_model(tmp_path):
    from reasonmed.core.params import ModelSpec
    from reasonmed.method import build
    from reasonmed.method.tinymodels import Params

    corpus = (ROOT / "assets/corpus.txt").read_text(encoding="utf-8")[:20000]
    p = Params(corpus="assets/corpus.txt", vocab_size=512, pretrain_steps=4, contract_steps=4,
               contract_documents=8, contract_batch_size=2)
    prompts = {"generate": str(ROOT / "stages/prompts/generate.md")}
    specs = {r: ModelSpec(backend="hf", model=f"models/{r}", build={
        "seed": s, "hidden_size": 64, "num_attention_heads": 2, "contracts": ["generate"]})
        for r, s in (("a", 1), ("b", 2))}
    folders = {}
    for workers in (1, 2):
        dests = {r: tmp_path / f"w{workers}" / r for r in specs}
        build.run(specs, p, corpus, "", prompts, dests, workers=workers)
        folders[workers] = {r: {f.name: f.read_bytes() for f in d.iterdir()} for r, d in dests.items()}
    assert folders[1] == folders[2]

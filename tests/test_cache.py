"""The request cache layout (one file per job, read-through) and the keys' model revisions."""

import multiprocessing as mp
import os

import pytest

from reasonmed.core.params import ModelSpec
from reasonmed.llm.cache import Cache, UnpinnedModel, folder_digest, resolve_revision
from reasonmed.llm.types import Completion


def test_each_job_writes_its_own_file_and_reads_the_others(tmp_path):
    a, b = Cache(tmp_path, "generate-agent1-0of2"), Cache(tmp_path, "verify")
    a.put_many([("k1", Completion("one", "stop", 1, 1))])
    b.put_many([("k2", Completion("two", "stop", 1, 1))])
    assert sorted(p.name for p in tmp_path.glob("*.sqlite")) == [
        "generate-agent1-0of2.sqlite", "verify.sqlite"]
    got = b.get_many(["k1", "k2", "k3"])
    assert {k: c.text for k, c in got.items()} == {"k1": "one", "k2": "two"}
    assert len(a) == 1 and len(b) == 1  # read-through never copies into the reader's file


def test_failed_completions_are_never_cached(tmp_path):
    c = Cache(tmp_path, "t")
    c.put_many([("bad", Completion("", "error", 0, 0, error="401")),
                ("ok", Completion("x", "stop", 1, 1))])
    assert set(c.get_many(["bad", "ok"])) == {"ok"}


def test_a_corrupted_row_is_a_miss_never_a_completion(tmp_path):
    c = Cache(tmp_path, "t")
    c.put_many([("k", Completion("right", "stop", 1, 1))])
    c.db.execute("UPDATE completions SET text = 'wrong' WHERE key = 'k'")
    assert Cache(tmp_path, "other").get_many(["k"]) == {}


def _writer(folder, job, n, q):
    c = Cache(folder, job)
    for i in range(n):
        c.put_many([(f"{job}-{i}", Completion(f"t{i}", "stop", 1, 1))])
        c.get_many([f"{j}-{i}" for j in ("w0", "w1", "w2", "w3")])  # read the others mid-write
    q.put(len(c))


def test_concurrent_jobs_share_a_folder_without_errors(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(tmp_path, f"w{k}", 200, q)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert sorted(q.get() for _ in procs) == [200] * 4
    got = Cache(tmp_path, "reader").get_many([f"w{k}-{i}" for k in range(4) for i in range(200)])
    assert len(got) == 800


def test_folder_digest_sees_every_byte_and_is_memoised(tmp_path, monkeypatch):
    m = tmp_path / "model"
    m.mkdir()
    (m / "config.json").write_text("{}")
    (m / "model.safetensors").write_bytes(b"\0" * (1 << 20))
    memo = tmp_path / "memo"
    d1 = folder_digest(m, memo)
    # Retrained weights with the same size and config: a new digest (no size-only shortcut).
    w = bytearray((m / "model.safetensors").read_bytes())
    w[123] = 1
    (m / "model.safetensors").write_bytes(bytes(w))
    d2 = folder_digest(m, memo)
    assert d1 != d2
    calls = []
    import reasonmed.llm.cache as cache_mod
    real = cache_mod._file_sha
    monkeypatch.setattr(cache_mod, "_file_sha", lambda p, *a: calls.append(p) or real(p, *a))
    assert folder_digest(m, memo) == d2 and calls == []  # memoised by (path, size, mtime)
    os.utime(m / "config.json", ns=(1, 1))
    assert folder_digest(m, memo) == d2 and [p.name for p in calls] == ["config.json"]


@pytest.mark.parametrize("spec,why", [
    (ModelSpec(backend="hf", model="Qwen/Qwen2.5-7B"), "no revision"),
    (ModelSpec(backend="vllm", model="Qwen/Qwen2.5-7B", revision="main"), "branch or tag"),
])
def test_unpinned_hub_models_are_refused(spec, why):
    with pytest.raises(UnpinnedModel, match=why):
        resolve_revision(spec)


def test_a_local_path_typo_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models/agent1").mkdir(parents=True)
    with pytest.raises(UnpinnedModel, match=r"not found: models/agnet1 .*models/agent1"):
        resolve_revision(ModelSpec(backend="hf", model="models/agnet1"))


def test_pinned_hub_and_api_models_resolve():
    sha = "a" * 40
    assert resolve_revision(ModelSpec(backend="vllm", model="org/m", revision=sha)) == sha
    assert resolve_revision(ModelSpec(backend="openai", model="gpt-4o")) == "api:gpt-4o"

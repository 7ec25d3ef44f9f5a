"""generate: reasoning markers, answer letters, seeds, shard/gather order, a real tiny run."""

from pathlib import Path

import pytest

from reasonmed.core.reasoning import split_reasoning
from reasonmed.core.records import CoTPath, JsonlWriter, Question, question_id
from reasonmed.core.seeds import path_seed
from reasonmed.method.answers import extract
from reasonmed.method.generation import Params, path_id, requests_for, run, shard_of
from reasonmed.ops.fanout import gather

P = Params(agents=["a1", "a2"], temperatures=[0.7, 0.9, 1.0], top_p=0.9, max_tokens=16,
           prompt="stages/prompts/generate.md")


def q(i: int) -> Question:
    opts = {"A": "gout", "B": f"asthma {i}", "C": "cystitis"}
    stem = f"Case {i}: wheeze. Diagnosis?"
    return Question(id=question_id(stem, opts), source="t", split="train", question=stem,
                    options=opts, answer="B", answer_text=opts["B"])


@pytest.mark.parametrize("text,cot,markers", [
    ("plain reasoning. Final answer: B", "plain reasoning. Final answer: B", []),
    ("<think>step 1\nstep 2</think>\nThe answer is B.", "step 1\nstep 2\n\nThe answer is B.", ["<think>"]),
    ("<think>cut off mid thought", "cut off mid thought", ["<think>"]),
    ("## Thinking\n\nwhy\n\n## Final Response\n\nB is right", "why\n\nB is right",
     ["## Final Response", "## Thinking"]),
    ("Alright\nLet me think. Answer: C", "Let me think. Answer: C", ["Alright"]),
    ("</think>stray close", "stray close", ["<think>"]),
])
def test_split_reasoning(text, cot, markers):
    assert split_reasoning(text) == (cot, markers)


@pytest.mark.parametrize("text,letter", [
    ("Final answer: B", "B"),
    ("so the answer is (c).", "C"),
    ("The answer is **D**", "D"),
    ("Answer: A. gout", "A"),
    ("A is wrong, B is wrong. Final answer: C", "C"),
    ("the answer is E", None),  # not among the options
    ("I am not sure.", None),
    ("Final answer: A ... on reflection the final answer is B", "B"),
    ("<think>If the answer is B, then ...", None),  # truncated inside the reasoning
    ("<think>the answer is B</think>Final answer: C", "C"),
])
def test_path_answer_is_the_strict_reading(text, letter):
    assert extract(text, "ABCD") == letter


def test_requests_cover_agents_temperatures_with_stable_seeds():
    rs = requests_for(q(1), "a1", P, run_seed=42)
    assert [r[-1].temperature for r in rs] == [0.7, 0.9, 1.0]
    assert len({r[-1].seed for r in rs}) == 3
    assert rs == requests_for(q(1), "a1", P, run_seed=42)
    assert rs[0][-1].seed != requests_for(q(1), "a1", P, run_seed=43)[0][-1].seed
    user = rs[0][-1].messages[-1][1]
    assert "A. gout" in user and "B. asthma 1" in user and "Final answer" in user


def test_shards_are_contiguous_and_complete():
    items = list(range(10))
    parts = [list(shard_of(iter(items), i, 3, 10)) for i in range(3)]
    assert sum(parts, []) == items


@pytest.mark.parametrize("window", [1, 3, 4, 12])
def test_the_shard_count_never_changes_which_questions_share_a_call(window):
    # a shard is a run of whole windows, and a backend call is one window: the calls (and
    # so an hf agent's batches) are the same for any number of shards
    from itertools import islice

    items = list(range(23))

    def calls(n_shards):
        out = []
        for i in range(n_shards):
            it = shard_of(iter(items), i, n_shards, len(items), window)
            while chunk := list(islice(it, window)):
                out.append(chunk)
        return out

    ref = calls(1)
    assert sum(ref, []) == items
    for n in range(2, 9):
        assert calls(n) == ref, n


def _path(qq, agent, slot):
    pid = path_id(qq.id, agent, slot, 0)
    return CoTPath(id=pid, question_id=qq.id, agent=agent, backend="hf", model="m", revision="r",
                   temperature=0.7, top_p=0.9, slot=slot, sample=0, seed=path_seed(1, pid),
                   prompt_hash="h", text="t", cot="t", markers=[], answer=None,
                   finish_reason="stop", prompt_tokens=1, completion_tokens=1)


def test_gather_orders_by_question_then_agent(tmp_path):
    qs = [q(i) for i in range(4)]
    files = {}
    for a in ("a1", "a2"):
        files[a] = []
        for s in range(2):
            f = tmp_path / f"{a}{s}.jsonl"
            with JsonlWriter(f) as w:
                w.write_all(_path(x, a, k) for x in shard_of(iter(qs), s, 2, 4) for k in range(2))
            files[a].append(f)
    out = list(gather(qs, files, ["a1", "a2"]))
    assert [(p.question_id, p.agent) for p in out][:4] == [
        (qs[0].id, "a1"), (qs[0].id, "a1"), (qs[0].id, "a2"), (qs[0].id, "a2")]
    assert len(out) == 16


@pytest.mark.slow
def test_real_tiny_agent_generates_nine_paths(tiny_models, tmp_path):
    from reasonmed.core.params import ModelSpec, RunParams
    from reasonmed.llm.client import LLM
    spec = ModelSpec(backend="hf", model=tiny_models["agent"])
    llm = LLM("agent", spec, RunParams(cache=str(tmp_path / "c.sqlite")), stage="generate")
    p = Params(**{**P.model_dump(), "agents": ["agent"], "samples_per_temperature": 3})
    paths = list(run([q(1), q(2)], llm, "agent", p, run_seed=7))
    assert len(paths) == 2 * 3 * 3 and len({x.id for x in paths}) == 18
    assert all(x.completion_tokens <= 16 and x.revision.startswith("sha256:") for x in paths)
    assert len({x.cot for x in paths}) > 9  # sampling differs across seeds/temperatures
    again = list(run([q(1), q(2)], llm, "agent", p, run_seed=7))
    assert [x.cot for x in again] == [x.cot for x in paths]
    assert llm.ledger.run_list()[0]["model_calls"] == 18  # the second run came from the cache


def test_a_shard_that_is_not_its_jobs_bytes_is_dropped(tmp_path, monkeypatch):
    # the shard job seals its file (sha256 beside it); an edited, torn or unsealed shard is
    # deleted before Snakemake runs, so it is regenerated instead of gathered
    from reasonmed.ops import fanout

    monkeypatch.chdir(tmp_path)
    params = {"generate": {"agents": ["a"], "prompt": "p.md"}, "run": {"seed": 1, "threads": 1},
              "models": {"a": {"backend": "openai", "model": "m"}},
              "exec": {"generate": {"shards": 3}}}
    layout = fanout.Layout(params, root=Path(__file__).resolve().parents[1])
    shards = [Path(p) for p in layout.shard_paths()["a"]]
    for i, s in enumerate(shards):
        s.parent.mkdir(parents=True, exist_ok=True)
        s.write_text(f'{{"id": "{i}"}}\n')
        s.with_suffix(".ledger.json").write_text("[]")
    fanout.seal(shards[0])
    fanout.seal(shards[1])
    assert fanout.shard_intact(shards[0]) and not fanout.shard_intact(shards[2])
    shards[1].write_text('{"id": "1", "cot": "edited by hand"}\n')
    assert layout.drop_mismatched() == [str(shards[1]), str(shards[2])]
    assert shards[0].exists() and not shards[1].exists() and not shards[2].exists()
    assert not shards[1].with_suffix(".ledger.json").exists()
    assert layout.drop_mismatched() == []


def test_snakemake_runs_quietly_and_a_failure_shows_its_job_log(tmp_path):
    """The fan-out's terminal shows its own overall line, not Snakemake's banners: the
    command silences progress, host and reason (job errors are kept), and a failure prints
    the captured output and the tail of each failed job's log."""
    from reasonmed.ops.fanout import failure_report, snakemake_cmd

    cmd = snakemake_cmd("q.jsonl", "data/generate", "params.yaml",
                        P.model_copy(update={"snakemake": "--cores 2"}))
    i = cmd.index("--quiet")
    assert cmd[i + 1:i + 4] == ["progress", "host", "reason"] and "rules" not in cmd
    assert cmd[-2:] == ["--", "data/generate/paths.jsonl"] and "--cores" in cmd
    job_log = tmp_path / "a1_k_0.log"
    job_log.write_text("".join(f"line {i}\n" for i in range(30)) + "sqlite3.OperationalError\n")
    out = ("Error in rule generate_shard:\n    output: x.jsonl\n"
           f"    log: {job_log}, {tmp_path}/absent.log (check log file(s) for error details)\n")
    report = failure_report(out, tail=3)
    assert report.startswith("Error in rule generate_shard:")
    assert report.endswith(f"--- {job_log} (last 3 lines) ---\nline 28\nline 29\n"
                           "sqlite3.OperationalError")


def test_the_fanout_line_sums_every_shard_and_waits_for_generation(tmp_path):
    import io

    from reasonmed.ops.fanout import FanoutProgress

    clock, out = [0.0], io.StringIO()
    fp = FanoutProgress("generate", tmp_path, 100, every_s=10, window_s=60, out=out,
                        already=10, clock=lambda: clock[0])
    fp.folder.mkdir(exist_ok=True)
    fp.progress.start(done=10)
    (tmp_path / "generate-agent1-0of2.progress").write_text("5 0\n")  # cache hits, loading
    clock[0] = 10.0
    fp.progress.start(*fp.read())
    (tmp_path / "generate-agent1-0of2.progress").write_text("5 0\n20 2000\n")
    (tmp_path / "generate-agent2-1of2.progress").write_text("10 1000\n3 ")  # a torn line waits
    clock[0] = 20.0
    fp.progress.set(*fp.read())
    assert out.getvalue() == "generate: 45/100 paths (45%) | 300.0 tok/s | ETA 00:00:18\n"

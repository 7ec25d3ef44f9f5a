"""RL after SFT (reasonmed/method/rl.py, rl_reward.py, stages/rl.py): the reward table, the
prompts, the params validation, and GRPO steps on the tiny model (slow)."""

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from reasonmed.core.records import Question, Route
from reasonmed.method.rl import Params, make_config, prompts
from reasonmed.method.rl_reward import answer_reward, format_reward
from tests.conftest import ROOT

OPTS = {"A": "Cystitis", "B": "Pyelonephritis", "C": "Urethritis", "D": "Vaginitis"}
LONG = "The patient has dysuria and frequency. " * 400  # ~16,000 characters of reasoning
# (completion, gold B: answer reward, format reward)
TABLE = [
    # a correct firm answer, in the forms the strict reader takes
    ("The answer is B.", 1, 1),
    ("The answer is B", 1, 1),
    ("the answer is b.", 1, 1),
    ("Answer: B", 1, 1),
    ("The final answer is (B).", 1, 1),
    ("The correct answer is **B**.", 1, 1),
    ("B", 1, 1),
    ("**B**", 1, 1),
    ("(B)", 1, 1),
    ("B. Pyelonephritis", 1, 1),
    ("The answer is Pyelonephritis.", 1, 1),
    ("The answer is pyelonephritis.", 1, 1),
    ("\\boxed{B}", 1, 1),
    ("I choose B.", 1, 1),
    ("Option B is correct.", 1, 1),
    ("B is the correct answer.", 1, 1),
    ("The most likely diagnosis is B.", 1, 1),
    ("## Thinking\n\nFever and flank pain.\n\n## Final Response\n\nThe answer is B.", 1, 1),
    ("<think>Fever and flank pain point upward.</think>\nThe answer is B.", 1, 1),
    ("<think>Maybe A? No.</think> Answer: B", 1, 1),
    ("Flank pain and fever. So the answer is B because of the fever.", 1, 1),
    (LONG + "The answer is B.", 1, 1),
    ("The answer is B.</s>", 1, 1),
    ("The answer is B.<|im_end|>", 1, 1),
    # a change of mind: the last firm statement decides
    ("The answer is A. Wait, actually the answer is B.", 1, 1),
    ("The answer is B. Wait, actually the answer is A.", 0, 1),
    ("The answer is not A; it is B.", 1, 1),
    # a wrong firm answer: well formed, not rewarded
    ("The answer is A.", 0, 1),
    ("The answer is C.", 0, 1),
    ("Answer: D", 0, 1),
    ("D", 0, 1),
    ("The answer is Cystitis.", 0, 1),
    ("## Thinking\n\nDysuria only.\n\n## Final Response\n\nThe answer is A.", 0, 1),
    # hedges and several letters: no answer
    ("The answer is A or B.", 0, 0),
    ("The answer is B or C.", 0, 0),
    ("The answer is B/C.", 0, 0),
    ("The answer is either B or C.", 0, 0),
    ("The answer is between B and C.", 0, 0),
    ("The answer is B (or possibly C).", 0, 0),
    ("The answer is B and C.", 0, 0),
    # tentative statements: no answer
    ("Maybe the answer is B.", 0, 0),
    ("Perhaps the answer is B, but I am not sure.", 0, 0),
    ("If the answer is B, the urine culture grows E. coli.", 0, 0),
    ("The answer is B?", 0, 0),
    ("The answer might be B.", 0, 0),
    # no answer at all
    ("", 0, 0),
    ("   ", 0, 0),
    ("I don't know.", 0, 0),
    ("The patient has fever and flank pain.", 0, 0),
    ("The answer is unclear.", 0, 0),
    (LONG, 0, 0),
    # a letter outside the options
    ("The answer is E.", 0, 0),
    ("The answer is F.", 0, 0),
    # unclosed reasoning: nothing inside an open block is read
    ("<think>The answer is B.", 0, 0),
    ("## Thinking\n\nThe answer is B.", 0, 0),
    ("<think>Flank pain</think> The answer is B. <think>Let me reconsider", 0, 0),
    # letters that are parts of words, not answers
    ("Vitamin B deficiency does not fit.", 0, 0),
    ("B-cell lymphoma is unlikely.", 0, 0),
]


def test_the_table_is_large_enough():
    assert len(TABLE) >= 50
    assert len({t for t, _, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize("text, answer, fmt", TABLE, ids=[t[:40] for t, _, _ in TABLE])
def test_reward_table(text, answer, fmt):
    conv = [[{"role": "assistant", "content": text}]]
    assert answer_reward(conv, ["B"], [json.dumps(OPTS)]) == [answer]
    assert answer_reward([text], ["B"], OPTS) == [answer]  # a plain string, options shared
    assert format_reward(conv, options=[json.dumps(OPTS)]) == [fmt]


def test_reward_batch_and_letters_only():
    texts = ["The answer is B.", "The answer is A or B.", "C"]
    assert answer_reward(texts, ["B", "B", "C"]) == [1.0, 0.0, 1.0]  # no option texts: A-J
    with pytest.raises(ValueError):
        answer_reward(texts, ["B", "B"])


def q(i: int, answer="A") -> Question:
    return Question(id=f"q{i}", source="s", split="train", question=f"Stem {i}?",
                    options={"A": "x", "B": "y"}, answer=answer, answer_text="x")


def route(i: int, tier: str, n_error: int) -> Route:
    return Route(question_id=f"q{i}", tier=tier, n_paths=9, n_error=n_error, n_correct=9 - n_error,
                 n_unparsed=0, verdicts={}, reasons={})


def test_prompts_hardest_first_in_the_sft_format():
    qs = [q(i) for i in range(5)]
    rs = [route(0, "easy", 1), route(1, "medium", 5), route(2, "difficult", 8),
          route(3, "medium", 7), route(4, "unrouted", 0)]
    rows, counts = prompts(qs, rs, Params(max_prompts=2), "Please answer:")
    assert [r["question_id"] for r in rows] == ["q2", "q3"]
    assert counts == {"candidates": 3, "prompts": 2, "by_tier": {"difficult": 1, "medium": 1}}
    assert rows[0]["prompt"] == [{"role": "user", "content": "Please answer:\nStem 2?\nA. x\nB. y"}]
    assert rows[0]["gold"] == "A" and json.loads(rows[0]["options"]) == {"A": "x", "B": "y"}


def test_prompts_refuse_benchmark_items():
    with pytest.raises(SystemExit, match="benchmark items"):
        prompts([q(1)], [route(1, "medium", 5)], Params(), "H", held_out={"q1"})


def test_the_default_prompts_are_no_benchmark_items():
    from reasonmed.core.params import load, read_params
    from reasonmed.core.records import read_jsonl
    from reasonmed.method.rl import benchmark_ids

    data = ROOT / "data"
    if not (data / "route/routes.jsonl").exists():
        pytest.skip("no pipeline data checked out")
    p = load("rl", Params, str(ROOT / "params.yaml"))
    header = read_params(ROOT / "params.yaml")["assemble"]["instruction_header"]
    rows, counts = prompts(read_jsonl(data / "collect/questions.jsonl", Question),
                           read_jsonl(data / "route/routes.jsonl", Route), p, header,
                           benchmark_ids(data / "benchmarks"))
    assert counts["prompts"] == len(rows) <= p.max_prompts
    assert set(counts["by_tier"]) <= set(p.tiers)


def test_config_errors_name_each_key():
    with pytest.raises(SystemExit) as e:
        make_config({"num_generations": "four", "max_steps": "two", "output_dir": "/tmp/x"})
    lines = str(e.value.code).splitlines()
    assert lines[0] == "params: rl.config is invalid:"
    assert [x.split(":")[0].strip() for x in lines[1:]] == ["rl.config.num_generations",
                                                           "rl.config.max_steps"]
    with pytest.raises(SystemExit, match="unknown GRPOConfig field.*rl.config.num_generation$"):
        make_config({"num_generation": 4, "output_dir": "/tmp/x"})


def test_reward_weights_belong_to_format_weight():
    with pytest.raises(ValueError, match="format_weight"):
        Params(config={"reward_weights": [1.0, 0.5]})
    with pytest.raises(ValueError):
        Params(format_weight=1.5)


# --- GRPO on the tiny model ------------------------------------------------------------

SFT = ROOT / "data/sft/reasonmed/model"


def stage(out, work, params):
    """The stage as a process; its log goes to <work>.log (a pipe could fill and block it)."""
    log = open(f"{work}.log", "a", encoding="utf-8")  # noqa: SIM115 (closed with the test dir)
    return subprocess.Popen(
        [sys.executable, "-m", "stages.rl", str(SFT), str(ROOT / "data/collect/questions.jsonl"),
         str(ROOT / "data/route/routes.jsonl"), str(ROOT / "data/benchmarks"), str(out),
         "--params", str(params), "--work", str(work)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=log)


def logged(work) -> str:
    return open(f"{work}.log", encoding="utf-8").read()


def sha(path):
    return hashlib.sha256((path / "model/model.safetensors").read_bytes()).hexdigest()


@pytest.fixture
def two_steps(tmp_path):
    import yaml

    if not SFT.exists() or not (ROOT / "data/route/routes.jsonl").exists():
        pytest.skip("no SFT checkpoint checked out")
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["rl"]["config"].update(max_steps=2, max_completion_length=32)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p))
    return f


@pytest.mark.slow
def test_grpo_two_steps_deterministic_and_resumable(tmp_path, two_steps):
    """Two GRPO steps on the SFT checkpoint; a second run, and a run killed after its first
    checkpoint then resumed, give the same model bytes."""
    import os
    import signal
    import time

    runs = []
    for name in ("a", "b"):
        proc = stage(tmp_path / name / "reasonmed", tmp_path / f"work-{name}", two_steps)
        assert proc.wait(timeout=300) == 0, logged(tmp_path / f"work-{name}")[-3000:]
        runs.append(tmp_path / name / "reasonmed")
    m = json.loads((runs[0] / "metrics.json").read_text())
    assert m["steps"] == 2 and m["kl_last"] is not None and m["completion_length_last"] > 0
    assert (runs[0] / "curves.csv").read_text().count("\n") == 3  # header + 2 steps
    assert sorted(p.name for p in (runs[0] / "model").iterdir()) == \
        sorted(p.name for p in SFT.iterdir())  # the SFT layout: evaluate loads it alike
    assert not (tmp_path / "work-a").exists()  # checkpoints go once the model is written
    assert sha(runs[0]) == sha(runs[1])
    samples = (runs[0] / "samples.jsonl").read_bytes()
    assert samples == (runs[1] / "samples.jsonl").read_bytes()
    groups = [json.loads(x) for x in samples.splitlines()]
    assert {g["step"] for g in groups} == {0, 1} and all(
        {"text", "answer_reward", "format_reward"} <= set(c) for g in groups for c in g["completions"])

    out, work = tmp_path / "c" / "reasonmed", tmp_path / "work-c"
    proc = stage(out, work, two_steps)
    deadline = time.time() + 300
    while not (work / "checkpoint-1" / "trainer_state.json").exists():
        assert proc.poll() is None and time.time() < deadline, "no first checkpoint"
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)
    if proc.wait(timeout=60) == 0:  # finished before the signal: nothing to resume
        pytest.skip("the run ended before it could be interrupted")
    assert not (out / "model").exists()
    proc = stage(out, work, two_steps)
    assert proc.wait(timeout=300) == 0, logged(work)[-3000:]
    assert "resuming from" in logged(work)
    assert sha(out) == sha(runs[0])
    assert (out / "samples.jsonl").read_bytes() == samples  # the groups before the resume kept
    shutil.rmtree(tmp_path, ignore_errors=True)


# --- the report ------------------------------------------------------------------------


def test_report_shows_rl_rows_under_their_parent_and_pairs_them():
    from reasonmed.report.gather import ordered, significance

    rows = {"base": {}, "reasonmed": {}, "cotmed": {}, "reasonmed_rl": {"parent": "reasonmed"},
            "cotmed_rl": {"parent": "cotmed"}, "agent1": {}}
    assert ordered(rows) == ["base", "reasonmed", "reasonmed_rl", "cotmed", "cotmed_rl", "agent1"]
    items = [("medqa", f"q{i}") for i in range(40)]
    preds = {"reasonmed": {k: i % 2 == 0 for i, k in enumerate(items)},
             "reasonmed_rl": {k: True for k in items[:30]}}  # 30 shared items
    (s,) = significance(preds, 200, 0.95, 1, pairs=[("reasonmed_rl", "reasonmed"),
                                                     ("cotmed_rl", "cotmed")])
    assert (s["a"], s["b"], s["n"], s["only_a"], s["only_b"]) == \
        ("reasonmed_rl", "reasonmed", 30, 15, 0)


# --- the rollouts the explorer shows ---------------------------------------------------


def test_rollouts_record_each_term_pass_values_through_and_keep_first_and_last_step(tmp_path):
    from reasonmed.method.rl_reward import answer_reward, format_reward
    from reasonmed.method.rl_rollouts import Rollouts, gather

    r = Rollouts(tmp_path / "rollouts")
    answer, fmt = r.wrap(answer_reward), r.wrap(format_reward)
    assert (answer.__name__, fmt.__name__) == ("answer_reward", "format_reward")  # TRL's log keys
    texts = ["<think>x</think>\nThe answer is A.", "The answer is B.", "A or B", ""]
    for step in range(3):
        r.step = lambda step=step: step
        kw = {"gold": ["A"] * 4, "options": None, "question_id": ["q1", "q1", "q2", "q2"]}
        assert answer(texts, **kw) == answer_reward(texts, **kw)  # untouched
        assert fmt(texts, **kw) == format_reward(texts, **kw)
    groups = gather(r.records())
    assert [(g["step"], g["question_id"]) for g in groups] == [(0, "q1"), (0, "q2"), (2, "q1"), (2, "q2")]
    first = groups[0]["completions"]
    assert [c["text"] for c in first] == texts[:2] and first[0]["answer_reward"] == 1.0
    assert first[1]["answer_reward"] == 0.0 and "format_reward" in first[1]
    # a redone step (a resumed run) overwrites its own file: the same records, no duplicates
    r.step = lambda: 2
    answer(texts, **kw)
    assert gather(r.records()) == groups


def test_the_explorer_shows_each_prompts_rollouts(tmp_path):
    from reasonmed.report.explorer import read_rollouts

    (tmp_path / "rl/reasonmed").mkdir(parents=True)
    (tmp_path / "rl/reasonmed/samples.jsonl").write_text(json.dumps(
        {"step": 0, "question_id": "q1", "completions": [
            {"text": "x" * 50, "answer_reward": 1.0, "format_reward": 0.0}]}) + "\n")
    got = read_rollouts(tmp_path, max_chars=10)
    assert list(got) == ["q1"] and got["q1"][0]["variant"] == "reasonmed"
    assert got["q1"][0]["completions"][0]["answer_reward"] == 1.0
    assert "truncated by the explorer" in got["q1"][0]["completions"][0]["text"]  # clipped like every text
    # a variant rl.variants no longer trains is not shown, even if an earlier run left it
    assert read_rollouts(tmp_path, max_chars=10, variants=["cotmed"]) == {}

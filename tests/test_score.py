"""score: seeded reservoir sample, prompt without the gold answer, unparsed kept out of means."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from reasonmed.core.params import ModelSpec, read_params
from reasonmed.core.records import Score, read_jsonl
from reasonmed.llm.backends.fake import FakeBackend
from reasonmed.method.score import Params, Row, request_for, reservoir, run, variant_stats
from stages import score
from tests.doubles import fake_llm

P = Params(model="judge", variants=["reasonmed", "cotmed", "responsemed"], sample_size=3,
           temperature=0.7, top_p=0.95, max_tokens=64, prompt="stages/prompts/score.md")


def row(i: int, variant: str = "cotmed") -> Row:
    return Row(id=f"r{i}", question_id=f"q{i // 2}",
               instruction=f"Please answer the following multiple-choice question:\nCase {i}?\n"
                           "A. gout\nB. asthma",
               input="B", output=f"{variant} reasoning {i}. The answer is B.")


@pytest.mark.parametrize("n_items,n,expected_len", [(10, 3, 3), (3, 3, 3), (2, 5, 2), (0, 3, 0)])
def test_reservoir_sizes_and_order(n_items, n, expected_len):
    sample, seen = reservoir(iter(range(n_items)), n, seed=1)
    assert seen == n_items and len(sample) == expected_len
    assert sample == sorted(sample) and len(set(sample)) == len(sample)  # input order, no repeats


def test_reservoir_is_seeded_and_roughly_uniform():
    assert reservoir(range(100), 5, 7) == reservoir(range(100), 5, 7)
    assert reservoir(range(100), 5, 7) != reservoir(range(100), 5, 8)
    hits = [0] * 10
    for s in range(2000):
        for x in reservoir(range(10), 3, s)[0]:
            hits[x] += 1
    assert all(500 < h < 700 for h in hits), hits  # 600 expected each


def test_prompt_shows_question_and_response_not_gold():
    r = request_for("cotmed", row(1), P, run_seed=1, attempt=0)
    user = r.messages[-1][1]
    assert "[Question]\nPlease answer" in user and "[Response]\ncotmed reasoning 1" in user
    assert "clinical accuracy" in user.lower() and "[Correct Answer]" not in user
    assert r.schema["properties"]["score"]["enum"] == list(range(1, 11))
    assert request_for("cotmed", row(1), P, 1, attempt=1).seed == r.seed + 1
    assert request_for("reasonmed", row(1), P, 1, 0).seed != r.seed  # variant in the seed




def replies(req):
    """r0 -> 8, r1 -> 11 (out of range, every attempt), r2 -> "6" on its second attempt."""
    user = req.messages[-1][1]
    if "reasoning 0." in user:
        return '{"score": 8, "justification": "good"}'
    if "reasoning 1." in user:
        return '{"score": 11, "justification": "over"}'
    return "I'd give it a 6" if req.sample == 0 else '```json\n{"score": "6"}\n```'


def test_run_keeps_unparsed_as_none_and_stats_exclude_it():
    llm = fake_llm(replies)
    out = list(run("cotmed", [row(0), row(1), row(2)], llm, P, run_seed=1))
    scores = [s for s, _ in out]
    assert [s.item_id for s in scores] == ["cotmed/r0", "cotmed/r1", "cotmed/r2"]
    assert [s.score for s in scores] == [8, None, 6]
    assert [s.attempts for s in scores] == [1, 3, 2] and "out of range" in scores[1].error
    assert scores[1].prompt_tokens == 30 and llm.backend.seen == [3, 2, 1]
    st = variant_stats(5, scores, sum(bool(e) for _, e in out))
    assert (st["sampled"], st["not_sampled"], st["parsed"], st["unparsed"]) == (3, 2, 2, 1)
    assert st["mean"] == 7.0 and st["std"] == 1.0 and st["mean_unparsed_as_0"] == round(14 / 3, 4)
    assert st["parse_failure_rate"] == round(1 / 3, 4)
    assert st["parse_failure_rate_first_attempt"] == round(2 / 3, 4)
    assert st["score_histogram"] == {"6": 1, "8": 1}


def test_variant_stats_with_nothing_parsed():
    s = Score(item_id="x", question_id="q", score=None, justification=None, parsed=False,
              attempts=3, error="e", model="m", prompt_hash="h", prompt_tokens=0, completion_tokens=0)
    st = variant_stats(1, [s], 1)
    assert st["mean"] is None and st["std"] is None and st["mean_unparsed_as_0"] == 0.0
    assert variant_stats(0, [], 0)["mean_unparsed_as_0"] is None


def write_datasets(folder, n=6):
    folder.mkdir(parents=True)
    for v in P.variants:
        with open(folder / f"{v}.jsonl", "w") as f:
            for i in range(n):
                f.write(json.dumps({**row(i, v).model_dump(), "extra_column": 1}) + "\n")


def test_main_writes_scores_stats_and_ledger(tmp_path, monkeypatch):
    from reasonmed.llm.client import LLM
    params = read_params("params.yaml")
    params["exec"]["cache"] = str(tmp_path / "c")
    params["score"]["sample_size"] = 4
    params["score"]["prompt"] = str(Path("stages/prompts/score.md").resolve())
    params["models"]["scorer"] = {"backend": "fake", "model": "scorer"}  # replies: `replies`
    ext = Path("assets/external/medical_o1_demo_sample.json").resolve()
    params["external"] = {"o1": {"kind": "local", "split": "demo", "path": str(ext), "fields": {
        "question": "Question", "reasoning": "Complex_CoT", "answer": "Response"}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_datasets(tmp_path / "datasets")
    from stages import external
    monkeypatch.setattr(sys, "argv", ["external", str(tmp_path / "ext"), "--name", "o1", "--params",
                                      str(tmp_path / "params.yaml")])
    monkeypatch.chdir(tmp_path)
    external.main()

    def backend(spec, run, exec_opts):
        return FakeBackend(spec, run, exec_opts, reply=replies, tokens=(10, 5))

    monkeypatch.setattr(score, "LLM", lambda *a, **k: LLM(*a, **k, backend_factory=backend))
    monkeypatch.chdir(tmp_path)  # the run log goes to ./work/runs
    monkeypatch.setattr(sys, "argv", ["score", str(tmp_path / "datasets"), str(tmp_path / "ext"),
                                      str(tmp_path / "out"), "--params", str(tmp_path / "params.yaml")])
    score.main()
    scores = list(read_jsonl(tmp_path / "out/scores.jsonl", Score))
    run_log = json.loads((tmp_path / "work/runs/score.json").read_text())
    assert len(scores) == 16 and len({s.item_id for s in scores}) == 16
    assert sum(s.item_id.startswith("o1/") for s in scores) == 4
    st = json.loads((tmp_path / "out/stats.json").read_text())
    assert set(st["variants"]) == set(P.variants) and set(st["external"]) == {"o1"}
    assert st["external"]["o1"]["rows_in"] == 40 and st["external"]["o1"]["sampled"] == 4
    for v in st["variants"].values():
        assert v["rows_in"] == 6 and v["sampled"] == 4 and v["parsed"] + v["unparsed"] == 4
    assert run_log["model_calls"] > 0 and "model_calls" not in st
    assert json.loads((tmp_path / "out/ledger.json").read_text())


@pytest.mark.slow
def test_real_tiny_scorer(tiny_models, tmp_path):
    from reasonmed.core.params import RunParams
    from reasonmed.llm.client import LLM
    llm = LLM("scorer", ModelSpec(backend="hf", model=tiny_models["judge"]),
              RunParams(cache=str(tmp_path / "c.sqlite")), stage="score")
    p = Params(**{**P.model_dump(), "max_tokens": 48, "justification_max_chars": 40})
    out = [s for s, _ in run("cotmed", [row(i) for i in range(4)], llm, p, run_seed=3)]
    assert len(out) == 4 and all(s.parsed and 1 <= s.score <= 10 for s in out)

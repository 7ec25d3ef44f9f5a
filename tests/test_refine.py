"""refine: reason selection (table test), lockstep join, rewrite + re-verify + on_fail policy."""

import json
from collections import Counter

import pytest

from reasonmed.core.params import ModelSpec
from reasonmed.core.records import Chosen, Route
from reasonmed.core.streams import join_by_question
from reasonmed.method import verification as verify
from reasonmed.method.refine import Params, run
from reasonmed.method.rewriting import select_reasons, tally
from tests.doubles import fake_llm
from tests.test_generate import _path, q

P = Params(model="refiner", temperature=0.8, top_p=0.9, max_tokens=32,
           prompt="stages/prompts/refine.md", batch_questions=2)
VP = verify.Params(model="judge", temperature=1.0, top_p=0.95, max_tokens=64,
                   prompt="stages/prompts/verify.md")


def scripted(model, reply):
    """The LLM client on the fake backend: `reply(request) -> text`, 100 prompt and 10
    completion tokens each; `.backend.batches`: every batch it was asked for."""
    return fake_llm(reply, model=model, tokens=(100, 10))


def user_of(req):
    return req.messages[-1][1]


def judge_by_cot(req):
    """Verifier double: judges on a word in the CoT; 'garbage' never parses."""
    cot = user_of(req).split("[CoT Analysis]")[1]
    if "garbage" in cot:
        return "not json"
    return json.dumps({"verdict": "Correct" if "good" in cot else "Error", "reason": "r"})


def route_of(qq, verdicts, reasons=None):
    pids = [_path(qq, "a1", k).id for k in range(len(verdicts))]
    reasons = reasons or [f"reason {k}" for k in range(len(verdicts))]
    return Route(question_id=qq.id, tier="medium", n_paths=len(pids),
                 n_error=sum(v == "Error" for v in verdicts),
                 n_correct=sum(v == "Correct" for v in verdicts),
                 n_unparsed=sum(v is None for v in verdicts),
                 verdicts=dict(zip(pids, verdicts)), reasons=dict(zip(pids, reasons)))


def ranked(qq, k, rank, tier="medium", cot="original cot. Final answer: B"):
    pid = _path(qq, "a1", k).id
    return Chosen(id=f"{pid}/ranked{rank}", question_id=qq.id, tier=tier, origin="ranked",
                  source_path_id=pid, rank=rank, agent="a1", model="models/agent1",
                  temperature=0.7, cot=cot, score=4, verdict="Correct", verify_reason="fine",
                  history=[{"step": "rank", "score": 4}])


ROUTE = route_of(q(1), ["Correct", "Error", "Error", None, "Correct"],
                 ["c0", "e1\n  spread   out", "", None, "c4"])
P0 = _path(q(1), "a1", 0).id


@pytest.mark.parametrize("policy,path,expected", [
    ("others", 0, ["e1 spread out", "c4"]),  # the authors' code: Correct reasons too
    ("others_errors", 0, ["e1 spread out"]),
    ("errors", 0, ["e1 spread out"]),
    ("own", 0, ["c0"]),
    ("others", 1, ["c0", "c4"]),
    ("errors", 1, ["e1 spread out"]),  # its own Error reason is included
    ("others_errors", 1, []),
    ("own", 3, []),  # an unparsed verdict has no reason to feed
])
def test_select_reasons(policy, path, expected):
    assert select_reasons(ROUTE, _path(q(1), "a1", path).id, policy) == expected


def test_join_by_question_skips_gaps_and_rejects_strays():
    qs = [q(i) for i in range(3)]
    a = [ranked(qs[0], 0, 0), ranked(qs[0], 1, 1), ranked(qs[2], 0, 0)]
    out = list(join_by_question(qs, a=a, routes=[route_of(x, ["Correct"]) for x in qs]))
    assert [len(x[1]) for x in out] == [2, 0, 1] and all(len(x[2]) == 1 for x in out)
    with pytest.raises(ValueError, match="not in question order"):
        list(join_by_question(qs, ranked=[ranked(qs[2], 0, 0), ranked(qs[0], 0, 0)]))


def refine(writer_reply, p=P, chosen=None, route=ROUTE):
    qq = q(1)
    chosen = chosen or [ranked(qq, 0, 0), ranked(qq, 4, 1)]
    writer, judge = scripted("models/agent2", writer_reply), scripted("models/verifier", judge_by_cot)
    counts = Counter()
    out = list(run([(qq, [route], chosen)], writer, judge, VP, p, run_seed=7, counts=counts))
    for c in out:
        tally(counts, c, "refine")
    return out, writer, judge, counts


def test_refined_cot_kept_when_reverified_correct():
    out, writer, judge, counts = refine(lambda r: "<think>good reasoning</think>\nFinal answer: B")
    assert [c.id for c in out] == [f"{P0}/refined0", f"{_path(q(1), 'a1', 4).id}/refined1"]
    c = out[0]
    assert c.origin == "refined" and c.kept and c.verdict == "Correct" and c.model == "models/agent2"
    assert c.cot == "good reasoning\n\nFinal answer: B"  # markers stripped by split_reasoning
    assert c.score == 4 and c.tier == "medium" and c.temperature == 0.8
    steps = [h["step"] for h in c.history]
    assert steps == ["rank", "refine", "reverify"]
    assert c.history[1]["reasons_fed"] == 2 and c.history[1]["reasons_policy"] == "others"
    user = user_of(writer.backend.batches[0][0])
    assert "- e1 spread out\n- c4\n" in user and "[Correct Answer]\nB. asthma 1" in user
    assert "original cot. Final answer: B" in user and 'end with the line "Final answer: B"' in user
    assert len({r.seed for r in writer.backend.batches[0]}) == 2
    assert counts["kept"] == 2 and counts["reverify_Correct"] == 2 and counts["reasons_fed"] == 4


def test_prompt_without_reasons_says_so():
    _, writer, _, _ = refine(lambda r: "good", p=P.model_copy(update={"reasons": "others_errors"}),
                             chosen=[ranked(q(1), 1, 0)])
    assert "(no feedback)" in user_of(writer.backend.batches[0][0])


def test_keep_original_falls_back_with_history():
    out, _, judge, counts = refine(lambda r: "bad reasoning")
    c = out[0]
    assert c.kept and c.origin == "ranked" and c.cot == "original cot. Final answer: B"
    assert c.verdict == "Correct" and c.model == "models/agent1" and c.id.endswith("/refined0")
    assert c.history[-2]["verdict"] == "Error"
    assert c.history[-1] == {"step": "on_fail", "action": "keep_original", "why": "re-verified Error",
                             "rejected_cot": "bad reasoning"}
    assert counts["on_fail_keep_original"] == 2 and counts["kept_ranked"] == 2


@pytest.mark.parametrize("on_fail,reply,kept,verdict,why", [
    ("drop", "bad", False, "Error", "re-verified Error"),
    ("keep", "bad", True, "Error", "re-verified Error"),
    ("keep", "", False, None, "empty output"),  # nothing to keep
    ("drop", "garbage", False, None, "re-verification unparsed after 3 attempts"),
    ("keep_original", "", True, "Correct", "empty output"),
])
def test_on_fail_policies(on_fail, reply, kept, verdict, why):
    out, _, judge, counts = refine(lambda r: reply, p=P.model_copy(update={"on_fail": on_fail}))
    c = out[0]
    assert (c.kept, c.verdict, c.history[-1]["why"]) == (kept, verdict, why)
    assert len(out) == 2  # a failed CoT is written, never lost
    if not reply:
        assert judge.backend.batches == []  # empty rewrites are not sent to the verifier


def test_easy_tier_is_passed_over_and_no_reverify_mode():
    qq = q(1)
    chosen = [ranked(qq, 0, 0, tier="easy")]
    writer = scripted("w", lambda r: "x")
    counts = Counter()
    assert list(run([(qq, [ROUTE], chosen)], writer, None, None, P, 7, counts)) == []
    assert counts["passed_over_other_tiers"] == 1 and writer.backend.batches == []
    out = list(run([(qq, [ROUTE], [ranked(qq, 0, 0)])], writer, None, None,
                   P.model_copy(update={"reverify": False}), 7))
    assert out[0].kept and out[0].verdict is None and out[0].history[-1]["step"] == "refine"


def test_reruns_ask_the_same_requests():
    _, w1, _, _ = refine(lambda r: "good")
    _, w2, _, _ = refine(lambda r: "good")
    assert w1.backend.batches == w2.backend.batches


@pytest.mark.slow
def test_real_tiny_refiner_and_verifier(tiny_models, tmp_path):
    from reasonmed.core.params import RunParams
    from reasonmed.llm.cache import Cache
    from reasonmed.llm.client import LLM, Ledger
    run_p = RunParams(cache=str(tmp_path / "c.sqlite"))
    cache, ledger = Cache(run_p.cache), Ledger("refine")
    writer = LLM("refiner", ModelSpec(backend="hf", model=tiny_models["agent"]), run_p,
                 stage="refine", cache=cache, ledger=ledger)
    judge = LLM("verifier", ModelSpec(backend="hf", model=tiny_models["judge"]), run_p,
                stage="refine", cache=cache, ledger=ledger)
    p = P.model_copy(update={"max_tokens": 16})
    vp = VP.model_copy(update={"max_tokens": 48})
    qq = q(1)
    out = list(run([(qq, [ROUTE], [ranked(qq, 0, 0), ranked(qq, 4, 1)])], writer, judge, vp, p, 7))
    assert len(out) == 2 and all(c.history[1]["step"] == "refine" for c in out)
    assert all(c.history[2]["step"] == "reverify" for c in out if c.history[1]["finish_reason"] != "error")
    assert {r["role"] for r in ledger.to_list()} <= {"refiner", "verifier"}

"""optimize: source choice (table test), n CoTs per difficult question, drop policy, counts."""

from collections import Counter

import pytest

from reasonmed.method.optimize import Params, pick_source, run
from reasonmed.method.rewriting import tally
from tests.test_generate import _path, q
from tests.test_refine import VP, judge_by_cot, route_of, scripted, user_of

P = Params(model="optimizer", temperature=1.0, top_p=1.0, max_tokens=32,
           prompt="stages/prompts/optimize.md")


def paths_of(qq, n=4):
    return [_path(qq, "a1", k) for k in range(n)]


@pytest.mark.parametrize("verdicts,expected", [
    (["Error", "Error", "Correct", "Error"], 2),  # the one Correct path of the tier
    (["Error", "Correct", "Correct", "Error"], 1),  # the first Correct one
    (["Error", "Error", "Error", "Error"], 0),  # none: the first path
    ([None, "Error", "Error", "Error"], 0),
])
def test_pick_source(verdicts, expected):
    qq = q(1)
    assert pick_source(paths_of(qq), route_of(qq, verdicts)) == paths_of(qq)[expected]


def difficult(qq, verdicts):
    return route_of(qq, verdicts).model_copy(update={"tier": "difficult"})


def optimize(reply, p=P):
    q1, q2, q3 = q(1), q(2), q(3)
    joined = [(q1, paths_of(q1), [difficult(q1, ["Error", "Correct", "Error", "Error"])]),
              (q2, paths_of(q2), [route_of(q2, ["Correct"] * 4)]),  # medium: not this stage's
              (q3, paths_of(q3), [difficult(q3, ["Error"] * 4)])]
    writer, judge = scripted("models/optimizer", reply), scripted("models/verifier", judge_by_cot)
    counts = Counter()
    out = list(run(joined, writer, judge, VP, p, run_seed=7, counts=counts))
    for c in out:
        tally(counts, c, "optimize")
    return out, writer, counts


def test_n_new_cots_per_difficult_question_with_own_seeds():
    out, writer, counts = optimize(lambda r: "good deep reasoning. Final answer: B")
    src1, src3 = _path(q(1), "a1", 1).id, _path(q(3), "a1", 0).id
    assert [c.id for c in out] == [f"{src1}/optimized0", f"{src1}/optimized1",
                                   f"{src3}/optimized0", f"{src3}/optimized1"]
    assert all(c.origin == "optimized" and c.tier == "difficult" and c.kept for c in out)
    assert [c.rank for c in out] == [0, 1, 0, 1] and out[0].model == "models/optimizer"
    reqs = writer.backend.batches[0]
    assert [r.sample for r in reqs] == [0, 1, 0, 1] and len({r.seed for r in reqs}) == 4
    assert out[0].history[0] == {"step": "source", "path_id": src1, "agent": "a1", "model": "m",
                                 "temperature": 0.7, "verdict": "Correct",
                                 "prompt_tokens": 1, "completion_tokens": 1}
    assert out[0].prompt_tokens == 1 + 100 + 100  # source path + optimizer + re-verification
    user = user_of(reqs[0])
    # reasons of the other three paths, not the source's own
    assert "- reason 0\n- reason 2\n- reason 3\n" in user and "- reason 1" not in user
    assert "likelihood ratios" in user and 'end with the line "Final answer: B"' in user
    assert counts["questions_difficult"] == 2 and counts["questions_medium"] == 1
    assert counts["source_correct"] == 1 and counts["questions_without_kept"] == 0


def test_failed_cots_are_written_unkept_and_questions_without_any_counted():
    out, _, counts = optimize(lambda r: "good" if r.sample == 0 and "Case 1" in user_of(r) else "bad")
    assert [c.kept for c in out] == [True, False, False, False]
    assert out[1].verdict == "Error" and out[1].history[-1]["action"] == "drop"
    assert counts["questions_without_kept"] == 1 and counts["dropped"] == 3
    out, _, _ = optimize(lambda r: "bad", p=P.model_copy(update={"on_fail": "keep"}))
    assert all(c.kept and c.verdict == "Error" for c in out)


def test_keep_original_is_not_an_option():
    with pytest.raises(ValueError):
        Params(**{**P.model_dump(), "on_fail": "keep_original"})

"""EMD routing as a table: the Error count among a question's verdicts -> its tier, under the
paper's bands (configs/paper.yaml: 0-4 easy, 5-7 medium, 8-9 difficult; docs/method.md
section 5) and the default's (params.yaml: 0-3 / 4-5 / 6-9), for both unparsed-verdict
policies and for questions with paths missing.

    python -m pytest -q tests/test_route_table.py
"""

import pytest

from reasonmed.core.params import load
from reasonmed.core.records import Question, Verdict
from reasonmed.method.route import Params, route_question, run

PAPER = load("route", Params, "configs/paper.yaml")
DEFAULT = load("route", Params, "params.yaml")
E, M, D, U = "easy", "medium", "difficult", "unrouted"


def test_the_bands_are_the_documented_ones():
    assert PAPER.bands == {"easy": (0, 4), "medium": (5, 7), "difficult": (8, 9)}
    assert DEFAULT.bands == {"easy": (0, 3), "medium": (4, 5), "difficult": (6, 9)}
    assert PAPER.unparsed == DEFAULT.unparsed == "error"


def verdicts(correct: int, error: int, unparsed: int) -> list[Verdict]:
    kinds = ["Correct"] * correct + ["Error"] * error + [None] * unparsed
    return [Verdict(path_id=f"q/p{i}", question_id="q", agent="a1", temperature=0.7, verdict=v,
                    reason=None if v is None else "r", parsed=v is not None, attempts=1,
                    model="judge", prompt_hash="h", prompt_tokens=1, completion_tokens=1)
            for i, v in enumerate(kinds)]


# (Correct, Error, unparsed verdicts) -> tier under the paper's bands, under the default's.
# An unparsed verdict counts as an Error (route.unparsed: error). A missing path (generation
# or the verifier's request failed, so the path has no verdict) counts as nothing: the tier
# is the Error count among the verdicts there are.
TABLE = [
    # nine parsed verdicts: 0..9 errors
    (9, 0, 0, E, E), (8, 1, 0, E, E), (7, 2, 0, E, E), (6, 3, 0, E, E), (5, 4, 0, E, M),
    (4, 5, 0, M, M), (3, 6, 0, M, D), (2, 7, 0, M, D), (1, 8, 0, D, D), (0, 9, 0, D, D),
    # unparsed verdicts are Errors
    (6, 2, 1, E, E), (5, 3, 1, E, M), (4, 4, 1, M, M), (2, 6, 1, M, D), (1, 7, 1, D, D),
    (4, 0, 5, M, M), (0, 0, 9, D, D),
    # paths missing: only the verdicts there are count
    (4, 4, 0, E, M), (0, 5, 0, M, M), (0, 7, 0, M, D), (1, 0, 0, E, E), (0, 1, 0, E, E),
    (0, 4, 2, M, D),
    # more Errors than any band: no tier
    (0, 10, 0, U, U),
]


@pytest.mark.parametrize("correct,error,unparsed,paper,default", TABLE,
                         ids=[f"{c}c-{e}e-{u}u" for c, e, u, *_ in TABLE])
def test_tier_by_error_count(correct, error, unparsed, paper, default):
    vs = verdicts(correct, error, unparsed)
    for p, tier in ((PAPER, paper), (DEFAULT, default)):
        r = route_question("q", vs, p)
        assert r.tier == tier
        assert (r.n_paths, r.n_error, r.n_correct, r.n_unparsed) == (
            len(vs), error + unparsed, correct, unparsed)
        assert (r.reason is None) == (tier != U)
        assert r.verdicts == {v.path_id: v.verdict for v in vs}


@pytest.mark.parametrize("correct,error,unparsed,paper,default", TABLE,
                         ids=[f"{c}c-{e}e-{u}u" for c, e, u, *_ in TABLE])
def test_unparsed_unrouted_sets_the_question_aside(correct, error, unparsed, paper, default):
    # route.unparsed: unrouted: one unparsed verdict sets the question aside; none, and the
    # tier is the one the Error count gives
    p = PAPER.model_copy(update={"unparsed": "unrouted"})
    r = route_question("q", verdicts(correct, error, unparsed), p)
    assert r.tier == (U if unparsed else paper) and r.n_error == error
    if unparsed:
        assert r.reason == f"{unparsed} unparsed verdict(s) and route.unparsed=unrouted"


def test_a_question_without_verdicts_is_unrouted():
    q = Question(id="q0", source="t", split="test", question="Q?", options={"A": "a", "B": "b"},
                 answer="A", answer_text="a", source_id="0")
    [r] = run([q], [], PAPER)
    assert (r.tier, r.n_paths, r.n_error, r.reason) == (U, 0, 0, "no verdicts")

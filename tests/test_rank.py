"""rank (and the shared judging module): score parser table, top-k selection, join, run."""

import json
from decimal import Decimal

import pytest

from reasonmed.core.params import ModelSpec
from reasonmed.core.records import Route
from reasonmed.llm.types import Completion, Request
from reasonmed.method.judging import ParseError, as_int, json_objects, judge_scores, parse_score
from reasonmed.method.rank import Params, Tally, join, request_for, run, select_top
from tests.doubles import fake_llm
from tests.test_generate import _path, q

P = Params(model="judge", temperature=0.7, top_p=0.95, max_tokens=64, max_attempts=3,
           prompt="stages/prompts/rank.md")
SIX = range(0, 6)


# --- parser ---------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ('{"score": 4, "justification": "clear"}', (4, "clear")),
    ('{"score": 0, "justification": " off topic "}', (0, "off topic")),
    ('{"score": 5}', (5, None)),  # no justification: allowed, as in the authors' code
    ('{"score": "4", "justification": "x"}', (4, "x")),  # digit string
    ('{"score": " 3 ", "justification": "x"}', (3, "x")),
    ('{"score": 4.0, "justification": "x"}', (4, "x")),  # a literal that is exactly an integer
    ('{"score": 4e0, "justification": "x"}', (4, "x")),
    ('{"score": 4, "justification": "x"} {"score": 4, "justification": "x"}', (4, "x")),  # a repeat
    ('```json\n{"score": 2, "justification": "gaps"}\n```', (2, "gaps")),
    ('```\n{"score": 2, "justification": "gaps"}\n```', (2, "gaps")),
    ('Here you go: {"score": 3, "justification": "ok"} Anything else?', (3, "ok")),
    ('Format: {"a": 1}. Answer: {"score": 1, "justification": "weak"}', (1, "weak")),
    ('{"score": 5, "justification": "uses {braces} and \\"quotes\\""}',
     (5, 'uses {braces} and "quotes"')),
    ('{"justification": "nested {\\"x\\": 1}", "score": 2}', (2, 'nested {"x": 1}')),
])
def test_parse_score_accepts(text, expected):
    assert parse_score(text, SIX) == expected


@pytest.mark.parametrize("text,why", [
    ("", "empty"),
    ("   \n", "empty"),
    ('{"score": 4, "justification": "cut o', "truncated"),
    ('{"score": 4.5, "justification": "x"}', "not an integer"),
    ('{"score": 3.9999999999999999, "justification": "x"}', "not an integer"),  # float() says 4.0
    ('{"score": "٤", "justification": "x"}', "not an integer"),  # Arabic-Indic four
    ('{"score": "４", "justification": "x"}', "not an integer"),  # fullwidth four
    ('{"score": 4, "score": 4, "justification": "x"}', "duplicate key"),
    ('{"score": 4, "justification": "x"} {"score": 5, "justification": "x"}', "conflicting"),
    ('{"score": 4, "justification": "x", "confidence": 1}', "unexpected key"),
    ('{"score": NaN, "justification": "x"}', "NaN"),
    ('{"result": {"score": 4}}', "outside a complete JSON answer"),
    ('{"score": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ("{" * 100_000, "over the 65536-character cap"),
    ('{"score": "4.0", "justification": "x"}', "not an integer"),
    ('{"score": "four", "justification": "x"}', "not an integer"),
    ('{"score": true, "justification": "x"}', "not an integer"),
    ('{"score": null, "justification": "x"}', "not an integer"),
    ('{"score": [4], "justification": "x"}', "not an integer"),
    ('{"score": 7, "justification": "x"}', "out of range"),  # not clamped to 5
    ('{"score": -1, "justification": "x"}', "out of range"),  # not clamped to 0
    ('{"justification": "no score"}', "missing key"),
    ('{"Score": 4}', "missing key"),
    ('{"score": 3, "justification": 5}', "not a string"),
    ("Score: 4", "no JSON"),
    ("[4]", "no JSON"),
    ("4", "no JSON"),
])
def test_parse_score_rejects(text, why):
    with pytest.raises(ParseError, match=why):
        parse_score(text, SIX)


def test_parse_score_other_scale():
    assert parse_score('{"score": 10}', range(1, 11))[0] == 10
    with pytest.raises(ParseError, match="out of range 1-10"):
        parse_score('{"score": 0}', range(1, 11))


def test_parse_score_checks_the_justification_length():
    reply = json.dumps({"score": 2, "justification": "j" * 21})
    assert parse_score(reply, SIX) == (2, "j" * 21)  # no limit given
    assert parse_score(reply, SIX, 21) == (2, "j" * 21)
    with pytest.raises(ParseError, match="22|21 characters, over maxLength 20"):
        parse_score(reply, SIX, 20)


@pytest.mark.parametrize("v,out", [
    (3, 3), ("3", 3), ("-2", -2), (" 4 ", 4), (Decimal("3.0"), 3), (Decimal("4e0"), 4),
    (Decimal("3.9999999999999999"), None), (Decimal("1e400"), None), (3.0, None),  # a float lost its literal
    (False, None), (3.2, None), ("3a", None), (None, None), ("٣", None), ("３", None), ("4.0", None)])
def test_as_int(v, out):
    assert as_int(v) == out


def test_json_objects_reads_top_level_objects_only():
    assert json_objects('[1] {bad} {"a": {"b": 1}}') == [{"a": {"b": 1}}]
    with pytest.raises(ParseError, match="duplicate key"):
        json_objects('{"a": 1, "a": 1}')


# --- selection ------------------------------------------------------------------------


@pytest.mark.parametrize("scores,k,unparsed,top", [
    ([3, 5, 4, 5], 2, "lowest", [1, 3]),  # ties keep path order
    ([2, 2, 2], 2, "lowest", [0, 1]),
    ([None, 0, 1], 2, "lowest", [2, 1]),  # a parsed 0 beats an unparsed reply
    ([None, None, 1], 2, "lowest", [2, 0]),
    ([None, None, 1], 2, "exclude", [2]),
    ([4], 2, "lowest", [0]),  # fewer than k: all of them
    ([], 2, "lowest", []),
    ([1, 2, 3], 0, "lowest", []),
    ([1, 5, 3, 4], 3, "exclude", [1, 3, 2]),
])
def test_select_top(scores, k, unparsed, top):
    assert select_top(scores, k, unparsed) == top


def test_select_top_rejects_unknown_policy():
    with pytest.raises(ValueError):
        select_top([1], 1, "zero")


# --- run --------------------------------------------------------------------------------


def route(qq, tier, verdicts):
    return Route(question_id=qq.id, tier=tier, n_paths=len(verdicts),
                 n_error=sum(v == "Error" for v in verdicts.values()),
                 n_correct=sum(v == "Correct" for v in verdicts.values()),
                 n_unparsed=sum(v is None for v in verdicts.values()),
                 verdicts=verdicts, reasons={k: f"why {k[-6:]}" for k in verdicts})




def triples():
    """q1 easy (4 paths: 3 Correct, 1 Error), q2 difficult, q3 medium (1 Correct, 1 unparsed)."""
    q1, q2, q3 = q(1), q(2), q(3)
    p1 = [_path(q1, a, s) for a in ("agent1", "agent2") for s in (0, 1)]
    p2 = [_path(q2, "agent1", 0)]
    p3 = [_path(q3, "agent1", 0), _path(q3, "agent1", 1)]
    r1 = route(q1, "easy", {p1[0].id: "Correct", p1[1].id: "Error", p1[2].id: "Correct",
                            p1[3].id: "Correct"})
    r2 = route(q2, "difficult", {p2[0].id: "Correct"})
    r3 = route(q3, "medium", {p3[0].id: None, p3[1].id: "Correct"})
    return [(q1, r1, p1), (q2, r2, p2), (q3, r3, p3)]


def test_run_scores_correct_paths_and_keeps_top_k():
    t = triples()
    (_, _, p1), _, (_, _, p3) = t
    # Every _path has the same cot: the scripted judge tells paths apart by request seed.
    # p1[0] -> 3, p1[2] and p1[3] -> 5 (a tie: p1[2] first); p3[1] fails once, then 2.
    want = {p1[0].id: 3, p1[2].id: 5, p1[3].id: 5, p3[1].id: 2}
    by_seed = {request_for(qq, x, P, 7, a).seed: (x, a) for qq, _, ps in t for x in ps
               for a in range(3)}

    def replies(req):
        user = req.messages[-1][1]
        assert "[Correct Answer]\nB." in user and "[CoT]\nt" in user
        x, attempt = by_seed[req.seed]
        if x is p3[1] and attempt == 0:
            return "not json"
        return json.dumps({"score": want[x.id], "justification": "j"})

    llm = fake_llm(replies)
    out = list(run(iter(t), llm, P, run_seed=7))
    assert [x.question_id for x in out] == [qq.id for qq, _, _ in t]
    easy, diff, med = out
    assert [s.item_id for s in easy.scores] == [p1[0].id, p1[2].id, p1[3].id]
    assert [c.source_path_id for c in easy.chosen] == [p1[2].id, p1[3].id]
    assert [c.rank for c in easy.chosen] == [0, 1] and easy.skipped == {"verdict Error": 1}
    c = easy.chosen[0]
    assert (c.id, c.origin, c.tier, c.score, c.verdict) == (f"{p1[2].id}/ranked0", "ranked",
                                                            "easy", 5, "Correct")
    assert c.verify_reason == f"why {p1[2].id[-6:]}" and c.model == "m" and c.agent == "agent2"
    assert [h["step"] for h in c.history] == ["generate", "rank"]
    assert c.history[1] == {**c.history[1], "score": 5, "rank": 0, "model": "judge"}
    assert c.prompt_tokens == 1 + 10 and c.completion_tokens == 1 + 5
    assert diff.scores == [] and diff.chosen == [] and diff.skipped == {"tier difficult": 1}
    assert med.skipped == {"verdict unparsed": 1} and med.first_attempt_failures == 1
    [s] = med.scores
    assert s.score == 2 and s.attempts == 2 and s.prompt_tokens == 20
    assert [c.tier for c in med.chosen] == ["medium"]
    assert llm.backend.seen == [4, 1]  # one batch of every scorable path, then the one retry

    tally = Tally(k=2)
    for x in out:
        tally.add(x)
    st = tally.to_dict([])
    assert st["questions_by_tier"] == {"easy": 1, "medium": 1, "difficult": 1, "unrouted": 0}
    assert (st["paths_in"], st["paths_scored"], st["chosen"]) == (7, 4, 3)
    assert st["paths_skipped"] == {"tier difficult": 1, "verdict Error": 1, "verdict unparsed": 1}
    assert st["questions_fewer_than_k_correct"] == 1 and st["parse_failures_first_attempt"] == 1
    assert st["score_histogram"] == {"0": 0, "1": 0, "2": 1, "3": 1, "4": 0, "5": 2, "unparsed": 0}


def test_never_parsed_is_none_and_ranked_last():
    t = triples()[:1]
    p1 = t[0][2]

    def replies(req):  # p1[0] never parses; the others score 0
        x = next(x for x in p1 if request_for(t[0][0], x, P, 1, req.sample).seed == req.seed)
        return "{" if x is p1[0] else '{"score": 0, "justification": "bad"}'

    [easy] = run(t, fake_llm(replies), P, run_seed=1)
    s0 = easy.scores[0]
    assert (s0.score, s0.parsed, s0.attempts) == (None, False, 3) and "truncated" in s0.error
    assert [c.source_path_id for c in easy.chosen] == [p1[2].id, p1[3].id]  # 0s beat None
    p = Params(**{**P.model_dump(), "unparsed": "exclude", "k": 3})
    [easy] = run(t, fake_llm(replies), p, run_seed=1)
    assert [c.source_path_id for c in easy.chosen] == [p1[2].id, p1[3].id]


def test_a_failed_request_is_a_failure_not_a_parse_error_and_is_not_reasked():
    def flaky(r):
        return (Completion("", "error", 0, 0, error="boom") if r.sample == 0 else
                Completion('{"score": 1}', "stop", 3, 2))

    llm = fake_llm(flaky)
    [s] = judge_scores(["x"], lambda it, a: Request.chat(None, it, seed=100 + a, sample=a),
                       llm, SIX, 3)
    # Re-asking under the next attempt's seed would make the outcome depend on the fault:
    # the item ends failed (the stage records it; the next run asks the same request).
    assert s.value is None and s.errors == [] and s.failure.error == "boom"
    assert [(r.seed, r.sample) for r in llm.backend.requests] == [(100, 0)]


def test_join_checks_order():
    (q1, r1, p1), (q2, r2, p2), _ = triples()
    assert [len(ps) for _, _, ps in join([q1, q2], p1 + p2, [r1, r2])] == [4, 1]
    assert [len(ps) for _, _, ps in join([q1, q2], p2, [r1, r2])] == [0, 1]  # no paths: none
    with pytest.raises(ValueError, match="routes: 0 records for question"):
        list(join([q1, q2], p1 + p2, [r2, r1]))
    with pytest.raises(ValueError, match="paths: records .* not in question order"):
        list(join([q1, q2], p2 + p1, [r1, r2]))
    with pytest.raises(ValueError, match="routes: records .* not in question order"):
        list(join([q1], p1, [r1, r2]))


def test_prompt_shows_gold_and_schema_is_an_enum():
    qq, _, ps = triples()[0]
    r = request_for(qq, ps[0], P, 1, attempt=0)
    assert r.schema["properties"]["score"]["enum"] == [0, 1, 2, 3, 4, 5]
    assert r.schema["properties"]["justification"]["maxLength"] == P.justification_max_chars
    assert request_for(qq, ps[0], P, 1, attempt=1).seed == r.seed + 1
    assert "B. asthma 1" in r.messages[-1][1]


@pytest.mark.slow
def test_real_tiny_ranker(tiny_models, tmp_path):
    from reasonmed.core.params import RunParams
    from reasonmed.llm.client import LLM
    spec = ModelSpec(backend="hf", model=tiny_models["judge"])
    llm = LLM("ranker", spec, RunParams(cache=str(tmp_path / "c.sqlite")), stage="rank")
    p = Params(**{**P.model_dump(), "max_tokens": 48, "justification_max_chars": 40})
    out = list(run(triples(), llm, p, run_seed=3))
    scores = [s for x in out for s in x.scores]
    assert len(scores) == 4 and all(s.parsed and s.score in range(6) for s in scores)
    assert sum(len(x.chosen) for x in out) == 3
    again = list(run(triples(), llm, p, run_seed=3))
    assert [s.score for x in again for s in x.scores] == [s.score for s in scores]
    assert llm.ledger.run_list()[0]["model_calls"] == 4  # the rerun came from the cache

"""verify: the verdict parser (table test), retries, parse failures kept as such."""

import json

import pytest

from reasonmed.method.judging import ParseError
from reasonmed.method.verification import Params, parse_verdict, run
from tests.doubles import fake_llm
from tests.test_generate import _path, q

P = Params(model="judge", temperature=1.0, top_p=0.95, max_tokens=64, max_attempts=3,
           prompt="stages/prompts/verify.md")


@pytest.mark.parametrize("text,expected", [
    ('{"verdict": "Correct", "reason": "ok"}', ("Correct", "ok")),
    ('{"verdict": "error", "reason": " wrong letter "}', ("Error", "wrong letter")),
    ('```json\n{"verdict": "Error", "reason": "x"}\n```', ("Error", "x")),
    ('Sure! Here it is: {"verdict": "Correct", "reason": "fine"} Hope this helps.', ("Correct", "fine")),
    ('  {"verdict":"CORRECT","reason":""}  ', ("Correct", "")),
    ('{"verdict": " error\\n", "reason": "x"}', ("Error", "x")),  # ASCII case and whitespace
    ('{"verdict": "Error", "reason": "x"}\n```json\n{"verdict": "Error", "reason": "x"}\n```',
     ("Error", "x")),  # an exact repeat is one answer
])
def test_parse_verdict_accepts(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize("text,why", [
    ("", "empty"),
    ('{"verdict": "Correct", "reason": "cut o', "truncated"),
    ('{"verdict": "Maybe", "reason": "?"}', "not Correct/Error"),
    ('{"verdict": "Correct"}', "missing"),
    ('{"verdict": 1, "reason": "x"}', "not Correct/Error"),
    ('{"verdict": "Error", "reason": ["a"]}', "not a string"),
    ("Correct", "no JSON"),
    ("[1, 2]", "no JSON"),
    ('{"verdict": "Correct", "reason": "x"} {"verdict": "Error", "reason": "x"}', "conflicting"),
    ('{"verdict": "Correct", "verdict": "Correct", "reason": "x"}', "duplicate key"),
    ('{"verdict": "Correct", "reason": "x", "score": 4}', "unexpected key"),
    ('{"verdict": "\uff23orrect", "reason": "x"}', "not Correct/Error"),  # fullwidth C
    ('{"verdict": "Correct\u200b", "reason": "x"}', "not Correct/Error"),
    ('{"verdict": "Correct", "reason": "\ud800"}', "lone surrogate"),  # a raw one
    ('{"verdict": "Correct", "reason": "\\ud800"}', "lone surrogate"),  # an escaped one
    ('{"verdict": "Correct", "reason": "raw \x01"}', "control character"),
    ('{"verdict": ' + "[" * 3000 + "]" * 3000 + ', "reason": "x"}', "nested too deeply"),
    ("x" * 70_000, "over the 65536-character cap"),
])
def test_parse_verdict_rejects(text, why):
    with pytest.raises(ParseError, match=why):
        parse_verdict(text)


def test_parse_verdict_checks_the_reason_length():
    reply = json.dumps({"verdict": "Correct", "reason": "r" * 11})
    assert parse_verdict(reply) == ("Correct", "r" * 11) == parse_verdict(reply, 11)
    with pytest.raises(ParseError, match="11 characters, over maxLength 10"):
        parse_verdict(reply, 10)




def test_retries_until_parsed_and_keeps_failures_unparsed():
    qq = q(1)
    pairs = [(qq, _path(qq, "a1", 0)), (qq, _path(qq, "a1", 1))]
    good = json.dumps({"verdict": "Error", "reason": "r"})

    def replies(req):  # the first path parses on its second attempt, the second never
        return good if (req.sample == 1 and req.seed == pairs[0][1].seed + 1) else "garbage"

    llm = fake_llm(replies)
    out = list(run(pairs, llm, P))
    (v1, e1), (v2, e2) = out
    assert v1.verdict == "Error" and v1.parsed and v1.attempts == 2 and len(e1) == 1
    assert v2.verdict is None and not v2.parsed and v2.attempts == 3 and v2.error
    assert llm.backend.seen == [2, 2, 1]  # only unparsed paths are re-asked
    assert v1.prompt_tokens == 20 and v2.prompt_tokens == 30


def test_prompt_shows_gold_letter_and_text():
    from reasonmed.method.verification import request_for
    qq = q(3)
    path = _path(qq, "a1", 0)
    r = request_for(qq, path.cot, path.seed, P, attempt=0)
    user = r.messages[-1][1]
    assert "[Correct Answer]\nB. asthma 3" in user and r.schema["properties"]["verdict"]["enum"]

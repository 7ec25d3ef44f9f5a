"""evaluate's judge fallback (reasonmed/method/judge.py) on the fake backend: the schema, who
is asked (no-answer outputs only, plus the seeded agreement sample), failures recorded and
never a letter, strict+judge beside strict, the agreement figures (rate, Cohen's kappa).

Converse checks: an output strict read is never changed by the judge; a failed or unparsed
judge reply is no letter; kappa is undefined (None), not 1, when one label is all there is.
"""

import pytest

from reasonmed.core.failures import Failures
from reasonmed.core.records import Question, question_id
from reasonmed.llm.types import Completion
from reasonmed.method import judge
from reasonmed.method.accuracy import metrics_of, results_table
from reasonmed.method.evaluate import Params, Prediction
from reasonmed.method.judging import ParseError
from tests.doubles import fake_llm

OPTS = {"A": "gout", "B": "asthma", "C": "cystitis", "D": "pneumonia"}
P = Params(models={}, prompt="stages/prompts/evaluate.md", temperature=0.5, top_p=0.9,
           max_tokens=16, n_resamples=200, judge="judge", judge_agreement_sample=2)


def q(i: int, answer: str = "B", options: dict | None = None) -> Question:
    options = options or OPTS
    stem = f"Case {i}: wheeze. Diagnosis?"
    return Question(id=question_id(stem, options, None), source="t", split="test", question=stem,
                    options=options, answer=answer, answer_text=options[answer])


def pred(qq: Question, output: str, strict: str | None, col: str = "medqa") -> Prediction:
    return Prediction(
        benchmark="medqa", column=col, subject=None, question_id=qq.id, source="t",
        source_id=None, gold=qq.answer, letters="".join(qq.options), output=output,
        finish_reason="stop", empty=not output, strict=strict, huatuo_first=strict or "A",
        huatuo_last=strict or "A", huatuo_type=1, strict_correct=strict == qq.answer,
        strict_judge=strict, strict_judge_correct=strict == qq.answer,
        huatuo_first_correct=(strict or "A") == qq.answer,
        huatuo_last_correct=(strict or "A") == qq.answer, model="m", revision="r", seed=0,
        prompt_tokens=1, completion_tokens=1, prompt_hash="h")


def test_schema_is_an_enum_of_the_items_letters_and_none():
    s = judge.schema("ABC")
    assert s["properties"]["letter"]["enum"] == ["A", "B", "C", "none"]
    assert s["required"] == ["letter"] and s["additionalProperties"] is False


@pytest.mark.parametrize("reply,letters,want", [
    ('{"letter": "B"}', "ABCD", "B"),
    ('{"letter": "b"}', "ABCD", "B"),  # API models without an enforced schema
    ('{"letter": "None"}', "ABCD", "none"),
    ('```json\n{"letter": "C"}\n```', "ABCD", "C"),
    ('The response says {"letter": "A"}.', "ABC", "A"),
    ('{"letter": "B"} {"letter": "B"}', "ABCD", "B"),  # an exact repeat is one answer
    ('{"letter": "D"}', "ABC", ParseError),  # not one of this item's letters
    ('{"letter": "B or C"}', "ABCD", ParseError),
    ('{"letter": "B"} {"letter": "C"}', "ABCD", ParseError),  # conflicting
    ('{"letter": "B", "why": "x"}', "ABCD", ParseError),  # outside the schema
    ('{"answer": "B"}', "ABCD", ParseError),
    ("B", "ABCD", ParseError),
    ("", "ABCD", ParseError),
])
def test_parse_letter_table(reply, letters, want):
    if want is ParseError:
        with pytest.raises(ParseError):
            judge.parse_letter(reply, letters)
    else:
        assert judge.parse_letter(reply, letters) == want


def _preds():
    qs = [q(i, "ABCD"[i % 4]) for i in range(8)]
    outs = [("The answer is A.", "A"), ("no idea", None), ("The answer is C.", "C"), ("  \n", None),
            ("", None), ("The answer is B.", "B"), ("it might be D", None), ("The answer is D.", "D")]
    return qs, [pred(qq, o, s) for qq, (o, s) in zip(qs, outs)]


def test_targets_are_no_answer_outputs_with_text_and_a_seeded_sample_of_read_ones():
    _, preds = _preds()
    t = judge.targets(preds, 2, seed=1)
    assert [i for i, why in t.items() if why == "no_answer"] == [1, 6]  # empties: nothing to read
    sample = [i for i, why in t.items() if why == "agreement"]
    assert len(sample) == 2 and all(preds[i].strict is not None for i in sample)
    assert judge.targets(preds, 2, seed=1) == t, "seeded"
    assert len([w for w in judge.targets(preds, 99, seed=1).values() if w == "agreement"]) == 4
    assert set(judge.targets(preds, 0, seed=1).values()) == {"no_answer"}
    draws = {tuple(i for i, w in judge.targets(preds, 2, seed=s).items() if w == "agreement")
             for s in range(20)}
    assert len(draws) > 1, "the sample follows the run seed"


def test_apply_asks_only_the_targets_with_the_schema_and_never_changes_a_strict_reading():
    qs, preds = _preds()
    questions = {("medqa", qq.id): qq for qq in qs}
    llm = fake_llm(lambda r: '{"letter": "%s"}' % r.schema["properties"]["letter"]["enum"][1])
    out = judge.apply(questions, preds, llm, P, run_seed=1, failures=Failures("evaluate"))
    asked = llm.backend.requests
    assert len(asked) == 4  # two no-answer outputs, two sampled
    assert all(r.schema == judge.schema("ABCD") and r.temperature == 0.0 for r in asked)
    assert any("no idea" in r.messages[-1][1] for r in asked)
    for before, after in zip(preds, out):
        assert (after.strict, after.strict_correct) == (before.strict, before.strict_correct)
        if before.strict is not None:
            assert after.strict_judge == before.strict  # agreement: a reading, never a change
    assert (out[1].judge, out[1].judge_reason, out[1].strict_judge) == ("B", "no_answer", "B")
    assert out[1].strict_judge_correct is True  # gold of item 1 is B
    assert (out[6].strict_judge, out[6].strict_judge_correct) == ("B", False)  # gold C
    assert out[3].judge is None and out[3].judge_reason is None  # whitespace: not asked
    s = judge.summary(out, "judge", "m")
    assert (s["no_answer"], s["no_answer_empty"], s["asked"], s["letter"], s["rescued"]) == (4, 2, 2, 2, 1)
    m = metrics_of(out, 200, 0.95, seed=1, judged=True)["total"]["micro"]
    assert (m["strict_acc"], m["strict_judge_acc"]) == (50.0, 62.5)  # 4/8, then 5/8


def test_a_failed_or_unparsed_judge_reply_is_no_letter_and_a_failure_is_recorded():
    qs, preds = _preds()
    questions = {("medqa", qq.id): qq for qq in qs}

    def reply(r):
        if "no idea" in r.messages[-1][1]:
            return Completion("", "error", 0, 0, error="503 from server", error_kind="http_503")
        return "I cannot tell."  # never parses

    failures = Failures("evaluate")
    out = judge.apply(questions, preds, fake_llm(reply), P.model_copy(update={
        "judge_agreement_sample": 0, "judge_max_attempts": 3}), run_seed=1, failures=failures)
    assert [f.item for f in failures.items] == [f"medqa/{qs[1].id}"] and failures.items[0].kind == "http_503"
    assert (out[1].judge, out[1].strict_judge, out[1].strict_judge_correct) == (None, None, False)
    assert (out[6].judge, out[6].strict_judge) == (None, None)  # unparsed after 3 attempts
    assert judge.summary(out, "judge", "m")["unread"] == 2


@pytest.mark.parametrize("strict,judged,rate,kappa", [
    ("AABB", "AABA", 75.0, 0.5),  # po .75, pe .5
    ("ABCD", "ABCD", 100.0, 1.0),
    ("AB", "BA", 0.0, -1.0),
    ("AAAA", "AAAA", 100.0, None),  # one label only: kappa undefined, not 1
])
def test_agreement_rate_and_cohens_kappa(strict, judged, rate, kappa):
    qs = [q(i) for i in range(len(strict))]
    preds = [pred(qq, "x", s).model_copy(update={"judge": j, "judge_reason": "agreement"})
             for qq, s, j in zip(qs, strict, judged)]
    a = judge.agreement(preds)
    assert (a["n"], a["rate"]) == (len(strict), rate)
    assert a["kappa"] == (pytest.approx(kappa) if kappa is not None else None)


def test_agreement_counts_none_as_a_label_and_leaves_unread_replies_out():
    qs = [q(i) for i in range(4)]
    preds = [pred(qq, "x", "A").model_copy(update={"judge": j, "judge_reason": "agreement"})
             for qq, j in zip(qs, ["A", "none", None, "A"])]
    a = judge.agreement(preds)
    assert (a["sampled"], a["n"], a["unread"], a["agree"]) == (4, 3, 1, 2)
    assert a["kappa"] == 0.0  # strict always A: no agreement beyond chance


def test_no_judge_reports_no_strict_judge_figure():
    _, preds = _preds()
    m = metrics_of(preds, 100, 0.95, seed=1)
    assert m["total"]["micro"]["strict_judge_acc"] is None
    assert m["columns"]["medqa"]["strict_judge_ci_lo"] is None
    table = results_table("x", m)
    assert "strict+judge" in table.splitlines()[1] and " - " in table.splitlines()[3]
    # strict and huatuo CIs do not depend on whether the judge ran
    j = metrics_of(preds, 100, 0.95, seed=1, judged=True)["total"]["micro"]
    assert {k: v for k, v in j.items() if not k.startswith("strict_judge")} == \
        {k: v for k, v in m["total"]["micro"].items() if not k.startswith("strict_judge")}


def test_the_judge_prompt_renders_the_question_options_and_output():
    r = judge.request_for(q(1), "The patient wheezes.", P, seed=5, attempt=1)
    system, user = r.messages[0][1], r.messages[1][1]
    assert r.messages[0][0] == "system" and "do not answer the question yourself" in system
    assert "Case 1" in user and "B. asthma" in user and "The patient wheezes." in user
    assert '"none"' in user and "A, B, C, D" in user
    assert (r.seed, r.sample, r.max_tokens) == (6, 1, P.judge_max_tokens)

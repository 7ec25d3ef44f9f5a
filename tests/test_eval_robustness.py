"""evaluate's robustness slices (reasonmed/method/robustness.py) on the fake backend: option
permutations remap the gold letter, consistency over all orders, the wrong pre-fill's place,
the answer formats' readers, the items the slices run on, and the paired comparison.

Converse checks: no permutation is the original order; an order with no answer is never
consistent; an output in another format than asked is not `followed` (strict still reads it).
"""

from pathlib import Path

import pytest

from reasonmed.core.failures import Failures
from reasonmed.core.records import Question, question_id
from reasonmed.llm.types import Completion
from reasonmed.method import robustness as rb
from reasonmed.method.evaluate import Params, Robustness, request_for
from tests.doubles import fake_llm

OPTS = {"A": "gout", "B": "asthma", "C": "cystitis", "D": "pneumonia"}
YNM = {"A": "yes", "B": "no", "C": "maybe"}
P = Params(models={}, prompt="stages/prompts/evaluate.md", temperature=0.5, top_p=0.9,
           max_tokens=16, n_resamples=200)


def q(i: int, answer: str = "B", options: dict | None = None) -> Question:
    options = options or OPTS
    stem = f"Case {i}: wheeze. Diagnosis?"
    return Question(id=question_id(stem, options, None), source="t", split="test", question=stem,
                    options=options, answer=answer, answer_text=options[answer])


# --- permutations ------------------------------------------------------------------------------


@pytest.mark.parametrize("order,options,gold,want_options,want_gold", [
    ("CABD", OPTS, "B", {"A": "cystitis", "B": "gout", "C": "asthma", "D": "pneumonia"}, "C"),
    ("DCBA", OPTS, "A", {"A": "pneumonia", "B": "cystitis", "C": "asthma", "D": "gout"}, "D"),
    ("BCA", YNM, "C", {"A": "no", "B": "maybe", "C": "yes"}, "B"),
    ("ABDC", OPTS, "D", {"A": "gout", "B": "asthma", "C": "pneumonia", "D": "cystitis"}, "C"),
])
def test_permute_moves_the_texts_and_remaps_the_gold(order, options, gold, want_options, want_gold):
    p = rb.permute(q(1, gold, options), order)
    assert p.options == want_options and p.answer == want_gold
    assert p.options[p.answer] == options[gold]  # the gold text, wherever it went
    assert p.id == q(1, gold, options).id  # the item keeps its id (pairing, seeds)


@pytest.mark.parametrize("options,k,distinct", [(OPTS, 2, 2), (OPTS, 23, 23), (YNM, 7, 5),
                                                ({"A": "x", "B": "y"}, 3, 1)])
def test_orders_are_seeded_never_the_original_and_distinct_while_possible(options, k, distinct):
    qq = q(3, "A", options)
    got = rb.orders(qq, k, run_seed=1)
    assert len(got) == k and len(set(got)) == distinct
    assert "".join(options) not in got
    assert all(sorted(o) == sorted(options) for o in got)
    assert got == rb.orders(qq, k, run_seed=1)
    assert rb.orders(qq, 0, run_seed=1) == []


@pytest.mark.parametrize("first,others,want", [
    ("asthma", ["asthma", "asthma"], True),
    ("asthma", ["asthma", "gout"], False),
    (None, [None, None], False),  # no answer anywhere: not "the same answer"
    ("asthma", [None, "asthma"], False),
    ("asthma", [], True),
])
def test_consistency_is_the_same_option_text_in_every_order(first, others, want):
    assert rb.consistent(first, others) is want


# --- pre-fill and formats -------------------------------------------------------------------


def test_prefill_is_a_wrong_options_sentence_at_the_end_of_the_user_turn():
    qq = q(2, "B")
    w = rb.wrong_letter(qq, run_seed=1)
    assert w != "B" and w == rb.wrong_letter(qq, run_seed=1)
    assert {rb.wrong_letter(q(i, "B"), 1) for i in range(30)} == {"A", "C", "D"}
    r = rb.prefill_request(qq, P, seed=9, letter=w)
    clean = request_for(qq, P, seed=9)
    assert len(r.messages) == 1 and r.messages[0][0] == "user"  # no assistant prefill (documented)
    user = r.messages[0][1]
    assert user.startswith(clean.messages[0][1] + "\n\n")  # the clean prompt, then the push
    assert user.endswith(rb.JUSTIFY.format(text=OPTS[w], letter=w))
    assert (r.seed, r.temperature, r.max_tokens) == (9, 0.5, 16)


@pytest.mark.parametrize("fmt", sorted(rb.FORMATS))
def test_format_requests_replace_the_strict_closing_line(fmt):
    user = rb.format_request(q(1), P, seed=3, fmt=fmt).messages[-1][1]
    assert user.endswith(rb.FORMATS[fmt]) and '"The answer is X."' not in user
    assert "D. pneumonia" in user


@pytest.mark.parametrize("fmt,text,options,want", [
    ("text", "Asthma.", OPTS, "B"),
    ("text", "**asthma**", OPTS, "B"),
    ("text", "The wheeze and history fit.\nasthma", OPTS, "B"),  # the last line
    ("text", "<think>gout?</think>\nCystitis", OPTS, "C"),  # the final-answer region
    ("text", "maybe", YNM, "C"),
    ("text", "I think asthma", OPTS, None),
    ("text", "The answer is B.", OPTS, None),  # not the option text
    ("text", "", OPTS, None),
    ("text", "x", {"A": "same", "B": "Same"}, None),  # content cannot tell them apart
    ("json", '{"answer": "C"}', OPTS, "C"),
    ("json", '```json\n{"answer": "c"}\n```', OPTS, "C"),
    ("json", 'Here: {"answer": "(B)"}', OPTS, "B"),
    ("json", '{"answer": "E"}', OPTS, None),
    ("json", '{"answer": 2}', OPTS, None),
    ("json", '{"answer": "B"} {"answer": "C"}', OPTS, None),
    ("json", '{"answer": "B"', OPTS, None),
    ("json", "The answer is B.", OPTS, None),
    ("letter", "B", OPTS, "B"),
    ("letter", "(c).", OPTS, "C"),
    ("letter", "**D**", OPTS, "D"),
    ("letter", "B because of the wheeze", OPTS, None),
    ("letter", "E", OPTS, None),
])
def test_format_readers(fmt, text, options, want):
    assert rb.read_format(fmt, text, options) == want


# --- the items, asking, the comparison --------------------------------------------------------


def _items(n_per_col=4):
    return [(b, col, q(10 * j + i, "ABCD"[i % 4])) for j, (b, col) in enumerate(
        [("medqa", "medqa"), ("mmlu", "mmlu/anatomy")]) for i in range(n_per_col)]


def test_subset_keeps_at_most_limit_per_column_in_order():
    items = _items()
    sub = rb.subset(items, 2, seed=1)
    assert len(sub) == 4 and [c for _, c, _ in sub].count("medqa") == 2
    assert sub == [it for it in items if it in sub], "the items' order"
    assert set(map(id, rb.subset(items, 1, seed=1))) <= set(map(id, sub)), "smaller: a subset"
    assert rb.subset(items, None, seed=1) == items


def _clean(items, letter="A"):
    from tests.test_eval_judge import pred

    return [pred(qq, f"The answer is {letter}.", letter, col).model_copy(update={"benchmark": b})
            for b, col, qq in items]


def test_ask_seeds_each_slice_by_item_and_name_and_reads_each_slice():
    items = _items(2)
    p = P.model_copy(update={"robustness": Robustness(permutations=2, prefill_wrong=True,
                                                      formats=["json", "text"])})
    llm = fake_llm(lambda r: '{"answer": "A"}' if "JSON" in r.messages[-1][1] else "The answer is A.")
    rows = rb.ask(items, llm, p, run_seed=1, failures=Failures("evaluate"))
    names = ["permute_1", "permute_2", "prefill_wrong", "format_json", "format_text"]
    assert [r.slice for r in rows] == names * len(items)
    assert len({r.seed for r in rows}) == len(rows), "seeded by item and slice"
    again = rb.ask(items, fake_llm("x"), p, run_seed=1, failures=Failures("evaluate"))
    assert [r.seed for r in again] == [r.seed for r in rows]
    for r, (_, _, qq) in zip(rows, [it for it in items for _ in names]):
        assert r.answer == "A" and r.correct == (r.gold == "A")
        if r.slice.startswith("permute"):
            assert r.order != "ABCD" and r.answer_text == OPTS[r.order[0]]
            assert OPTS[r.order["ABCD".index(r.gold)]] == qq.answer_text
        else:
            assert r.gold == qq.answer
    assert all(r.prefill not in (None, r.gold) for r in rows if r.slice == "prefill_wrong")
    j = [r for r in rows if r.slice == "format_json"]
    t = [r for r in rows if r.slice == "format_text"]
    assert all(r.followed for r in j) and not any(r.followed for r in t)  # strict read those
    assert all(r.answer == "A" for r in t)


def test_a_failed_slice_request_is_a_failure_and_no_row():
    items = _items(1)
    p = P.model_copy(update={"robustness": Robustness(prefill_wrong=True)})
    failures = Failures("evaluate")
    rows = rb.ask(items, fake_llm(lambda r: Completion("", "error", 0, 0, error="x",
                                                       error_kind="timeout")), p, 1, failures)
    assert rows == [] and [f.item.rsplit("/", 1)[1] for f in failures.items] == ["prefill_wrong"] * 2


def test_metrics_pair_each_slice_with_clean_and_measure_consistency():
    items = _items(4)  # gold A, B, C, D per column
    clean = _clean(items, "A")  # right on the two gold-A items
    questions = {(b, qq.id): qq for b, _, qq in items}
    p = P.model_copy(update={"robustness": Robustness(permutations=2, prefill_wrong=True)})

    def reply(r):  # always the text "gout" (whatever letter it now has), except prefill: A
        user = r.messages[-1][1]
        if "Start your reasoning" in user:
            return "The answer is A."
        letter = next(line[0] for line in user.splitlines() if line[1:] == ". gout")
        return f"The answer is {letter}."

    rows = rb.ask(items, fake_llm(reply), p, run_seed=1, failures=Failures("evaluate"))
    m = rb.metrics(rows, clean, questions, p, run_seed=1, n_items=len(items))
    perm = m["permutations"]
    assert (perm["n"], perm["consistency"], perm["consistent_items"]) == (8, 100.0, 8)
    assert perm["mean_acc"] == perm["clean_acc"] == 25.0 and perm["diff"] == 0.0
    s = m["slices"]["permute_1"]
    assert (s["n"], s["acc"], s["clean_acc"], s["diff"], s["only_slice"], s["only_clean"]) == \
        (8, 25.0, 25.0, 0.0, 0, 0)
    pre = m["slices"]["prefill_wrong"]
    assert pre["clean_acc"] == 25.0 and pre["ci_lo"] <= pre["diff"] <= pre["ci_hi"]
    # the pre-filled letter is never the gold: an "A" is adopted exactly where A is wrong
    assert pre["adopted_wrong"] == 100 * sum(r.prefill == "A" for r in rows
                                             if r.slice == "prefill_wrong") / 8
    # a model that always answers the letter A is inconsistent wherever A moved
    rows2 = rb.ask(items, fake_llm("The answer is A."), p, run_seed=1, failures=Failures("e"))
    assert rb.metrics(rows2, clean, questions, p, 1, len(items))["permutations"]["consistency"] == 0.0
    assert m == rb.metrics(rows, clean, questions, p, run_seed=1, n_items=len(items)), "seeded"
    # the evaluate stage's one terminal line names the worst slice
    from reasonmed.method.evaluate_row import summary_line

    micro = {"n": 8, "strict_acc": 25.0, "strict_ci_lo": 0.0, "strict_ci_hi": 50.0}
    line = summary_line("x", {"total": {"micro": micro}}, m, Path("out"))
    worst = min((k for k, e in m["slices"].items() if e["n"]), key=lambda k: m["slices"][k]["diff"])
    assert line.startswith("evaluate x: strict 25.0% [0.0, 50.0] of 8 items; worst slice " + worst)
    assert "\n" not in line


def test_a_question_in_two_columns_or_twice_in_one_is_counted_each_time():
    # MMLU holds questions under two subjects: the same id (content hash) in two columns
    qq, other = q(1, "A"), q(2, "B")
    items = [("mmlu", "mmlu/anatomy", qq), ("mmlu", "mmlu/anatomy", other),
             ("mmlu", "mmlu/genetics", qq), ("mmlu", "mmlu/genetics", qq)]
    assert rb.subset(items, 2, seed=1) == items and len(rb.subset(items, 1, seed=1)) == 2
    clean = [c.model_copy(update={"benchmark": "mmlu", "column": col})
             for c, (_, col, _) in zip(_clean(items, "A"), items)]
    p = P.model_copy(update={"robustness": Robustness(permutations=1, prefill_wrong=True)})
    rows = rb.ask(items, fake_llm("The answer is A."), p, 1, Failures("evaluate"))
    m = rb.metrics(rows, clean, {("mmlu", x.id): x for x in (qq, other)}, p, 1, len(items))
    assert m["slices"]["prefill_wrong"]["n"] == 4 and m["permutations"]["n"] == 4


@pytest.mark.parametrize("bad", [{"formats": ["text", "text"]}, {"formats": ["yaml"]},
                                 {"permutations": -1}, {"limit": 0}, {"prefill": True}])
def test_bad_robustness_params_name_the_key(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=next(iter(bad))):
        Robustness(**bad)

"""summarize: which chosen CoTs are summarized, answer letters, bounded retries, order."""

from collections import Counter

import pytest

from reasonmed.method.summarize import Params, run, select
from tests.test_generate import q
from tests.test_refine import ranked, scripted, user_of

P = Params(model="summarizer", temperature=0.5, top_p=0.95, max_tokens=32,
           prompt="stages/prompts/summarize.md")


def refined(qq, k, kept=True):
    c = ranked(qq, k, k)
    return c.model_copy(update={"id": f"{c.source_path_id}/refined{k}", "origin": "refined",
                                "kept": kept})


def optimized(qq, k):
    c = ranked(qq, k, k, tier="difficult", cot=f"deep cot {k}")
    return c.model_copy(update={"id": f"{c.source_path_id}/optimized{k}", "origin": "optimized"})


def test_select_takes_easy_ranked_and_kept_refined_and_optimized():
    qq, counts = q(1), Counter()
    got = select([ranked(qq, 0, 0, tier="easy"), ranked(qq, 1, 1)],
                 [refined(qq, 0), refined(qq, 1, kept=False)], [optimized(qq, 0)], counts)
    assert [c.origin for c in got] == ["ranked", "refined", "optimized"]
    assert counts == Counter(passed_over_ranked_medium=1, passed_over_not_kept=1)


def summarize(reply, p=P):
    q1, q2, q3 = q(1), q(2), q(3)
    joined = [(q1, [ranked(q1, 0, 0, tier="easy")], [], []),
              (q2, [ranked(q2, 0, 0)], [refined(q2, 0), refined(q2, 1)], []),
              (q3, [], [], [optimized(q3, 0)])]
    llm, counts = scripted("models/agent1", reply), Counter()
    return list(run(joined, llm, p, run_seed=7, counts=counts)), llm, counts


def test_summaries_state_letters_in_question_order():
    def reply(r):
        return "The answer is B. asthma, because wheeze." if "Case 1" in user_of(r) else "It is C."

    out, llm, counts = summarize(reply)
    assert [s.question_id for s in out] == [q(1).id, q(2).id, q(2).id, q(3).id]
    assert out[0].chosen_id.endswith("/ranked0") and out[3].chosen_id.endswith("/optimized0")
    assert (out[0].answer, out[0].states_gold) == ("B", True)
    assert (out[1].answer, out[1].states_gold) == (None, False)  # no explicit statement
    assert len(llm.backend.batches) == 1  # require_answer off: letterless summaries are kept as they are
    user = user_of(llm.backend.batches[0][0])
    assert "[Chain of Thought]\noriginal cot" in user and "B. asthma 1" in user
    assert counts["in_easy"] == 1 and counts["in_medium"] == 2 and counts["in_difficult"] == 1


def test_retries_empty_and_letterless_replies_when_required():
    def reply(r):  # attempt 0: empty / letterless; attempt 1: states a letter
        return "Final answer: A" if r.sample == 1 else ("" if "Case 3" in user_of(r) else "hmm")

    out, llm, counts = summarize(reply, P.model_copy(update={"require_answer": True}))
    assert [len(b) for b in llm.backend.batches] == [4, 4]
    assert llm.backend.batches[1][0].seed == llm.backend.batches[0][0].seed + 1
    assert all(s.answer == "A" and not s.states_gold for s in out)
    assert out[0].prompt_tokens == 200  # tokens of both attempts
    out, llm, counts = summarize(lambda r: "", P)
    assert [len(b) for b in llm.backend.batches] == [4, 4, 4]  # empty replies: bounded retries
    assert counts["still_failing_after_retries"] == 4 and all(s.summary == "" for s in out)


@pytest.mark.slow
def test_real_tiny_summarizer(tiny_models, tmp_path):
    from reasonmed.core.params import ModelSpec, RunParams
    from reasonmed.llm.client import LLM
    llm = LLM("summarizer", ModelSpec(backend="hf", model=tiny_models["agent"]),
              RunParams(cache=str(tmp_path / "c.sqlite")), stage="summarize")
    q1 = q(1)
    out = list(run([(q1, [ranked(q1, 0, 0, tier="easy")], [refined(q1, 1)], [])], llm,
                   P.model_copy(update={"max_tokens": 16}), run_seed=7))
    assert [s.chosen_id for s in out] == [ranked(q1, 0, 0).id, refined(q1, 1).id]
    assert all(s.completion_tokens <= 16 * P.max_attempts and s.model == tiny_models["agent"]
               for s in out)

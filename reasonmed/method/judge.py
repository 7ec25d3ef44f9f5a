"""The judge fallback of evaluate: a model asked which option an output commits to, for the
outputs the strict reader reads as "no answer", reported beside strict, never merged into it.

Who is asked: every prediction whose strict reading is None and whose output is not empty or
whitespace-only (nothing to read: no request, no letter), plus a seeded sample of
`evaluate.judge_agreement_sample` outputs strict did read (ordered by sha256 of the run seed
and the item, so the same items are drawn on every run), which makes the judge's agreement
with strict measurable. The judge role (`evaluate.judge`, a role under `models`) gets
stages/prompts/judge.md and a JSON schema whose `letter` is an enum of the item's option
letters and "none"; the reply is checked against that schema client-side too
(reasonmed/method/judging.py, the parser every judge role shares). A reply that never
parses leaves `judge` None (counted as `unparsed`); a failed request goes to failures/.
Neither is ever a letter.

strict+judge: strict's letter where strict read one, else the judge's letter ("none", no
reply, a failure: no answer, wrong). Agreement: on the sampled outputs strict read, the
share where the judge names the same option, and Cohen's kappa (scikit-learn) over the
labels the item letters and "none".

    python -c "from reasonmed.method.judge import schema; print(schema('ABC'))"
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from reasonmed.core.failures import Failures
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.records import Question
from reasonmed.core.seeds import path_seed
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Request
from reasonmed.method.evaluate import Params, Prediction
from reasonmed.method.judging import answers, check_object, judge, one

NONE = "none"


def schema(letters: str) -> dict:
    """The reply schema: {"letter": one of `letters` or "none"} (an enum: outlines honours it)."""
    return {"type": "object", "additionalProperties": False, "required": ["letter"],
            "properties": {"letter": {"type": "string", "enum": [*letters, NONE]}}}


def _case(obj: dict) -> dict:
    # API models without an enforced schema write "b" or "None": the same readings.
    v = obj.get("letter")
    if isinstance(v, str) and v.isascii():
        s = v.strip(" \t\n\r")
        return {**obj, "letter": NONE if s.lower() == NONE else s.upper() if len(s) == 1 else v}
    return obj


def parse_letter(text: str, letters: str) -> str:
    """The letter (or "none") a judge reply gives; judging.ParseError says why not."""
    s = schema(letters)
    (letter,) = one([(check_object(_case(o), s)["letter"],) for o in answers(text, s)])
    return letter


def _parse(text: str, r: Request) -> tuple[str, None]:
    """judging.judge's parser: the reply against the letters the request's schema sent."""
    return parse_letter(text, "".join(r.schema["properties"]["letter"]["enum"][:-1])), None


def _key(seed: int, p: Prediction) -> str:
    return hashlib.sha256(f"{seed}:judge:{p.benchmark}/{p.question_id}".encode()).hexdigest()


def targets(preds: Sequence[Prediction], sample: int, seed: int) -> dict[int, str]:
    """{index: reason}: every no-answer output with text (no_answer), and the first `sample`
    outputs strict read in the seeded order (agreement)."""
    out = {i: "no_answer" for i, p in enumerate(preds) if p.strict is None and p.output.strip()}
    read = sorted((i for i, p in enumerate(preds) if p.strict is not None),
                  key=lambda i: (_key(seed, preds[i]), i))
    out.update({i: "agreement" for i in read[:sample]})
    return dict(sorted(out.items()))


def request_for(q: Question, output: str, p: Params, seed: int, attempt: int) -> Request:
    # The PubMedQA abstract is left out: reading which option an output names needs the
    # question and the options, and the abstract would multiply the judge's prompt tokens.
    system, user = load_prompt(p.judge_prompt).render(
        question=q.question, options=format_options(q.options), output=output,
        letters=", ".join(q.options))
    return Request.chat(system, user, temperature=p.judge_temperature, top_p=1.0,
                        max_tokens=p.judge_max_tokens, seed=seed + attempt, sample=attempt,
                        schema=schema("".join(q.options)))


def apply(questions: dict[tuple[str, str], Question], preds: list[Prediction], llm: LLM,
          p: Params, run_seed: int, failures: Failures) -> list[Prediction]:
    """`preds` with the judge's readings on its targets (same order, same length)."""
    todo = targets(preds, p.judge_agreement_sample, run_seed)
    items = [(i, questions[(preds[i].benchmark, preds[i].question_id)]) for i in todo]
    seeds = {i: path_seed(run_seed, f"evaluate/judge/{preds[i].benchmark}/{preds[i].question_id}")
             for i in todo}
    got = judge(items, lambda it, attempt: request_for(it[1], preds[it[0]].output, p,
                                                       seeds[it[0]], attempt),
                _parse, llm, p.judge_max_attempts)
    out = list(preds)
    for (i, _), j in zip(items, got):
        pr = preds[i]
        if j.failure is not None:
            failures.add(llm.role, f"{pr.benchmark}/{pr.question_id}", j.failure)
        letter = j.value if j.failure is None else None
        update = {"judge": letter, "judge_reason": todo[i]}
        if todo[i] == "no_answer":
            sj = letter if letter not in (None, NONE) else None
            update |= {"strict_judge": sj, "strict_judge_correct": sj == pr.gold}
        out[i] = pr.model_copy(update=update)
    return out


def agreement(preds: Sequence[Prediction]) -> dict:
    """The judge against strict on the sampled outputs strict read (a reply that never
    parsed or failed is left out, and counted)."""
    sample = [p for p in preds if p.judge_reason == "agreement"]
    both = [p for p in sample if p.judge is not None]
    out = {"sampled": len(sample), "n": len(both), "unread": len(sample) - len(both),
           "agree": sum(p.judge == p.strict for p in both), "rate": None, "kappa": None}
    if both:
        out["rate"] = round(100 * out["agree"] / len(both), 2)
        out["kappa"] = kappa([p.strict for p in both], [p.judge for p in both])
    return out


def kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two label sequences, rounded; None where it is undefined (one label
    only in both: chance agreement is 1)."""
    import warnings

    from sklearn.metrics import cohen_kappa_score

    labels = sorted(set(a) | set(b))
    if len(labels) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        k = float(cohen_kappa_score(list(a), list(b), labels=labels))
    return None if k != k else round(k, 4)


def summary(preds: Sequence[Prediction], role: str | None, model: str | None) -> dict:
    """results.json's `judge`: who judged, what the no-answer outputs read as, agreement."""
    asked = [p for p in preds if p.judge_reason == "no_answer"]
    return {"role": role, "model": model,
            "no_answer": sum(p.strict is None for p in preds),
            "no_answer_empty": sum(p.strict is None and not p.output.strip() for p in preds),
            "asked": len(asked),
            "letter": sum(p.judge not in (None, NONE) for p in asked),
            "none": sum(p.judge == NONE for p in asked),
            "unread": sum(p.judge is None for p in asked),  # never parsed, or failed
            "rescued": sum(p.strict_judge_correct for p in asked),  # now right
            "agreement": agreement(preds)}

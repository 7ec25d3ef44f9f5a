"""Response summarizing: a concise answer summary ("Response") for every chosen CoT kept.

The summarize stage reads collect's questions and the chosen CoTs of rank (easy tier only:
its medium ones are superseded by refine's), refine and optimize (kept ones), all in
question order, and streams them in lockstep; it writes one `Summary` per summarized CoT in
question order (rank's, then refine's, then optimize's within a question). Method step: the
Response Summarizer (docs/method.md section 9.1).

Deviation: the authors' prompt is a bare "summarise this", whose summaries often state no
answer letter; this prompt shows the question and options and asks for "The answer is
<letter>. <text>" plus the key reasons. `answer` is the letter the summary states (None if
none; strict reading, reasonmed/method/answers.py) and `states_gold` compares it with the gold
letter. An empty reply (or backend error) is re-asked with a fresh sample, and so is one
stating no letter when `require_answer` is set, up to `max_attempts`; what is left is
written and counted, never dropped silently.

    python -c "from reasonmed.method.summarize import select; help(select)"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice

from reasonmed.core.failures import Failures
from reasonmed.core.params import Sampling
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.reasoning import split_reasoning
from reasonmed.core.records import Chosen, Question, Summary
from reasonmed.core.seeds import path_seed
from reasonmed.core.stage import token_totals
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Completion, Request
from reasonmed.method.answers import extract

# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("summarized", "with_letter", "states_gold", "truncated", "failed")


class Params(Sampling):
    model: str  # role name under `models` (the summarizer)
    require_answer: bool = False  # re-ask a summary that states no answer letter
    max_attempts: int = 3  # authors: no retry on content (failed API calls are skipped)
    prompt: str
    batch_questions: int = 256  # per backend call: which can share an hf batch (hashed)


def select(ranked: list[Chosen], refined: list[Chosen], optimized: list[Chosen],
           counts: Counter) -> list[Chosen]:
    """The CoTs of one question to summarize; counts what is passed over and why."""
    out = []
    for c in ranked:
        if c.tier != "easy":
            counts[f"passed_over_ranked_{c.tier}"] += 1  # medium: superseded by refine
        elif not c.kept:
            counts["passed_over_not_kept"] += 1
        else:
            out.append(c)
    for c in refined + optimized:
        if c.kept:
            out.append(c)
        else:
            counts["passed_over_not_kept"] += 1
    return out


def request_for(q: Question, c: Chosen, p: Params, run_seed: int, attempt: int) -> Request:
    system, user = load_prompt(p.prompt).render(
        question=q.question, context=q.context, options=format_options(q.options), cot=c.cot)
    return Request.chat(system, user, temperature=p.temperature, top_p=p.top_p,
                        max_tokens=p.max_tokens, sample=attempt,
                        seed=path_seed(run_seed, f"{c.id}/summary") + attempt)


def summary_of(q: Question, c: Chosen, comp: Completion, model: str, prompt_hash: str,
               tokens: tuple[int, int]) -> Summary:
    raw = comp.text
    text = split_reasoning(raw)[0]
    answer = extract(raw, q.options)  # strict: the final-answer region of the raw reply
    return Summary(chosen_id=c.id, question_id=q.id, summary=text, answer=answer,
                   states_gold=answer == q.answer, finish_reason=comp.finish_reason,
                   model=model, prompt_hash=prompt_hash, prompt_tokens=tokens[0],
                   completion_tokens=tokens[1])


def needs_retry(s: Summary, p: Params) -> bool:
    return not s.summary or (p.require_answer and s.answer is None)


def summarize(items: list[tuple[Question, Chosen]], llm: LLM, p: Params, run_seed: int,
              counts: Counter, failures: Failures) -> list[Summary]:
    """One summary per item; re-ask only the ones that need it, up to max_attempts. An item
    whose request failed yields no summary (it goes to `failures`, asked again next run)."""
    prompt_hash = load_prompt(p.prompt).hash
    out: list[Summary | None] = [None] * len(items)
    tokens = [(0, 0)] * len(items)
    todo = list(range(len(items)))
    for attempt in range(p.max_attempts):
        if not todo:
            break
        counts[f"attempt_{attempt + 1}"] += len(todo)
        comps = llm.generate([request_for(*items[i], p, run_seed, attempt) for i in todo])
        retry = []
        for i, comp in zip(todo, comps):
            if comp.failed:
                failures.add(llm.role, items[i][1].id, comp)
                out[i] = None
                continue
            tokens[i] = (tokens[i][0] + comp.prompt_tokens, tokens[i][1] + comp.completion_tokens)
            out[i] = summary_of(*items[i], comp, llm.spec.model, prompt_hash, tokens[i])
            if needs_retry(out[i], p):
                retry.append(i)
        todo = retry
    counts["still_failing_after_retries"] += len(todo)
    return [s for s in out if s is not None]


def run(joined: Iterable[tuple[Question, list[Chosen], list[Chosen], list[Chosen]]], llm: LLM,
        p: Params, run_seed: int, counts: Counter | None = None,
        failures: Failures | None = None) -> Iterator[Summary]:
    """Yield summaries in question order; `joined` = join_by_question(questions, 3 chosen)."""
    counts = counts if counts is not None else Counter()
    failures = failures if failures is not None else Failures("summarize")
    it = iter(joined)
    while batch := list(islice(it, p.batch_questions)):
        items = []
        for q, ranked, refined, optimized in batch:
            counts["chosen_in"] += len(ranked) + len(refined) + len(optimized)
            chosen = select(ranked, refined, optimized, counts)
            for c in chosen:
                counts[f"in_{c.tier}"] += 1
            items += [(q, c) for c in chosen]
        if items:
            yield from summarize(items, llm, p, run_seed, counts, failures)


def stats_of(counts: Counter, ledger: list[dict], p: Params) -> dict:
    tiers = ("easy", "medium", "difficult")
    return {
        "chosen_in": counts["chosen_in"], "in": sum(counts[f"in_{t}"] for t in tiers),
        "in_by_tier": {t: counts[f"in_{t}"] for t in tiers},
        "passed_over": {k[len("passed_over_"):]: v for k, v in sorted(counts.items())
                        if k.startswith("passed_over_")},
        **{k: counts[k] for k in ("summarized", "with_letter", "states_gold", "empty", "truncated")},
        "require_answer": p.require_answer,
        "attempts": {k[len("attempt_"):]: v for k, v in sorted(counts.items())
                     if k.startswith("attempt_")},
        "still_failing_after_retries": counts["still_failing_after_retries"],
        **token_totals(ledger)}


def count(counts: Counter, s: Summary) -> None:
    """Stats of one written summary."""
    counts.update(summarized=1, with_letter=s.answer is not None, states_gold=s.states_gold,
                  empty=not s.summary, truncated=s.finish_reason == "length")

"""Error refining (the medium tier): rewrite each ranked medium-tier CoT with the verifier's
reasons, then re-verify it.

The refine stage reads collect's questions, route's routes (the verdict and reason of every
path) and rank's chosen CoTs (top-2 per easy and medium question, in question order); it
writes one `Chosen(origin="refined")` per ranked medium CoT. Method step: the Error Refiner
(docs/method.md section 7). Easy-tier records of rank's output are passed over (counted);
summarize takes them from rank directly.

Which reasons are fed (`reasons`): `others` is the authors' code (every non-empty verifier
reason of the question's other paths, Correct ones included); `others_errors`, `errors`
(its own too) and `own` are ablations. The authors never re-verify a refined CoT; here the
verifier judges each one again (`reverify`) and `on_fail` decides what a CoT judged Error or
never parsed becomes: `keep` it, `drop` it (written with kept=false), or `keep_original`
(default): fall back to the ranked original, which the verifier had judged Correct, with
the rejected rewrite kept in its history. Nothing vanishes: every input CoT yields exactly
one record here.

Reason selection, the rewrite/re-verify/settle loop and the stage itself live in
reasonmed/method/rewriting.py, shared with optimize (one place for the keep/drop policy).

    python -c "from reasonmed.method.refine import Params; print(list(Params.model_fields))"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Literal

from reasonmed.core.failures import Failures
from reasonmed.core.records import Chosen, Question, Route
from reasonmed.core.seeds import path_seed
from reasonmed.llm.client import LLM
from reasonmed.method import verification
from reasonmed.method.rewriting import Draft, RewriteParams, Step, render_request, rewrite, select_reasons


class Params(RewriteParams):
    on_fail: Literal["keep", "drop", "keep_original"] = "keep_original"


def drafts_for(q: Question, route: Route, ranked: list[Chosen], p: Params,
               run_seed: int) -> list[Draft]:
    out = []
    for c in ranked:
        did = f"{c.source_path_id}/refined{c.rank}"
        reasons = select_reasons(route, c.source_path_id, p.reasons)
        out.append(Draft(
            question=q, id=did, tier=c.tier, origin="refined", source_path_id=c.source_path_id,
            rank=c.rank, agent=c.agent, reasons=reasons, score=c.score, history=list(c.history),
            original=c, request=render_request(p.prompt, q, c.cot, reasons, p,
                                               seed=path_seed(run_seed, did))))
    return out


def run(joined: Iterable[tuple[Question, list[Route], list[Chosen]]], writer: LLM,
        verifier: LLM | None, vp: verification.Params | None, p: Params, run_seed: int,
        counts: Counter | None = None, failures: Failures | None = None) -> Iterator[Chosen]:
    """Yield one refined record per ranked medium CoT, in question order.

    `joined` is join_by_question(questions, routes, ranked); `verifier` is None when
    p.reverify is false. `counts` collects what was passed over.
    """
    counts = counts if counts is not None else Counter()
    it = iter(joined)
    while batch := list(islice(it, p.batch_questions)):
        drafts = []
        for q, routes, ranked in batch:
            if not routes:
                raise ValueError(f"question {q.id} has no route")
            medium = [c for c in ranked if c.tier == "medium"]
            counts["ranked_in"] += len(ranked)
            counts["passed_over_other_tiers"] += len(ranked) - len(medium)
            if routes[0].tier == "medium":
                counts["medium_questions"] += 1
                counts["medium_questions_without_ranked"] += not medium
            drafts += drafts_for(q, routes[0], medium, p, run_seed)
        counts["in"] += len(drafts)
        if drafts:
            yield from rewrite(drafts, writer, verifier, vp, p, "refine", failures)


def stats(counts: Counter, p: Params) -> dict:
    return {k: counts[k] for k in ("ranked_in", "passed_over_other_tiers", "medium_questions",
                                   "medium_questions_without_ranked")}


STEP = Step(
    name="refine", description="Refine the ranked medium-tier CoTs.",
    inputs=(("routes", Route), ("ranked", Chosen)), params=Params, run=run, stats=stats,
    done=lambda c: f"refine: {c['in']} in, {c['kept']} kept, {c['dropped']} dropped")

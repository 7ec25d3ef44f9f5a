"""refine: rewrite each ranked medium-tier CoT with the verifier's reasons, then re-verify it.

Reads collect's questions, route's routes (the verdict and reason of every path) and rank's
chosen CoTs (top-2 per easy and medium question, in question order); writes one
`Chosen(origin="refined")` per ranked medium CoT to `chosen.jsonl`, plus `ledger.json` and
`stats.json`. Method step: the Error Refiner (METHOD.md section 7). Easy-tier records of
rank's output are passed over (counted); summarize takes them from rank directly.

Which reasons are fed (`reasons`): `others` is the authors' code (every non-empty verifier
reason of the question's other paths, Correct ones included); `others_errors`, `errors`
(its own too) and `own` are ablations. The authors never re-verify a refined CoT; here the
verifier judges each one again (`reverify`) and `on_fail` decides what a CoT judged Error or
never parsed becomes: `keep` it, `drop` it (written with kept=false), or `keep_original`
(default): fall back to the ranked original, which the verifier had judged Correct, with
the rejected rewrite kept in its history. Nothing vanishes: every input CoT yields exactly
one record here.

Reason selection and the rewrite/re-verify/settle loop live in reasonmed/rewriting.py,
shared with `optimize` (one place for the keep/drop policy).

    python -m stages.refine data/collect/questions.jsonl data/route/routes.jsonl \\
        data/rank/chosen.jsonl data/refine
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Literal

from reasonmed import verification
from reasonmed.failures import Failures
from reasonmed.llm import LLM
from reasonmed.params import Section, load
from reasonmed.records import Chosen, JsonlWriter, Question, Route, read_jsonl
from reasonmed.rewriting import (
    Draft,
    ReasonsPolicy,
    open_llms,
    render_request,
    rewrite,
    select_reasons,
    stats_of,
    tally,
)
from reasonmed.seeds import path_seed
from reasonmed.stage import StageRun, entry, pick
from reasonmed.streams import join_by_question

log = logging.getLogger("reasonmed.refine")
# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("in", "kept", "dropped", "reverify.correct", "failed")

class Params(Section):
    model: str  # role name under `models` (the refiner)
    temperature: float
    top_p: float
    max_tokens: int
    reasons: ReasonsPolicy = "others"
    reverify: bool = True  # authors' code: no re-verification
    on_fail: Literal["keep", "drop", "keep_original"] = "keep_original"
    prompt: str
    # questions per backend call (bounds memory; which can share an hf batch: hashed)
    batch_questions: int = 256


# --- refine --------------------------------------------------------------------------


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


def main() -> None:
    ap = argparse.ArgumentParser(description="Refine the ranked medium-tier CoTs.")
    for name in ("questions", "routes", "ranked", "out"):
        ap.add_argument(name)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    p, out, counts, failures = load("refine", Params, a.params), Path(a.out), Counter(), Failures("refine")
    st = StageRun("refine")
    run_p, writer, verifier, vp = open_llms(p.model, p, a.params, "refine")
    joined = join_by_question(read_jsonl(a.questions, Question), routes=read_jsonl(a.routes, Route),
                              ranked=read_jsonl(a.ranked, Chosen))
    with JsonlWriter(out / "chosen.jsonl") as w:
        for c in run(joined, writer, verifier, vp, p, run_p.seed, counts, failures):
            w.write(c)
            tally(counts, c, "refine")
        failures.settle(out, run_p.max_failure_rate, writer.ledger.to_list())
    ledger = writer.ledger.to_list()
    stats = stats_of(
        counts, ledger, p, **failures.summary(), ranked_in=counts["ranked_in"],
        passed_over_other_tiers=counts["passed_over_other_tiers"],
        medium_questions=counts["medium_questions"],
        medium_questions_without_ranked=counts["medium_questions_without_ranked"])
    st.finish(out, stats, writer.ledger, headline=pick(stats, HEADLINE))
    log.info("refine: %d in, %d kept, %d dropped", counts["in"], counts["kept"], counts["dropped"])


if __name__ == "__main__":
    entry(main)

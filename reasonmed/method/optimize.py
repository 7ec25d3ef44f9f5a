"""Diff optimizing (the difficult tier): new deep CoTs from the strongest model, re-verified.

The optimize stage reads collect's questions, generate's paths and route's routes; for every
difficult question it picks one source path as the authors do (the first path judged
Correct, of which this tier has 0 or 1, else the first path in path order), feeds the
verifier reasons chosen by the `reasons` policy (default `others`, the authors' code), and
asks the optimizer role for `n_per_question` new CoTs, each with its own seed and sample
index. It writes `Chosen(origin="optimized")` records. Method step: the Diff Optimizer
(docs/method.md section 8).

Deviations: the paper's count of optimized CoTs per question is unknown (the authors' script
writes one per call); the default 2 matches the two examples of the other tiers. The authors
do not re-verify; here every CoT is judged again and `on_fail` (`drop` by default: there is
no Correct original to fall back to) decides the fate of one judged Error or never parsed;
dropped CoTs are written with kept=false and questions left with none are counted. The
rewrite/re-verify/settle loop and the stage itself are reasonmed/method/rewriting.py.

    python -c "from reasonmed.method.optimize import pick_source; help(pick_source)"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Literal

from reasonmed.core.failures import Failures
from reasonmed.core.records import Chosen, CoTPath, Question, Route
from reasonmed.core.seeds import path_seed
from reasonmed.llm.client import LLM
from reasonmed.method import verification
from reasonmed.method.rewriting import Draft, RewriteParams, Step, render_request, rewrite, select_reasons

TIERS = ("easy", "medium", "difficult", "unrouted")


class Params(RewriteParams):
    n_per_question: int = 2  # paper: unknown (authors' script: one per call)
    on_fail: Literal["keep", "drop"] = "drop"


def pick_source(paths: list[CoTPath], route: Route) -> CoTPath:
    """The authors' choice: the first path judged Correct, else the first path."""
    return next((x for x in paths if route.verdicts.get(x.id) == "Correct"), paths[0])


def drafts_for(q: Question, paths: list[CoTPath], route: Route, p: Params,
               run_seed: int) -> list[Draft]:
    src = pick_source(paths, route)
    reasons = select_reasons(route, src.id, p.reasons)
    source = {"step": "source", "path_id": src.id, "agent": src.agent, "model": src.model,
              "temperature": src.temperature, "verdict": route.verdicts.get(src.id),
              "prompt_tokens": src.prompt_tokens, "completion_tokens": src.completion_tokens}
    out = []
    for k in range(p.n_per_question):
        did = f"{src.id}/optimized{k}"
        out.append(Draft(
            question=q, id=did, tier="difficult", origin="optimized", source_path_id=src.id,
            rank=k, agent=src.agent, reasons=reasons, history=[source],
            request=render_request(p.prompt, q, src.cot, reasons, p,
                                   seed=path_seed(run_seed, did), sample=k)))
    return out


def run(joined: Iterable[tuple[Question, list[CoTPath], list[Route]]], writer: LLM,
        verifier: LLM | None, vp: verification.Params | None, p: Params, run_seed: int,
        counts: Counter | None = None, failures: Failures | None = None) -> Iterator[Chosen]:
    """Yield `n_per_question` optimized records per difficult question, in question order.

    `joined` is join_by_question(questions, paths, routes). `counts` gets the questions
    passed over by tier and those left with no kept CoT.
    """
    counts = counts if counts is not None else Counter()
    it = iter(joined)
    while batch := list(islice(it, p.batch_questions)):
        drafts = []
        for q, paths, routes in batch:
            if not routes:
                raise ValueError(f"question {q.id} has no route")
            tier = routes[0].tier
            counts[f"questions_{tier}"] += 1
            if tier != "difficult":
                continue
            if not paths:  # route saw verdicts, so this means a truncated paths file
                raise ValueError(f"difficult question {q.id} has no paths")
            src = pick_source(paths, routes[0])
            counts["source_correct"] += routes[0].verdicts.get(src.id) == "Correct"
            drafts += drafts_for(q, paths, routes[0], p, run_seed)
        counts["in"] += len(drafts)
        if not drafts:
            continue
        recs = rewrite(drafts, writer, verifier, vp, p, "optimize", failures)
        kept = {c.question_id for c in recs if c.kept}
        counts["questions_without_kept"] += len({c.question_id for c in recs} - kept)
        yield from recs


def stats(counts: Counter, p: Params) -> dict:
    return {"n_per_question": p.n_per_question,
            "questions": {t: counts[f"questions_{t}"] for t in TIERS},
            "sources_judged_correct": counts["source_correct"],
            "questions_without_kept": counts["questions_without_kept"]}


STEP = Step(
    name="optimize", description="Write deep CoTs for the difficult tier.",
    inputs=(("paths", CoTPath), ("routes", Route)), params=Params, run=run, stats=stats,
    done=lambda c: (f"optimize: {c['in']} in, {c['kept']} kept, {c['dropped']} dropped, "
                    f"{c['questions_without_kept']} questions with none kept"))

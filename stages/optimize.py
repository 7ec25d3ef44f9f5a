"""optimize: new deep CoTs for difficult-tier questions from the strongest model, re-verified.

Reads collect's questions, generate's paths and route's routes; for every difficult question
picks one source path as the authors do (the first path judged Correct, of which this tier
has 0 or 1, else the first path in path order), feeds the verifier reasons chosen by the
`reasons` policy (default `others`, the authors' code), and asks the optimizer role for
`n_per_question` new CoTs, each with its own seed and sample index. Writes
`Chosen(origin="optimized")` records to `chosen.jsonl`, plus `ledger.json` and `stats.json`.
Method step: the Diff Optimizer (METHOD.md section 8).

Deviations: the paper's count of optimized CoTs per question is unknown (the authors' script
writes one per call); the default 2 matches the two examples of the other tiers. The authors
do not re-verify; here every CoT is judged again and `on_fail` (`drop` by default: there is
no Correct original to fall back to) decides the fate of one judged Error or never parsed;
dropped CoTs are written with kept=false and questions left with none are counted.

    python -m stages.optimize data/collect/questions.jsonl data/generate/paths.jsonl \\
        data/route/routes.jsonl data/optimize
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
from reasonmed.records import Chosen, CoTPath, JsonlWriter, Question, Route, read_jsonl
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

log = logging.getLogger("reasonmed.optimize")
# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("in", "kept", "dropped", "reverify.correct", "failed")


class Params(Section):
    model: str  # role name under `models` (the strongest configured model)
    temperature: float
    top_p: float
    max_tokens: int
    n_per_question: int = 2  # paper: unknown (authors' script: one per call)
    reasons: ReasonsPolicy = "others"
    reverify: bool = True  # authors' code: no re-verification
    on_fail: Literal["keep", "drop"] = "drop"
    prompt: str
    batch_questions: int = 256  # per backend call: which can share an hf batch (hashed)


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


def main() -> None:
    ap = argparse.ArgumentParser(description="Write deep CoTs for the difficult tier.")
    for name in ("questions", "paths", "routes", "out"):
        ap.add_argument(name)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    p, out, counts = load("optimize", Params, a.params), Path(a.out), Counter()
    failures = Failures("optimize")
    st = StageRun("optimize")
    run_p, writer, verifier, vp = open_llms(p.model, p, a.params, "optimize")
    joined = join_by_question(read_jsonl(a.questions, Question), paths=read_jsonl(a.paths, CoTPath),
                              routes=read_jsonl(a.routes, Route))
    with JsonlWriter(out / "chosen.jsonl") as w:
        for c in run(joined, writer, verifier, vp, p, run_p.seed, counts, failures):
            w.write(c)
            tally(counts, c, "optimize")
        failures.settle(out, run_p.max_failure_rate, writer.ledger.to_list())
    ledger = writer.ledger.to_list()
    stats = stats_of(
        counts, ledger, p, **failures.summary(), n_per_question=p.n_per_question,
        questions={t: counts[f"questions_{t}"] for t in ("easy", "medium", "difficult", "unrouted")},
        sources_judged_correct=counts["source_correct"],
        questions_without_kept=counts["questions_without_kept"])
    st.finish(out, stats, writer.ledger, headline=pick(stats, HEADLINE))
    log.info("optimize: %d in, %d kept, %d dropped, %d questions with none kept", counts["in"],
             counts["kept"], counts["dropped"], counts["questions_without_kept"])


if __name__ == "__main__":
    entry(main)

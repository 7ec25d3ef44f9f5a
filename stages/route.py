"""route: easy / medium / difficult per question, by the number of Error verdicts (EMD).

Paper (Figure 1): of 9 paths, 0-4 errors -> easy (rank, keep the top 2), 5-7 -> medium
(rank, refine the top 2), 8-9 -> difficult (regenerate with a stronger model). The bands are
params. A path whose verdict never parsed is counted separately and, by default, as an Error
(what the authors' verifier effectively does); `unparsed: unrouted` instead sets the question
aside with a reason. A question whose count falls in no band is `unrouted` too.

    python -m stages.route data/collect/questions.jsonl data/verify/verdicts.jsonl data/route
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from reasonmed.params import Section, load
from reasonmed.records import JsonlWriter, Question, Route, Verdict, read_jsonl
from reasonmed.stage import StageRun, entry, pick
from reasonmed.streams import join_by_question

log = logging.getLogger("reasonmed.route")
# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("tiers.easy", "tiers.medium", "tiers.difficult", "tiers.unrouted")


class Params(Section):
    bands: dict[Literal["easy", "medium", "difficult"], tuple[int, int]]  # inclusive error counts
    unparsed: Literal["error", "unrouted"] = "error"


def tier_of(n_error: int, bands: dict[str, tuple[int, int]]) -> str | None:
    for tier, (lo, hi) in bands.items():
        if lo <= n_error <= hi:
            return tier
    return None


def route_question(qid: str, verdicts: list[Verdict], p: Params) -> Route:
    n_unparsed = sum(v.verdict is None for v in verdicts)
    n_error = sum(v.verdict == "Error" for v in verdicts)
    n_correct = sum(v.verdict == "Correct" for v in verdicts)
    reason = None
    if n_unparsed and p.unparsed == "unrouted":
        tier, reason = None, f"{n_unparsed} unparsed verdict(s) and route.unparsed=unrouted"
    else:
        if p.unparsed == "error":
            n_error += n_unparsed
        tier = tier_of(n_error, p.bands)
        if tier is None:
            reason = f"{n_error} errors of {len(verdicts)} paths fall in no band {dict(p.bands)}"
    return Route(question_id=qid, tier=tier or "unrouted", n_paths=len(verdicts),
                 n_error=n_error, n_correct=n_correct, n_unparsed=n_unparsed, reason=reason,
                 verdicts={v.path_id: v.verdict for v in verdicts},
                 reasons={v.path_id: v.reason for v in verdicts})


def run(questions: Iterable[Question], verdicts: Iterable[Verdict], p: Params) -> Iterator[Route]:
    """One Route per question, in question order; a question with no verdicts is unrouted."""
    for q, vs in join_by_question(questions, verdicts=verdicts):
        if vs:
            yield route_question(q.id, vs, p)
        else:
            yield Route(question_id=q.id, tier="unrouted", n_paths=0, n_error=0, n_correct=0,
                        n_unparsed=0, reason="no verdicts", verdicts={}, reasons={})


def main() -> None:
    ap = argparse.ArgumentParser(description="Route questions into EMD tiers.")
    ap.add_argument("questions")
    ap.add_argument("verdicts")
    ap.add_argument("out")
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    st = StageRun("route")
    p, out = load("route", Params, a.params), Path(a.out)
    tiers, hist, unparsed = Counter(), Counter(), 0
    with JsonlWriter(out / "routes.jsonl") as w:
        for r in run(read_jsonl(a.questions, Question), read_jsonl(a.verdicts, Verdict), p):
            w.write(r)
            tiers[r.tier] += 1
            hist[r.n_error] += 1
            unparsed += r.n_unparsed
    stats = {
        "questions_in": w.count, "routed": w.count - tiers["unrouted"],
        "rejected": tiers["unrouted"], "tiers": {t: tiers[t] for t in
                                                  ("easy", "medium", "difficult", "unrouted")},
        "error_count_histogram": {str(k): hist[k] for k in sorted(hist)},
        "unparsed_verdicts": unparsed, "unparsed_policy": p.unparsed}
    st.finish(out, stats, headline=pick(stats, HEADLINE))
    log.info("route: %s", dict(tiers))


if __name__ == "__main__":
    entry(main)

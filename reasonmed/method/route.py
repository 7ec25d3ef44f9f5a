"""Routing (EMD): easy / medium / difficult per question, by the number of Error verdicts.

Paper (Figure 1): of 9 paths, 0-4 errors -> easy (rank, keep the top 2), 5-7 -> medium
(rank, refine the top 2), 8-9 -> difficult (regenerate with a stronger model). The bands are
params. A path whose verdict never parsed is counted separately and, by default, as an Error
(what the authors' verifier effectively does); `unparsed: unrouted` instead sets the question
aside with a reason. A question whose count falls in no band is `unrouted` too.

    python -c "from reasonmed.method.route import tier_of; print(tier_of(5, {'easy': (0, 4)}))"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Literal

from reasonmed.core.params import Section
from reasonmed.core.records import Question, Route, Verdict
from reasonmed.core.streams import join_by_question

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


class Tally:
    """Counts for stats.json, one route at a time."""

    def __init__(self):
        self.n, self.tiers, self.hist, self.unparsed = 0, Counter(), Counter(), 0

    def add(self, r: Route) -> None:
        self.n += 1
        self.tiers[r.tier] += 1
        self.hist[r.n_error] += 1
        self.unparsed += r.n_unparsed

    def stats(self, p: Params) -> dict:
        tiers, hist = self.tiers, self.hist
        return {
            "questions_in": self.n, "routed": self.n - tiers["unrouted"],
            "rejected": tiers["unrouted"], "tiers": {t: tiers[t] for t in
                                                      ("easy", "medium", "difficult", "unrouted")},
            "error_count_histogram": {str(k): hist[k] for k in sorted(hist)},
            "unparsed_verdicts": self.unparsed, "unparsed_policy": p.unparsed}

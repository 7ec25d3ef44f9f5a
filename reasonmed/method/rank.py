"""Quality ranking: score every Correct path of easy and medium questions 0-5, keep the top k.

The quality ranker (docs/method.md section 6) sees the question, lettered options, the gold letter
and text and one path's CoT, and answers JSON `{"score": 0-5, "justification"}` (schema
enforced by the backend, re-parsed tolerantly, bounded retries; see reasonmed/method/judging.py).
Per question the top `k` paths by score are kept, ties in path order (agent order, then
temperature slot, then sample: the order of paths.jsonl), like the authors' stable sort.
Both easy and medium questions yield `Chosen` records (origin "ranked"); refine rewrites
the medium ones. Every score is stored, chosen or not. Questions, paths and routes (all in
question order) are joined in lockstep, streaming.

    python -c "from reasonmed.method.rank import select_top; print(select_top([3, None, 5], 2))"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Literal

from reasonmed.core.failures import Failures
from reasonmed.core.params import Sampling
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.records import Chosen, CoTPath, Question, Route, Score
from reasonmed.core.seeds import path_seed
from reasonmed.core.stage import token_totals
from reasonmed.core.streams import join_by_question
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Request
from reasonmed.method.judging import Judged, judge_scores, score_schema

# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("paths_scored", "chosen", "parse_failure_rate", "failed")

SCALE = range(0, 6)  # 5 flawless ... 0 irrelevant or incorrect
RANKED_TIERS = ("easy", "medium")


class Params(Sampling):
    model: str  # role name under `models`
    justification_max_chars: int = 200
    max_attempts: int = 3
    k: int = 2
    unparsed: Literal["lowest", "exclude"] = "lowest"
    prompt: str
    # questions per backend call (at most 9x paths): which can share an hf batch (hashed)
    batch_questions: int = 128


# --- selection (pure; imported by the paper-scale benchmark) -------------------------


def select_top(scores: Sequence[int | None], k: int, unparsed: str = "lowest") -> list[int]:
    """Positions of the top-`k` entries of `scores`, best first.

    `scores` are one question's path scores in path order; None means the judge's reply
    never parsed. Ties keep path order (a stable sort, as the authors'). `unparsed`:
    "lowest" ranks None below every parsed score, 0 included (the authors give such paths a
    0, which ties with real 0s; we do not invent a score), "exclude" never picks them.
    Fewer than `k` eligible entries yield all of them (the authors' behaviour).
    """
    if unparsed not in ("lowest", "exclude"):
        raise ValueError(f"unparsed must be 'lowest' or 'exclude', not {unparsed!r}")
    idx = [i for i, s in enumerate(scores) if s is not None or unparsed == "lowest"]
    idx.sort(key=lambda i: (scores[i] is None, -(scores[i] or 0)))  # stable: ties keep order
    return idx[:k]


# --- requests ------------------------------------------------------------------------


def request_for(q: Question, path: CoTPath, p: Params, run_seed: int, attempt: int) -> Request:
    system, user = load_prompt(p.prompt).render(
        question=q.question, context=q.context, options=format_options(q.options),
        answer=q.answer, answer_text=q.answer_text, cot=path.cot)
    # Seed from the path id (stable under reordering/resharding); a new one per attempt.
    seed = path_seed(run_seed, f"rank:{path.id}") + attempt
    return Request.chat(system, user, temperature=p.temperature, top_p=p.top_p,
                        max_tokens=p.max_tokens, seed=seed, sample=attempt,
                        schema=score_schema(SCALE, p.justification_max_chars))


def skip_reason(route: Route, path: CoTPath) -> str | None:
    """Why a path is not scored, or None when it is (a Correct path of an easy/medium question)."""
    if route.tier not in RANKED_TIERS:
        return f"tier {route.tier}"
    if path.id not in route.verdicts:
        return "no verdict"
    v = route.verdicts[path.id]
    return None if v == "Correct" else f"verdict {v or 'unparsed'}"


# --- records -------------------------------------------------------------------------


@dataclass
class Ranked:
    """One question's outcome: its scores, the chosen paths and what was skipped."""

    question_id: str
    tier: str
    n_paths: int
    skipped: Counter = field(default_factory=Counter)  # reason -> paths
    scores: list[Score] = field(default_factory=list)
    chosen: list[Chosen] = field(default_factory=list)
    first_attempt_failures: int = 0
    attempts: Counter = field(default_factory=Counter)
    incomplete: bool = False  # a ranker request failed: no scores, no chosen


def to_score(path: CoTPath, s: Judged, model: str, prompt_hash: str) -> Score:
    return Score(item_id=path.id, question_id=path.question_id, score=s.value,
                 justification=s.note, parsed=s.parsed, attempts=s.attempts,
                 error=None if s.parsed else s.errors[-1], model=model,
                 prompt_hash=prompt_hash, prompt_tokens=s.prompt_tokens,
                 completion_tokens=s.completion_tokens)


def to_chosen(route: Route, path: CoTPath, score: Score, rank: int) -> Chosen:
    # Tokens on a Chosen are cumulative over the steps in its history (generate + rank here;
    # later steps add theirs). Verification tokens live in data/verify (Route has none).
    return Chosen(
        id=f"{path.id}/ranked{rank}", question_id=path.question_id, tier=route.tier,
        origin="ranked", source_path_id=path.id, rank=rank, agent=path.agent,
        model=path.model, temperature=path.temperature, cot=path.cot, score=score.score,
        verdict=route.verdicts[path.id], verify_reason=route.reasons.get(path.id),
        history=[
            {"step": "generate", "path_id": path.id, "agent": path.agent, "model": path.model,
             "temperature": path.temperature, "seed": path.seed,
             "prompt_hash": path.prompt_hash, "prompt_tokens": path.prompt_tokens,
             "completion_tokens": path.completion_tokens},
            {"step": "rank", "score": score.score, "rank": rank, "model": score.model,
             "attempts": score.attempts, "prompt_hash": score.prompt_hash,
             "prompt_tokens": score.prompt_tokens, "completion_tokens": score.completion_tokens}],
        prompt_tokens=path.prompt_tokens + score.prompt_tokens,
        completion_tokens=path.completion_tokens + score.completion_tokens)


def join(questions: Iterable[Question], paths: Iterable[CoTPath],
         routes: Iterable[Route]) -> Iterator[tuple[Question, Route, list[CoTPath]]]:
    """Lockstep join: one route per question, paths grouped per question, all in question order."""
    for q, rs, grp in join_by_question(questions, routes=routes, paths=paths):
        if len(rs) != 1:
            raise ValueError(f"routes: {len(rs)} records for question {q.id} (expected 1)")
        yield q, rs[0], grp


def run(triples: Iterable[tuple[Question, Route, list[CoTPath]]], llm: LLM, p: Params,
        run_seed: int, failures: Failures | None = None) -> Iterator[Ranked]:
    """Yield one Ranked per question, in question order. A question one of whose ranker
    requests failed gets no scores and no chosen CoTs (`incomplete`): a top-2 chosen from
    part of the candidates would not be the run's answer; its failures go to `failures`."""
    failures = failures if failures is not None else Failures("rank")
    it = iter(triples)
    prompt_hash = load_prompt(p.prompt).hash
    while batch := list(islice(it, p.batch_questions)):
        todo = [(q, path) for q, r, paths in batch for path in paths if skip_reason(r, path) is None]
        judged = iter(judge_scores(
            todo, lambda qp, attempt: request_for(*qp, p, run_seed, attempt), llm, SCALE,
            p.max_attempts))
        for q, r, paths in batch:
            out = Ranked(question_id=q.id, tier=r.tier, n_paths=len(paths))
            scored, failed = [], []
            for path in paths:
                if (why := skip_reason(r, path)) is not None:
                    out.skipped[why] += 1
                    continue
                s = next(judged)
                if s.failure is not None:
                    failed.append((path, s))
                    continue
                out.first_attempt_failures += bool(s.errors)
                out.attempts[s.attempts] += 1
                scored.append((path, to_score(path, s, llm.spec.model, prompt_hash)))
            if failed:
                for path, s in failed:
                    failures.add(llm.role, path.id, s.failure)
                out.incomplete = True
                yield out
                continue
            out.scores = [s for _, s in scored]
            top = select_top([s.score for s in out.scores], p.k, p.unparsed)
            out.chosen = [to_chosen(r, *scored[i], rank) for rank, i in enumerate(top)]
            yield out


# --- stats ---------------------------------------------------------------------------


class Tally:
    """Counts for stats.json, accumulated one question at a time."""

    def __init__(self, k: int):
        self.k, self.c, self.tiers, self.skipped = k, Counter(), Counter(), Counter()
        self.hist, self.attempts, self.chosen = Counter(), Counter(), Counter()

    def add(self, x: Ranked) -> None:
        self.tiers[x.tier] += 1
        self.skipped.update(x.skipped)
        self.attempts.update(x.attempts)
        self.hist.update(str(s.score) if s.parsed else "unparsed" for s in x.scores)
        self.chosen[x.tier] += len(x.chosen)
        c = self.c
        c["paths_in"] += x.n_paths
        c["paths_scored"] += len(x.scores)
        c["parse_failures_first_attempt"] += x.first_attempt_failures
        c["parse_failures"] += sum(not s.parsed for s in x.scores)
        c["questions_incomplete"] += x.incomplete
        if x.tier in RANKED_TIERS and not x.incomplete:
            c["questions_ranked"] += 1
            c["questions_fewer_than_k_correct"] += len(x.scores) < self.k
            c["questions_without_correct"] += not x.scores
            c["questions_fewer_than_k_chosen"] += len(x.chosen) < self.k
            c["chosen_unparsed"] += sum(ch.score is None for ch in x.chosen)

    def to_dict(self, ledger: list[dict]) -> dict:
        c, n = self.c, max(self.c["paths_scored"], 1)
        return {
            "questions_in": sum(self.tiers.values()), "questions_by_tier": {
                t: self.tiers[t] for t in ("easy", "medium", "difficult", "unrouted")},
            "questions_ranked": c["questions_ranked"], "k": self.k,
            "questions_incomplete": c["questions_incomplete"],
            "questions_fewer_than_k_correct": c["questions_fewer_than_k_correct"],
            "questions_without_correct": c["questions_without_correct"],
            "questions_fewer_than_k_chosen": c["questions_fewer_than_k_chosen"],
            "paths_in": c["paths_in"], "paths_scored": c["paths_scored"],
            "paths_skipped": dict(sorted(self.skipped.items())),
            "parse_failures_first_attempt": c["parse_failures_first_attempt"],
            "parse_failures": c["parse_failures"],
            "parse_failure_rate_first_attempt": round(c["parse_failures_first_attempt"] / n, 4),
            "parse_failure_rate": round(c["parse_failures"] / n, 4),
            "attempts": {str(k): v for k, v in sorted(self.attempts.items())},
            "score_histogram": {**{str(s): self.hist[str(s)] for s in SCALE},
                                "unparsed": self.hist["unparsed"]},
            "chosen": sum(self.chosen.values()),
            "chosen_by_tier": {t: self.chosen[t] for t in RANKED_TIERS},
            "chosen_unparsed": c["chosen_unparsed"],
            **token_totals(ledger)}

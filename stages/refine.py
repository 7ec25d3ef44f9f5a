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

The join helpers, reason selection and the rewrite/re-verify/settle logic live here and are
imported by `optimize` (one place for the keep/drop policy).

    python -m stages.refine data/collect/questions.jsonl data/route/routes.jsonl \\
        data/rank/chosen.jsonl data/refine
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby, islice
from pathlib import Path
from typing import Any, Literal

from stages import verify
from stages.generate import path_seed, split_reasoning
from stages.judging import Judged
from stages.llm import LLM, Cache, Completion, Ledger, Request
from stages.params import Section, load, load_run, model_spec
from stages.prompting import format_options, load_prompt
from stages.records import Chosen, JsonlWriter, Question, Route, read_jsonl, write_json

log = logging.getLogger("reasonmed.refine")

ReasonsPolicy = Literal["others", "others_errors", "errors", "own"]


class Params(Section):
    model: str  # role name under `models` (the refiner)
    temperature: float
    top_p: float
    max_tokens: int
    reasons: ReasonsPolicy = "others"
    reverify: bool = True  # authors' code: no re-verification
    on_fail: Literal["keep", "drop", "keep_original"] = "keep_original"
    prompt: str
    batch_questions: int = 256  # questions per backend call (bounds memory, cache commits)


# --- lockstep joins over question-ordered streams ------------------------------------


def join_by_question(questions: Iterable[Question], *streams: Iterable) -> Iterator[tuple]:
    """Yield (question, [records of stream 1], [records of stream 2], ...) per question.

    Every stream holds records with a `question_id`, grouped in question order; a stream
    may skip questions. A record whose question never comes (unknown id or out of order)
    is an error, so no record is silently lost.
    """
    groups = [groupby(s, key=lambda r: r.question_id) for s in streams]
    heads = [next(g, None) for g in groups]
    for q in questions:
        out = []
        for k, g in enumerate(groups):
            if heads[k] is not None and heads[k][0] == q.id:
                out.append(list(heads[k][1]))
                heads[k] = next(g, None)
            else:
                out.append([])
        yield (q, *out)
    for k, h in enumerate(heads):
        if h is not None:
            raise ValueError(f"input {k + 1}: records for question {h[0]} are not in question "
                             f"order or name a question not in the questions file")


# --- reasons -------------------------------------------------------------------------


def select_reasons(route: Route, path_id: str, policy: str) -> list[str]:
    """The verifier reasons fed to the rewriter for `path_id`, in path order.

    others: every non-empty reason of the other paths, whatever their verdict (the
    authors' `verification_reasons` minus the CoT's own key); others_errors: only other
    paths judged Error; errors: every path judged Error, its own included; own: its own.
    Paths whose verdict never parsed have no reason and are never fed.
    """
    out = []
    for pid, reason in route.reasons.items():
        if not (reason and reason.strip()):
            continue
        own, err = pid == path_id, route.verdicts.get(pid) == "Error"
        if ((policy == "others" and not own) or (policy == "others_errors" and not own and err)
                or (policy == "errors" and err) or (policy == "own" and own)):
            out.append(" ".join(reason.split()))  # one "- reason" line each
    return out


# --- rewrite, re-verify, settle (shared with optimize) -------------------------------


@dataclass
class Draft:
    """One CoT to write: its future record's identity and the request that writes it."""

    question: Question
    id: str
    tier: str
    origin: str
    source_path_id: str
    rank: int
    agent: str
    reasons: list[str]
    request: Request
    score: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    original: Chosen | None = None  # the ranked CoT a refinement may fall back to


def render_request(prompt: str, q: Question, cot: str, reasons: list[str], p: Any,
                   seed: int, sample: int = 0) -> Request:
    system, user = load_prompt(prompt).render(
        question=q.question, context=q.context, options=format_options(q.options),
        answer=q.answer, answer_text=q.answer_text, cot=cot, reasons=reasons)
    return Request.chat(system, user, temperature=p.temperature, top_p=p.top_p,
                        max_tokens=p.max_tokens, seed=seed, sample=sample)


def failure_of(comp: Completion, cot: str, judged: Judged | None) -> str | None:
    """Why a rewritten CoT is not usable as is; None when it is."""
    if comp.finish_reason == "error":
        return f"backend error: {comp.error}"
    if not cot:
        return "empty output"
    if judged is None:  # re-verification switched off
        return None
    if not judged.parsed:
        return f"re-verification unparsed after {judged.attempts} attempts"
    return None if judged.value == "Correct" else f"re-verified {judged.value}"


def settle(d: Draft, comp: Completion, judged: Judged | None, p: Any, step: str,
           writer: str, verifier: tuple[str, str] | None = None) -> Chosen:
    """The record for one draft, after applying `p.on_fail` to a failed rewrite."""
    cot = split_reasoning(comp.text)[0] if comp.finish_reason != "error" else ""
    hist = [*d.history, {
        "step": step, "model": writer, "reasons_fed": len(d.reasons), "reasons_policy": p.reasons,
        "prompt_hash": load_prompt(p.prompt).hash, "temperature": d.request.temperature,
        "seed": d.request.seed, "finish_reason": comp.finish_reason,
        "prompt_tokens": comp.prompt_tokens, "completion_tokens": comp.completion_tokens}]
    if judged is not None:
        hist.append({
            "step": "reverify", "model": verifier[0], "prompt_hash": verifier[1],
            "verdict": judged.value, "reason": judged.note, "parsed": judged.parsed,
            "attempts": judged.attempts, "prompt_tokens": judged.prompt_tokens,
            "completion_tokens": judged.completion_tokens})
    why = failure_of(comp, cot, judged)
    # As in rank: a record's tokens are everything spent on its lineage (sum over history).
    tokens = {k: sum(h.get(k, 0) for h in hist) for k in ("prompt_tokens", "completion_tokens")}
    rec = Chosen(id=d.id, question_id=d.question.id, tier=d.tier, origin=d.origin,
                 source_path_id=d.source_path_id, rank=d.rank, agent=d.agent, model=writer,
                 temperature=d.request.temperature, cot=cot, score=d.score,
                 verdict=judged.value if judged else None,
                 verify_reason=judged.note if judged else None, history=hist, **tokens)
    if why is None:
        return rec
    # An empty rewrite has nothing to keep: `keep` drops it too (the authors drop it silently).
    action = p.on_fail
    if action == "keep" and not cot:
        action = "drop"
    if action == "keep_original" and d.original is None:
        raise ValueError(f"{d.id}: on_fail=keep_original needs the original CoT")
    entry = {"step": "on_fail", "action": action, "why": why}
    if action == "keep":
        return rec.model_copy(update={"history": [*hist, entry]})
    if action == "drop":
        return rec.model_copy(update={"kept": False, "history": [*hist, entry]})
    # keep_original: the ranked original (judged Correct) stands in; origin says so.
    o = d.original
    return rec.model_copy(update={
        "origin": o.origin, "model": o.model, "temperature": o.temperature, "cot": o.cot,
        "verdict": o.verdict, "verify_reason": o.verify_reason,
        "history": [*hist, {**entry, "rejected_cot": cot}]})


def rewrite(drafts: list[Draft], writer: LLM, verifier: LLM | None, vp: verify.Params | None,
            p: Any, step: str) -> list[Chosen]:
    """Write every draft with one batch call, re-verify the non-empty ones, settle each."""
    comps = writer.generate([d.request for d in drafts])
    judged: dict[int, Judged] = {}
    if verifier is not None:
        todo = [(i, split_reasoning(c.text)[0]) for i, c in enumerate(comps)
                if c.finish_reason != "error"]
        todo = [(i, cot) for i, cot in todo if cot]
        # The writer's seed doubles as the verification seed: stable, so reruns hit the cache.
        js = verify.verify_cots([(drafts[i].question, cot, drafts[i].request.seed)
                                 for i, cot in todo], verifier, vp) if todo else []
        judged = {i: j for (i, _), j in zip(todo, js)}
    vinfo = (verifier.spec.model, load_prompt(vp.prompt).hash) if verifier is not None else None
    return [settle(d, c, judged.get(i), p, step, writer.spec.model, vinfo)
            for i, (d, c) in enumerate(zip(drafts, comps))]


def tally(counts: Counter, c: Chosen, step: str) -> None:
    """Stats of one settled record (from its history, so both stages count alike)."""
    by = {h["step"]: h for h in c.history}
    w, rv, f = by[step], by.get("reverify"), by.get("on_fail")
    counts["out"] += 1
    counts["truncated"] += w["finish_reason"] == "length"
    counts["empty_or_error"] += bool(f) and f["why"].startswith(("empty", "backend error"))
    counts["reasons_fed"] += w["reasons_fed"]
    if rv is not None:
        counts[f"reverify_{rv['verdict'] or 'unparsed'}"] += 1
    counts["kept"] += c.kept
    counts[f"kept_{c.origin}"] += c.kept  # kept_ranked: fallbacks to the original
    counts["dropped"] += not c.kept
    if f is not None:
        counts[f"on_fail_{f['action']}"] += 1


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
        verifier: LLM | None, vp: verify.Params | None, p: Params, run_seed: int,
        counts: Counter | None = None) -> Iterator[Chosen]:
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
            yield from rewrite(drafts, writer, verifier, vp, p, "refine")


def stats_of(counts: Counter, ledger: list[dict], wall_s: float, p: Any, **extra: Any) -> dict:
    n = max(counts["out"], 1)
    return {
        **extra, "in": counts["in"], "out": counts["out"],
        "kept": counts["kept"], "dropped": counts["dropped"],
        "kept_by_origin": {k[len("kept_"):]: v for k, v in sorted(counts.items())
                           if k.startswith("kept_")},
        "on_fail_policy": p.on_fail,
        "on_fail": {k[len("on_fail_"):]: v for k, v in sorted(counts.items())
                    if k.startswith("on_fail_")},
        "reverify": {"enabled": p.reverify, "correct": counts["reverify_Correct"],
                     "error": counts["reverify_Error"], "unparsed": counts["reverify_unparsed"]},
        "empty_or_error": counts["empty_or_error"], "truncated": counts["truncated"],
        "reasons_policy": p.reasons, "reasons_fed_mean": round(counts["reasons_fed"] / n, 2),
        "prompt_tokens": sum(r["prompt_tokens"] for r in ledger),
        "completion_tokens": sum(r["completion_tokens"] for r in ledger),
        "model_calls": sum(r["model_calls"] for r in ledger),
        "wall_s": round(wall_s, 2)}


def open_llms(role: str, p: Any, params: str, stage: str) -> tuple[Any, LLM, LLM | None, verify.Params]:
    """run params, the writer and (when re-verifying) the verifier, sharing cache and ledger."""
    run_p, vp = load_run(params), load("verify", verify.Params, params)
    cache, ledger = Cache(run_p.cache), Ledger(stage)
    writer = LLM(role, model_spec(role, params), run_p, stage=stage, cache=cache, ledger=ledger)
    verifier = LLM(vp.model, model_spec(vp.model, params), run_p, stage=stage, cache=cache,
                   ledger=ledger) if p.reverify else None
    return run_p, writer, verifier, vp


def main() -> None:
    ap = argparse.ArgumentParser(description="Refine the ranked medium-tier CoTs.")
    for name in ("questions", "routes", "ranked", "out"):
        ap.add_argument(name)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p, t0, out, counts = load("refine", Params, a.params), time.time(), Path(a.out), Counter()
    run_p, writer, verifier, vp = open_llms(p.model, p, a.params, "refine")
    joined = join_by_question(read_jsonl(a.questions, Question), read_jsonl(a.routes, Route),
                              read_jsonl(a.ranked, Chosen))
    with JsonlWriter(out / "chosen.jsonl") as w:
        for c in run(joined, writer, verifier, vp, p, run_p.seed, counts):
            w.write(c)
            tally(counts, c, "refine")
    ledger = writer.ledger.to_list()
    write_json(out / "ledger.json", ledger)
    write_json(out / "stats.json", stats_of(
        counts, ledger, time.time() - t0, p, ranked_in=counts["ranked_in"],
        passed_over_other_tiers=counts["passed_over_other_tiers"],
        medium_questions=counts["medium_questions"],
        medium_questions_without_ranked=counts["medium_questions_without_ranked"]))
    log.info("refine: %d in, %d kept, %d dropped", counts["in"], counts["kept"], counts["dropped"])


if __name__ == "__main__":
    main()

"""The rewriting loop shared by refine (medium tier) and optimize (difficult tier).

A `Draft` is one CoT to write: its future record's identity and the request that writes it.
`rewrite` sends every draft in one batch call, re-verifies the non-empty results with the
verifier, and `settle` applies the stage's `on_fail` policy to a rewrite judged Error or
never parsed: `keep` it, `drop` it (written with kept=false), or `keep_original` (refine
only: fall back to the ranked original, keeping the rejected rewrite in its history).
`select_reasons` picks the verifier reasons fed to the rewriter (`others` is the authors'
code: every other path's non-empty reason, Correct ones included).
`RewriteParams` are the params both sections share and `main` runs either step as a stage
(reasonmed/method/refine.py and optimize.py each give it a `Step`).

    python -c "from reasonmed.method.rewriting import select_reasons; help(select_reasons)"
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reasonmed.core.failures import Failures
from reasonmed.core.params import Sampling, load, load_run, model_spec
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.reasoning import split_reasoning
from reasonmed.core.records import Chosen, JsonlWriter, Question, Route, read_jsonl
from reasonmed.core.stage import StageRun, pick, token_totals
from reasonmed.core.streams import join_by_question
from reasonmed.llm.cache import Cache
from reasonmed.llm.client import LLM, Ledger
from reasonmed.llm.types import Completion, Request
from reasonmed.method import verification
from reasonmed.method.judging import Judged

ReasonsPolicy = Literal["others", "others_errors", "errors", "own"]
# The DVC metric (metrics.json) of both stages: the few counts and rates a change can move.
HEADLINE = ("in", "kept", "dropped", "reverify.correct", "failed")


class RewriteParams(Sampling):
    """The keys the refine and optimize sections share; each adds its `on_fail` choices."""

    model: str  # role name under `models` (the writer)
    reasons: ReasonsPolicy = "others"
    reverify: bool = True  # authors' code: no re-verification
    prompt: str
    # questions per backend call (bounds memory; which can share an hf batch: hashed)
    batch_questions: int = 256


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
    """Why a rewritten CoT is not usable as is; None when it is (failed requests never get
    here: rewrite() records them as failures)."""
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
    cot = split_reasoning(comp.text)[0]
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


def rewrite(drafts: list[Draft], writer: LLM, verifier: LLM | None, vp: verification.Params | None,
            p: Any, step: str, failures: Failures | None = None) -> list[Chosen]:
    """Write every draft with one batch call, re-verify the non-empty ones, settle each.

    A draft whose writing or re-verification request failed yields no record (it goes to
    `failures` and is asked again next run): a fallback to the original, or a drop, is a
    decision about a judged rewrite, never about a fault.
    """
    failures = failures if failures is not None else Failures(step)
    comps = writer.generate([d.request for d in drafts])
    judged: dict[int, Judged] = {}
    for d, c in zip(drafts, comps):
        if c.failed:
            failures.add(writer.role, d.id, c)
    if verifier is not None:
        todo = [(i, split_reasoning(c.text)[0]) for i, c in enumerate(comps) if not c.failed]
        todo = [(i, cot) for i, cot in todo if cot]
        # The writer's seed doubles as the verification seed: stable, so reruns hit the cache.
        js = verification.verify_cots([(drafts[i].question, cot, drafts[i].request.seed)
                                       for i, cot in todo], verifier, vp) if todo else []
        judged = {i: j for (i, _), j in zip(todo, js)}
        for i, j in judged.items():
            if j.failure is not None:
                failures.add(verifier.role, drafts[i].id, j.failure)
    vinfo = (verifier.spec.model, load_prompt(vp.prompt).hash) if verifier is not None else None
    return [settle(d, c, judged.get(i), p, step, writer.spec.model, vinfo)
            for i, (d, c) in enumerate(zip(drafts, comps))
            if not c.failed and (judged.get(i) is None or judged[i].failure is None)]


def tally(counts: Counter, c: Chosen, step: str) -> None:
    """Stats of one settled record (from its history, so both stages count alike)."""
    by = {h["step"]: h for h in c.history}
    w, rv, f = by[step], by.get("reverify"), by.get("on_fail")
    counts["out"] += 1
    counts["truncated"] += w["finish_reason"] == "length"
    counts["empty"] += bool(f) and f["why"].startswith("empty")
    counts["reasons_fed"] += w["reasons_fed"]
    if rv is not None:
        counts[f"reverify_{rv['verdict'] or 'unparsed'}"] += 1
    counts["kept"] += c.kept
    counts[f"kept_{c.origin}"] += c.kept  # kept_ranked: fallbacks to the original
    counts["dropped"] += not c.kept
    if f is not None:
        counts[f"on_fail_{f['action']}"] += 1


def stats_of(counts: Counter, ledger: list[dict], p: Any, **extra: Any) -> dict:
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
        "empty": counts["empty"], "truncated": counts["truncated"],
        "reasons_policy": p.reasons, "reasons_fed_mean": round(counts["reasons_fed"] / n, 2),
        **token_totals(ledger)}


def open_llms(role: str, p: Any, params: str, stage: str) -> tuple[Any, LLM, LLM | None, verification.Params]:
    """run params, the writer and (when re-verifying) the verifier, sharing cache and ledger."""
    run_p, vp = load_run(params), load("verify", verification.Params, params)
    cache, ledger = Cache(run_p.cache, stage), Ledger(stage)
    writer = LLM(role, model_spec(role, params), run_p, stage=stage, cache=cache, ledger=ledger)
    verifier = LLM(vp.model, model_spec(vp.model, params), run_p, stage=stage, cache=cache,
                   ledger=ledger) if p.reverify else None
    return run_p, writer, verifier, vp


# --- the stage both steps run --------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What refine and optimize differ in; `main` runs either as a stage."""

    name: str  # the stage, its params section and its history step
    description: str
    inputs: tuple[tuple[str, type], ...]  # (argument, record type) after `questions`, in join order
    params: type[RewriteParams]
    run: Callable[..., Iterator[Chosen]]  # run(joined, writer, verifier, vp, p, seed, counts, failures)
    stats: Callable[[Counter, Any], dict]  # the step's own stats, before the shared ones
    done: Callable[[Counter], str]  # the closing log line


def main(step: Step) -> None:
    """The stage: questions and `step.inputs` in, chosen.jsonl, ledger, stats and metrics out."""
    ap = argparse.ArgumentParser(description=step.description)
    for name in ("questions", *(n for n, _ in step.inputs), "out"):
        ap.add_argument(name)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    p, out, counts = load(step.name, step.params, a.params), Path(a.out), Counter()
    failures = Failures(step.name)
    st = StageRun(step.name)
    run_p, writer, verifier, vp = open_llms(p.model, p, a.params, step.name)
    joined = join_by_question(read_jsonl(a.questions, Question),
                              **{n: read_jsonl(getattr(a, n), t) for n, t in step.inputs})
    with JsonlWriter(out / "chosen.jsonl") as w:
        for c in step.run(joined, writer, verifier, vp, p, run_p.seed, counts, failures):
            w.write(c)
            tally(counts, c, step.name)
        failures.settle(out, run_p.max_failure_rate, writer.ledger.to_list())
    stats = stats_of(counts, writer.ledger.to_list(), p, **failures.summary(), **step.stats(counts, p))
    st.finish(out, stats, writer.ledger, headline=pick(stats, HEADLINE))
    logging.getLogger(f"reasonmed.{step.name}").info("%s", step.done(counts))

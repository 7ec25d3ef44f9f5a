"""Generation: 3 agents x 3 temperatures (x samples) = 9 chain-of-thought paths per question.

The generation prompt (docs/method.md section 3) is rendered through each agent's chat
template; one path is sampled per (agent, temperature, sample) with a seed derived from the
run seed and the path id, and reasoning markers (`<think>`, `## Thinking`) are recorded
explicitly; each path's answer is the strict reading (reasonmed/method/answers.py). The
generate stage and the cost estimator build requests here, so an estimate renders the same
prompts a run sends. One shard job serves one agent and one contiguous shard of the
questions (`shard_of`), so the agent's model is loaded once per job; the fan-out, the shard
files and the gather are reasonmed/ops/fanout.py.

    python -c "from reasonmed.method.generation import path_id; print(path_id('q1', 'agent1', 0, 0))"
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

from reasonmed.core.failures import Failures
from reasonmed.core.params import Section
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.reasoning import split_reasoning
from reasonmed.core.records import CoTPath, Question, read_jsonl
from reasonmed.core.seeds import path_seed
from reasonmed.core.stage import pick, rate, token_totals
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Request
from reasonmed.method.answers import extract


class Params(Section):
    """The `generate` section."""

    agents: list[str]
    temperatures: list[float]
    top_p: float
    samples_per_temperature: int = 1
    max_tokens: int
    prompt: str
    # questions per backend call: a window of the question stream. Hashed: with an hf agent
    # it decides which requests share a batch (reasonmed/llm/client.py). Shards are runs of whole
    # windows (shard_of), so the shard count never does.
    batch_questions: int = 256
    # execution knobs (exec.generate): shard jobs per agent, Snakemake options
    shards: int = 1
    snakemake: str = "--cores 1"
    EXEC: ClassVar[frozenset[str]] = frozenset({"shards", "snakemake"})


def path_id(qid: str, agent: str, slot: int, sample: int) -> str:
    return f"{qid}/{agent}/t{slot}s{sample}"


def requests_for(q: Question, agent: str, p: Params, run_seed: int) -> list[tuple[str, int, int, Request]]:
    """(path id, temperature slot, sample, request) for every path of one agent."""
    system, user = load_prompt(p.prompt).render(
        question=q.question, options=format_options(q.options), context=q.context)
    out = []
    for slot, temp in enumerate(p.temperatures):
        for s in range(p.samples_per_temperature):
            pid = path_id(q.id, agent, slot, s)
            out.append((pid, slot, s, Request.chat(
                system, user, temperature=temp, top_p=p.top_p, max_tokens=p.max_tokens,
                seed=path_seed(run_seed, pid), sample=s)))
    return out


def run(questions: Iterable[Question], llm: LLM, agent: str, p: Params,
        run_seed: int, failures: Failures | None = None) -> Iterator[CoTPath]:
    """Yield the paths of one agent for `questions`, in question order; a failed request
    yields no path (it goes to `failures`)."""
    failures = failures if failures is not None else Failures("generate")
    it = iter(questions)
    prompt_hash = load_prompt(p.prompt).hash
    while batch := list(islice(it, p.batch_questions)):
        todo = [(q, *r) for q in batch for r in requests_for(q, agent, p, run_seed)]
        comps = llm.generate([r[-1] for r in todo])
        for (q, pid, slot, s, req), c in zip(todo, comps):
            if c.failed:
                failures.add(agent, pid, c)
                continue
            cot, markers = split_reasoning(c.text)
            yield CoTPath(
                id=pid, question_id=q.id, agent=agent, backend=llm.spec.backend,
                model=llm.spec.model, revision=llm.revision, temperature=req.temperature,
                top_p=req.top_p, slot=slot, sample=s, seed=req.seed, prompt_hash=prompt_hash,
                cot=cot, text=c.text if c.text != cot else None, markers=markers,
                answer=extract(c.text, q.options), finish_reason=c.finish_reason,
                prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens)


def shard_bounds(shard: int, n_shards: int, total: int, window: int = 1) -> tuple[int, int]:
    """[lo, hi) of shard `shard` of `n_shards` over `total` items: a contiguous run of whole
    windows of `window` items (so gathered shards keep question order, and a backend call,
    one window, holds the same questions whatever the shard count; more shards than windows
    leaves some empty)."""
    windows = -(-total // max(window, 1))
    lo = min(total, shard * windows // n_shards * window)
    hi = min(total, (shard + 1) * windows // n_shards * window)
    return lo, hi


def shard_of(items: Iterable, shard: int, n_shards: int, total: int, window: int = 1) -> Iterator:
    """The items of `shard_bounds`."""
    return islice(items, *shard_bounds(shard, n_shards, total, window))


def stats_of(paths_file: Path, ledger: list[dict], n_questions: int) -> dict:
    """stats.json (before the failures' summary): paths, answers, truncations, markers and
    tokens per agent."""
    by_agent: dict[str, dict] = {}
    for p in read_jsonl(paths_file, CoTPath):
        a = by_agent.setdefault(p.agent, {"paths": 0, "with_answer": 0, "truncated": 0,
                                          "with_markers": 0, "completion_tokens": 0})
        a["paths"] += 1
        a["with_answer"] += p.answer is not None
        a["truncated"] += p.finish_reason == "length"
        a["with_markers"] += bool(p.markers)
        a["completion_tokens"] += p.completion_tokens
    return {"questions_in": n_questions, "paths_out": sum(a["paths"] for a in by_agent.values()),
            "rejected": 0, "by_agent": by_agent, **token_totals(ledger)}


def headline(stats: dict[str, Any]) -> dict[str, Any]:
    """The DVC metric: counts, each agent's answer rate and the truncated rate."""
    return {
        **pick(stats, ("questions_in", "paths_out", "failed")),
        "answer_rate": {a: rate(s["with_answer"], s["paths"]) for a, s in stats["by_agent"].items()},
        "truncated_rate": rate(sum(s["truncated"] for s in stats["by_agent"].values()),
                               stats["paths_out"])}

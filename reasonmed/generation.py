"""Generation requests: 3 agents x 3 temperatures (x samples) per question.

The generate stage and the cost estimator build requests here, so an estimate renders the
same prompts a run sends. Each request's seed comes from the run seed and its path id.

    python -c "from reasonmed.generation import path_id; print(path_id('q1', 'agent1', 0, 0))"
"""

from __future__ import annotations

from typing import ClassVar

from reasonmed.llm import Request
from reasonmed.params import Section
from reasonmed.prompting import format_options, load_prompt
from reasonmed.records import Question
from reasonmed.seeds import path_seed


class Params(Section):
    """The `generate` section."""

    agents: list[str]
    temperatures: list[float]
    top_p: float
    samples_per_temperature: int = 1
    max_tokens: int
    prompt: str
    # questions per backend call: a window of the question stream. Hashed: with an hf agent
    # it decides which requests share a batch (reasonmed/llm.py). Shards are runs of whole
    # windows (stages/generate.py shard_of), so the shard count never does.
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

"""generate: 3 agents x 3 temperatures = 9 chain-of-thought paths per question.

Reads collect's questions, renders the generation prompt (METHOD.md section 3) through each
agent's chat template, samples one path per (agent, temperature, sample) with a seed derived
from the run seed and the path id, and records reasoning markers (`<think>`, `## Thinking`)
explicitly. One invocation serves one agent and one shard, so the agent's model is loaded
once per job; Snakemake fans the jobs out and `gather` joins them in question order.

    python -m stages.generate shard data/collect/questions.jsonl /tmp/a1.jsonl --agent agent1
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from reasonmed.answers import extract_letter
from reasonmed.generation import Params, requests_for
from reasonmed.llm import LLM, Ledger
from reasonmed.params import load, load_run, model_spec
from reasonmed.prompting import load_prompt
from reasonmed.reasoning import split_reasoning
from reasonmed.records import CoTPath, JsonlWriter, Question, read_jsonl, write_json
from reasonmed.streams import join_by_question

log = logging.getLogger("reasonmed.generate")


def run(questions: Iterable[Question], llm: LLM, agent: str, p: Params,
        run_seed: int) -> Iterator[CoTPath]:
    """Yield the paths of one agent for `questions`, in question order."""
    it = iter(questions)
    prompt_hash = load_prompt(p.prompt).hash
    while batch := list(islice(it, p.batch_questions)):
        todo = [(q, *r) for q in batch for r in requests_for(q, agent, p, run_seed)]
        comps = llm.generate([r[-1] for r in todo])
        for (q, pid, slot, s, req), c in zip(todo, comps):
            cot, markers = split_reasoning(c.text)
            yield CoTPath(
                id=pid, question_id=q.id, agent=agent, backend=llm.spec.backend,
                model=llm.spec.model, revision=llm.revision, temperature=req.temperature,
                top_p=req.top_p, slot=slot, sample=s, seed=req.seed, prompt_hash=prompt_hash,
                cot=cot, text=c.text if c.text != cot else None, markers=markers,
                answer=extract_letter(cot, "".join(q.options)), finish_reason=c.finish_reason,
                prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens)


def shard_of(items: Iterable, shard: int, n_shards: int, total: int) -> Iterator:
    """Contiguous slice `shard` of `n_shards`, so gathered shards keep question order."""
    lo, hi = shard * total // n_shards, (shard + 1) * total // n_shards
    return islice(items, lo, hi)


def gather(questions: Iterable[Question], shard_files: dict[str, list[Path]],
           agents: list[str]) -> Iterator[CoTPath]:
    """Join per-agent shard files into one stream: question by question, agents in order."""
    streams = {a: (p for f in shard_files[a] for p in read_jsonl(f, CoTPath)) for a in agents}
    for _, *per_agent in join_by_question(questions, **streams):
        for paths in per_agent:
            yield from paths


def stats_of(paths_file: Path, ledger: list[dict], wall_s: float, n_questions: int) -> dict:
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
            "rejected": 0, "by_agent": by_agent,
            "prompt_tokens": sum(r["prompt_tokens"] for r in ledger),
            "completion_tokens": sum(r["completion_tokens"] for r in ledger),
            "model_calls": sum(r["model_calls"] for r in ledger),
            "wall_s": round(wall_s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description="Generate CoT paths (shard) or join shards (gather).")
    ap.add_argument("cmd", choices=["shard", "gather"])
    ap.add_argument("questions")
    ap.add_argument("out")
    ap.add_argument("--agent")
    ap.add_argument("--shard", default="0/1", help="i/N: contiguous slice i of N")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--work", default="work/generate", help="shard folder (gather)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_p, p, t0, out = load_run(a.params), load("generate", Params, a.params), time.time(), Path(a.out)
    n = sum(1 for _ in read_jsonl(a.questions, Question))
    if a.cmd == "shard":
        i, k = map(int, a.shard.split("/"))
        llm = LLM(a.agent, model_spec(a.agent, a.params), run_p, stage="generate")
        qs = islice(shard_of(read_jsonl(a.questions, Question), i, k, n), a.limit)
        with JsonlWriter(out) as w:
            w.write_all(run(qs, llm, a.agent, p, run_p.seed))
        write_json(out.with_suffix(".ledger.json"), llm.ledger.to_list())
        return
    files = {ag: [Path(a.work) / ag / f"{s}.jsonl" for s in range(p.shards)] for ag in p.agents}
    with JsonlWriter(out / "paths.jsonl") as w:
        w.write_all(gather(read_jsonl(a.questions, Question), files, p.agents))
    ledger = Ledger.merge([json.loads(f.with_suffix(".ledger.json").read_text())
                           for fs in files.values() for f in fs])
    write_json(out / "ledger.json", ledger)
    write_json(out / "stats.json", stats_of(out / "paths.jsonl", ledger, time.time() - t0, n))


if __name__ == "__main__":
    main()

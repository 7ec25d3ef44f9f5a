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
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from stages.answers import extract_letter
from stages.llm import LLM, Ledger, Request
from stages.params import Section, load, load_run, model_spec
from stages.prompting import format_options, load_prompt
from stages.records import CoTPath, JsonlWriter, Question, read_jsonl, write_json

log = logging.getLogger("reasonmed.generate")


class Params(Section):
    agents: list[str]
    temperatures: list[float]
    top_p: float
    samples_per_temperature: int = 1
    max_tokens: int
    shards: int = 1
    snakemake: str = "--cores 1"  # Snakemake options for the fan-out (dvc.yaml's cmd)
    prompt: str
    batch_questions: int = 256  # questions per backend call (bounds memory, cache commits)


# --- reasoning markers ---------------------------------------------------------------

_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
_HEADINGS = re.compile(r"^##\s*(Thinking|Final Response)\s*$", re.MULTILINE | re.IGNORECASE)
_ALRIGHT = re.compile(r"^\s*Alright[.,!]?\s*$", re.MULTILINE)


def split_reasoning(text: str) -> tuple[str, list[str]]:
    """Strip reasoning markers but keep their content; return (cot, markers found).

    R1-distill models wrap thinking in <think>...</think>; HuatuoGPT-o1 writes
    "## Thinking ... ## Final Response ..."; both sometimes open with a bare "Alright".
    The CoT keeps the thinking and the final response, in order, without the markers.
    """
    markers = []
    if "<think>" in text or "</think>" in text:
        markers.append("<think>")
        text = _THINK.sub(lambda m: m.group(1).strip() + "\n\n", text).replace("</think>", "")
    for m in _HEADINGS.finditer(text):
        markers.append(f"## {m.group(1).title()}")
    text = _HEADINGS.sub("", text)
    if _ALRIGHT.search(text):
        markers.append("Alright")
        text = _ALRIGHT.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip(), sorted(set(markers))


# --- requests ------------------------------------------------------------------------


def path_seed(run_seed: int, path_id: str) -> int:
    """Per-path seed: stable under resharding and reordering (vLLM seeds each request)."""
    return int(hashlib.sha256(f"{run_seed}:{path_id}".encode()).hexdigest()[:8], 16)


def path_id(qid: str, agent: str, slot: int, sample: int) -> str:
    return f"{qid}/{agent}/t{slot}s{sample}"


def requests_for(q: Question, agent: str, p: Params, run_seed: int) -> list[tuple[str, int, int, Request]]:
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
    heads: dict[str, CoTPath | None] = {a: next(streams[a], None) for a in agents}
    for q in questions:
        for a in agents:
            while heads[a] is not None and heads[a].question_id == q.id:
                yield heads[a]
                heads[a] = next(streams[a], None)
    left = [a for a in agents if heads[a] is not None]
    if left:
        raise RuntimeError(f"shard files of {left} hold paths for questions not in the input "
                           f"(e.g. {heads[left[0]].question_id}): stale shards?")


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

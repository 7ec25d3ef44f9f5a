"""generate: 3 agents x 3 temperatures = 9 chain-of-thought paths per question.

Reads collect's questions, renders the generation prompt (METHOD.md section 3) through each
agent's chat template, samples one path per (agent, temperature, sample) with a seed derived
from the run seed and the path id, and records reasoning markers (`<think>`, `## Thinking`)
explicitly. One invocation serves one agent and one shard, so the agent's model is loaded
once per job; Snakemake fans the jobs out (`fanout`, the DVC cmd) and `gather` joins them
in question order. Shard files are Snakemake-private (work/generate/, see
reasonmed/fanout.py: their paths carry a digest of everything that shapes them).

    python -m stages.generate shard data/collect/questions.jsonl /tmp/a1.jsonl --agent agent1
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from reasonmed.answers import extract
from reasonmed.failures import Failure, Failures
from reasonmed.fanout import QUESTIONS, WORK, FanoutProgress, Layout, seal, shard_intact
from reasonmed.generation import Params, requests_for
from reasonmed.llm import LEDGER_FIELDS, LLM, Ledger
from reasonmed.params import load, load_run, model_spec, read_params
from reasonmed.prompting import load_prompt
from reasonmed.reasoning import split_reasoning
from reasonmed.records import CoTPath, JsonlWriter, Question, read_jsonl, write_json
from reasonmed.stage import StageRun, entry, pick, rate, token_totals
from reasonmed.streams import join_by_question

log = logging.getLogger("reasonmed.generate")


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


def gather(questions: Iterable[Question], shard_files: dict[str, list[Path]],
           agents: list[str]) -> Iterator[CoTPath]:
    """Join per-agent shard files into one stream: question by question, agents in order."""
    streams = {a: (p for f in shard_files[a] for p in read_jsonl(f, CoTPath)) for a in agents}
    for _, *per_agent in join_by_question(questions, **streams):
        for paths in per_agent:
            yield from paths


def stats_of(paths_file: Path, ledger: list[dict], n_questions: int) -> dict:
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


def fanout(params: str) -> int:
    """Run the {agent} x {shard} jobs and the gather through Snakemake (DVC's cmd).

    --nolock: DVC already holds the repo lock, and a killed run must not leave a lock that
    the next `dvc repro` trips over; --rerun-incomplete: an interrupted job's output is
    redone (its completions come back from the request cache).
    """
    run_p = load_run(params)
    p = load("generate", Params, params)
    cmd = ["snakemake", "--snakefile", "Snakefile", "--configfile", params,
           "--config", f"params_file={params}", "--nolock", "--rerun-incomplete",
           *shlex.split(p.snakemake), "--allowed-rules", "generate_shard", "generate_gather",
           "--", "data/generate/paths.jsonl"]
    log.info("generate: %s", " ".join(shlex.quote(c) for c in cmd))
    if code := preflight(params):
        return code
    for f in Layout(read_params(params)).drop_mismatched():
        log.warning("generate: %s does not match the digest its job wrote: regenerating it", f)
    n = sum(1 for _ in open(QUESTIONS, encoding="utf-8"))
    total = n * len(p.agents) * len(p.temperatures) * p.samples_per_temperature
    done = sum(sum(1 for _ in open(f, encoding="utf-8"))
               for fs in Layout(read_params(params)).shard_paths().values() for f in fs
               if Path(f).exists())  # shards a resumed run keeps
    progress = FanoutProgress("generate", WORK / "progress", total, run_p.progress_every_s,
                              already=done)
    with progress:
        proc = subprocess.Popen(cmd, env={**os.environ, "REASONMED_PROGRESS_DIR":
                                          str((WORK / "progress").resolve())})
        code = _wait(proc)
    if code == 0:
        Layout(read_params(params)).prune()
    else:
        log.error("generate: the fan-out failed (exit %s); shard logs: work/generate/logs/. "
                  "Finished completions are in the request cache (%s): `dvc repro` resumes",
                  code, run_p.cache)
    return code


def preflight(params: str) -> int:
    """The pre-flight check (reasonmed/check.py) before days of compute: every section,
    role and the SFTConfig, not only generate's. A subprocess, not an import: it shapes no
    byte of the output, so it is no dependency of this stage. `--once`: a pass is
    remembered for the same params bytes, so a resumed fan-out, or one that `make repro`
    has just checked, does not pay for it again."""
    return subprocess.run([sys.executable, "-m", "reasonmed.check", "--quiet", "--once",
                           "--params", params]).returncode


def _wait(proc: subprocess.Popen) -> int:
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached Snakemake and the shard jobs too (one process group): let them stop
        # cleanly (each shard's completions are already cached) before reporting.
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise


def main() -> None:
    ap = argparse.ArgumentParser(description="Generate CoT paths: fan out (DVC's cmd), one "
                                 "shard, or join the shards.")
    ap.add_argument("cmd", choices=["fanout", "shard", "gather"])
    ap.add_argument("questions", nargs="?", default="data/collect/questions.jsonl")
    ap.add_argument("out", nargs="?", default="data/generate")
    ap.add_argument("--agent")
    ap.add_argument("--shard", default="0/1", help="i/N: contiguous slice i of N")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    if a.cmd == "fanout":
        raise SystemExit(fanout(a.params))
    p, out = load("generate", Params, a.params), Path(a.out)
    n = sum(1 for _ in read_jsonl(a.questions, Question))
    if a.cmd == "shard":
        i, k = map(int, a.shard.split("/"))
        job = f"generate-{a.agent}-{i}of{k}"
        run_p = load_run(a.params, job=job)
        st = StageRun(job, run_p.log_level)
        # the k shard jobs of this agent share its concurrency bound (exec.roles.<agent>)
        llm = LLM(a.agent, model_spec(a.agent, a.params), run_p, stage="generate", share=k)
        qs = islice(shard_of(read_jsonl(a.questions, Question), i, k, n, p.batch_questions), a.limit)
        failures = Failures("generate")
        with JsonlWriter(out) as w:
            w.write_all(run(qs, llm, a.agent, p, run_p.seed, failures))
            failures.write(out.with_suffix(".failures.jsonl"))
            # Over budget: no shard file, so the next run asks the failed requests again
            # (the completed ones come back from the cache).
            failures.check(run_p.max_failure_rate, str(out.with_suffix(".failures.jsonl")),
                           llm.ledger.to_list())
            # The shard's full ledger (execution facts too) sits beside it for gather to
            # merge; written before the shard file lands, so a shard never lacks one.
            write_json(out.with_suffix(".ledger.json"), llm.ledger.run_list())
        seal(out)  # after the shard lands: a shard without its digest is regenerated
        st.finish(None, None, llm.ledger)
        return
    run_p = load_run(a.params)
    st = StageRun("generate", run_p.log_level)
    layout = Layout(read_params(a.params))
    files = {ag: [Path(f) for f in fs] for ag, fs in layout.shard_paths().items()}
    failures = Failures("generate")
    for f in (f for fs in files.values() for f in fs):
        if not shard_intact(f):  # the fan-out drops such shards first; a direct gather stops
            raise SystemExit(f"generate: {f} does not match the digest its job wrote "
                             "(edited or torn): rerun the fan-out to regenerate it")
        failures.extend(list(read_jsonl(f.with_suffix(".failures.jsonl"), Failure)))
    with JsonlWriter(out / "paths.jsonl") as w:
        w.write_all(gather(read_jsonl(a.questions, Question), files, p.agents))
    rows = Ledger.merge([json.loads(f.with_suffix(".ledger.json").read_text())
                         for fs in files.values() for f in fs])
    ledger = [{k: v for k, v in r.items() if k in LEDGER_FIELDS} for r in rows]
    failures.write(out / "failures.jsonl")
    stats = {**stats_of(out / "paths.jsonl", ledger, n), **failures.summary()}
    st.finish(out, stats, ledger_rows=ledger, run_rows=rows, headline={
        **pick(stats, ("questions_in", "paths_out", "failed")),
        "answer_rate": {a: rate(s["with_answer"], s["paths"]) for a, s in stats["by_agent"].items()},
        "truncated_rate": rate(sum(s["truncated"] for s in stats["by_agent"].values()),
                               stats["paths_out"])})
    # A shard that finished with failures (within the budget) is dropped once gathered:
    # `dvc repro -f -s generate` then asks exactly its failed requests again.
    for f in (f for fs in files.values() for f in fs):
        if f.with_suffix(".failures.jsonl").stat().st_size:
            f.unlink()


if __name__ == "__main__":
    entry(main)

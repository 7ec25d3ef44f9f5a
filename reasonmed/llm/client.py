"""One batch interface for every LLM role, with a content-addressed SQLite request cache.

A role (agent, verifier, ranker, ...) is addressed by a model spec in params.yaml
(`backend`, `model`, `revision`, `options`). `LLM(spec).generate(requests)` returns one
`Completion` per `Request`, in order. Before any model is loaded the cache is consulted:
a rerun with unchanged inputs makes zero model calls and loads no model. Completions are
committed to the cache one backend batch at a time, so a killed stage resumes where it
stopped and asks the remaining requests in exactly the batches an uninterrupted run would.

Backends (imported lazily, so `--help` and pure tests stay fast):
  hf      transformers, batched, chat templates, outlines for JSON-schema output (default)
  vllm    offline vllm.LLM engine, per-request seeds, prefix caching, guidance structured output
  openai  any OpenAI-compatible server, async with bounded concurrency and retries
  fake    no model: deterministic replies computed from each request (smoke runs, tests)

    python -m reasonmed.llm.client verifier "Say hello" --max-tokens 16
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reasonmed.core.faults import hold
from reasonmed.core.params import ModelSpec, RunParams
from reasonmed.core.progress import Progress
from reasonmed.llm.batching import BATCH_PLANNED, batch_keys, batch_size_of, plan_batches
from reasonmed.llm.cache import Cache, request_key, resolve_revision
from reasonmed.llm.types import Backend, Completion, Request

log = logging.getLogger("reasonmed.llm")

# --- ledger and progress --------------------------------------------------------------


# What a ledger row records about the run's *outputs* (deterministic: the same inputs give
# the same numbers, cold cache or warm, resumed or not). Everything else in a row (cache
# hits, model calls, seconds, devices) describes one execution and goes to the stage's run
# log under work/runs/, never into a DVC-tracked artifact.
LEDGER_FIELDS = ("stage", "role", "backend", "model", "revision", "requests", "failed",
                 "prompt_tokens", "completion_tokens")


@dataclass
class LedgerRow:
    stage: str
    role: str
    backend: str
    model: str
    revision: str
    devices: int = 1  # GPUs (or CPU processes) the backend holds while generating
    requests: int = 0
    failed: int = 0  # requests whose completion failed (never cached, re-asked next run)
    cache_hits: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0  # over all completions, cached ones included (cost of the run)
    completion_tokens: int = 0
    new_prompt_tokens: int = 0  # only what this invocation asked a model for
    new_completion_tokens: int = 0
    generate_s: float = 0.0  # wall time inside backends (x devices = device-seconds)
    load_s: float = 0.0


class Ledger:
    """Per-stage, per-role token and time accounting."""

    def __init__(self, stage: str):
        self.stage, self.rows = stage, {}

    def row(self, role: str, spec: ModelSpec, revision: str, devices: int = 1) -> LedgerRow:
        if role not in self.rows:
            self.rows[role] = LedgerRow(self.stage, role, spec.backend, spec.model, revision,
                                        devices)
        return self.rows[role]

    def to_list(self) -> list[dict]:
        """The deterministic rows (ledger.json, a DVC out)."""
        return [{k: v for k, v in asdict(r).items() if k in LEDGER_FIELDS}
                for r in self.rows.values()]

    def run_list(self) -> list[dict]:
        """Every field, execution facts included (the run log)."""
        return [asdict(r) for r in self.rows.values()]

    @staticmethod
    def merge(lists: Sequence[Sequence[dict]]) -> list[dict]:
        """Sum rows of several shard ledgers by (stage, role)."""
        acc: dict[tuple, dict] = {}
        for rows in lists:
            for r in rows:
                k = (r["stage"], r["role"])
                if k not in acc:
                    acc[k] = dict(r)
                    continue
                for f, v in r.items():
                    if isinstance(v, (int, float)) and f != "devices":
                        acc[k][f] += v
        return list(acc.values())


def report_progress(job: str | None, done: int, tokens: int = 0) -> None:
    """Append `done tokens` to $REASONMED_PROGRESS_DIR/<job>.progress when a supervisor (the
    generate fan-out) asked for it: the shard jobs run under Snakemake, whose terminal is
    not theirs, so the fan-out sums these files into one line on the terminal that runs
    `dvc repro`. An append per backend batch; never part of any artifact."""
    folder = os.environ.get("REASONMED_PROGRESS_DIR")
    if folder and done:
        with open(Path(folder) / f"{job or 'llm'}.progress", "a", encoding="utf-8") as f:
            f.write(f"{done} {tokens}\n")


# --- the interface -------------------------------------------------------------------


def make_backend(spec: ModelSpec, run: RunParams, exec_opts: dict[str, Any]) -> Backend:
    if spec.backend == "hf":
        from reasonmed.llm.backends.hf import HFBackend
        return HFBackend(spec, run, exec_opts)
    if spec.backend == "vllm":
        from reasonmed.llm.backends.vllm_engine import VLLMBackend
        return VLLMBackend(spec, run, exec_opts)
    if spec.backend == "openai":
        from reasonmed.llm.backends.openai_api import OpenAIBackend
        return OpenAIBackend(spec, run, exec_opts)
    if spec.backend == "fake":
        from reasonmed.llm.backends.fake import FakeBackend
        return FakeBackend(spec, run, exec_opts)
    raise ValueError(f"unknown backend {spec.backend!r}")


def compute_key(spec: ModelSpec, run: RunParams) -> str:
    """What computes a role's completions besides the request: the backend's compute
    fingerprint (code closure, library versions, CPU pins) and, for the hf backend, the
    torch thread count. Part of every request key."""
    from reasonmed.llm.fingerprint import fingerprint

    key = fingerprint(spec.backend)
    if spec.backend == "hf":
        key += f"/threads={run.compute_threads(spec.options)}"
    return key


def devices_of(spec: ModelSpec, exec_opts: dict[str, Any]) -> int:
    if spec.backend != "vllm":
        return 1
    return int(exec_opts.get("tensor_parallel_size", 1)) * int(
        exec_opts.get("pipeline_parallel_size", 1))


class LLM:
    """Cached batch generation for one role. The backend is built on the first cache miss."""

    def __init__(self, role: str, spec: ModelSpec, run: RunParams, *, stage: str,
                 cache: Cache | None = None, ledger: Ledger | None = None,
                 backend_factory: Callable[..., Backend] = make_backend, share: int = 1):
        """`share`: how many jobs run this role at the same time (a generate agent's shard
        jobs). The role's `max_concurrency` bounds requests in flight for the whole run, so
        each job gets an equal part of it (at least one request)."""
        self.role, self.spec, self.run, self.stage = role, spec, run, stage
        self.exec_opts = run.role_exec(role)
        if share > 1 and "max_concurrency" in self.exec_opts:
            mc = int(self.exec_opts["max_concurrency"])
            if share > mc:
                log.warning("%s: %d jobs share max_concurrency %d: each keeps 1 request in "
                            "flight (%d in all); use at most %d shards", role, share, mc, share, mc)
            self.exec_opts["max_concurrency"] = max(1, mc // share)
        self.cache = cache if cache is not None else Cache(run.cache, run.job or stage)
        self.ledger = ledger if ledger is not None else Ledger(stage)
        self.revision = resolve_revision(spec, self.cache.folder / "fingerprints")
        self.compute = compute_key(spec, run)
        self._factory, self._backend = backend_factory, None
        self._batches = 0  # backend batches committed by this process (for fault points)

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            t0 = time.monotonic()
            self._backend = self._factory(self.spec, self.run, self.exec_opts)
            self._row().load_s += time.monotonic() - t0
        return self._backend

    def _row(self) -> LedgerRow:
        return self.ledger.row(self.role, self.spec, self.revision,
                               devices_of(self.spec, self.exec_opts))

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        row = self._row()
        keys = [request_key(self.spec, self.revision, r, self.compute) for r in requests]
        batches = None
        if self.spec.backend in BATCH_PLANNED:
            batches = plan_batches(requests, batch_size_of(self.spec))
            keys = batch_keys(keys, batches)
        hits = self.cache.get_many(keys)
        results: list[Completion | None] = [hits.get(k) for k in keys]
        if batches is not None:  # a batch is asked whole, or not at all
            todo = [b for b in batches if any(results[i] is None for i in b)]
            for b in todo:
                for i in b:
                    results[i] = None
            misses = [i for b in todo for i in b]
        else:
            misses = [i for i, c in enumerate(results) if c is None]
        row.requests += len(requests)
        row.cache_hits += len(requests) - len(misses)
        report_progress(self.cache.job, len(requests) - len(misses))
        if misses:
            prog = Progress(f"{self.stage}[{self.role}]", len(misses),
                            every_s=self.run.progress_every_s, emit=log.info)

            def on_done(batch: list[tuple[int, Completion]], index: Sequence[int] = misses) -> None:
                self._batches += 1
                hold(f"before_commit:{self._batches}", self.cache.job)
                done = []
                for j, c in batch:
                    i = index[j]
                    results[i] = c
                    done.append((keys[i], c))
                    row.model_calls += 1
                    row.new_prompt_tokens += c.prompt_tokens
                    row.new_completion_tokens += c.completion_tokens
                self.cache.put_many(done)  # one transaction per backend batch
                hold(f"after_commit:{self._batches}", self.cache.job)
                tokens = sum(c.completion_tokens for _, c in batch)
                prog.update(len(batch), tokens)
                report_progress(self.cache.job, len(batch), tokens)

            backend = self.backend
            prog.start()  # after the load: the ETA's rate is generation only
            t0 = time.monotonic()
            try:
                if batches is None:
                    backend.generate([requests[i] for i in misses], on_done)
                else:  # one backend call per planned batch: its rows, in its order
                    for b in todo:
                        backend.generate([requests[i] for i in b],
                                         lambda done, b=b: on_done(done, b))
            finally:
                row.generate_s += time.monotonic() - t0
        missing = [i for i, c in enumerate(results) if c is None]
        if missing:
            raise RuntimeError(f"backend {self.spec.backend} returned no completion for "
                               f"{len(missing)} request(s), e.g. #{missing[0]}")
        for c in results:
            row.failed += c.finish_reason == "error"
            row.prompt_tokens += c.prompt_tokens
            row.completion_tokens += c.completion_tokens
        return results  # type: ignore[return-value]

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def main(argv: list[str] | None = None) -> None:
    """python -m reasonmed.llm.client verifier "Is aspirin an NSAID?" --seed 3"""
    import random

    from reasonmed.core.params import load_models, load_run, model_spec

    params = "params.yaml"
    if argv is None and "--params" in sys.argv:
        params = sys.argv[sys.argv.index("--params") + 1]
    try:
        roles = ", ".join(load_models(params))
    except (SystemExit, OSError):
        roles = f"(unreadable: {params})"
    ap = argparse.ArgumentParser(
        description="Ask one role's model a question (smoke test). Each call draws a fresh "
                    "sample unless --seed is given; the request cache keeps every answer.",
        epilog=f"roles in {params}: {roles}")
    ap.add_argument("role", help="a role under `models`")
    ap.add_argument("prompt")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, help="sampling seed: the same seed gives the same "
                    "(cached) answer; default: a new one per call (T > 0)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--json", action="store_true",
                    help="after the reply, the full run ledger row as JSON (execution facts)")
    a = ap.parse_args(argv)
    # One reply and one summary line: no library bars, no per-batch progress lines.
    from reasonmed.core.progress import quiet_libraries

    quiet_libraries()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    run = load_run(a.params)
    # The seed is part of the cache key: without one, a sampled (T > 0) request gets a new
    # seed per call, so asking again samples again instead of replaying the cached answer.
    seed = a.seed if a.seed is not None else (0 if a.temperature == 0 else random.randrange(2**31))
    llm = LLM(a.role, model_spec(a.role, a.params), run, stage="cli")
    [c] = llm.generate([Request.chat(None, a.prompt, temperature=a.temperature,
                                     max_tokens=a.max_tokens, seed=seed)])
    print(c.text, flush=True)  # before the summary on stderr, in a terminal too
    if a.json:
        print(json.dumps(llm.ledger.run_list(), indent=2))
    print(summary(llm.ledger.run_list()[0], c, seed), file=sys.stderr)


def summary(row: dict, c: Completion, seed: int) -> str:
    """The CLI's one line: tokens, generation tokens/s (the model load apart), load time,
    and whether the cache answered."""
    src = "cache hit" if row["cache_hits"] else "model call"
    speed = (f"{c.completion_tokens / row['generate_s']:.1f} tok/s generation"
             if row["model_calls"] and row["generate_s"] > 0 else "no generation")
    return (f"{row['role']} ({row['backend']}:{row['model']}): {c.prompt_tokens} prompt + "
            f"{c.completion_tokens} completion tokens | {speed} | load {row['load_s']:.1f} s | "
            f"{src} | seed {seed} | {c.finish_reason}")


if __name__ == "__main__":
    main()

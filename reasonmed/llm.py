"""One batch interface for every LLM role, with a content-addressed SQLite request cache.

A role (agent, verifier, ranker, ...) is addressed by a model spec in params.yaml
(`backend`, `model`, `revision`, `options`). `LLM(spec).generate(requests)` returns one
`Completion` per `Request`, in order. Before any model is loaded the cache is consulted:
a rerun with unchanged inputs makes zero model calls and loads no model. Completions are
committed to the cache as they arrive, so a killed stage resumes where it stopped.

Backends (imported lazily, so `--help` and pure tests stay fast):
  hf      transformers, batched, chat templates, outlines for JSON-schema output (default)
  vllm    offline vllm.LLM engine, per-request seeds, prefix caching, guidance structured output
  openai  any OpenAI-compatible server, async with bounded concurrency and retries

    python -m reasonmed.llm verifier "Say hello" --max-tokens 16
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reasonmed.params import ModelSpec, RunParams

log = logging.getLogger("reasonmed.llm")

Message = dict[str, str]  # {"role": ..., "content": ...}


@dataclass(frozen=True)
class Request:
    """One sample to draw. `sample` distinguishes draws that share everything else."""

    messages: tuple[tuple[str, str], ...]  # ((role, content), ...): hashable, order kept
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int = 0
    sample: int = 0
    schema: dict[str, Any] | None = field(default=None, hash=False)  # JSON schema

    @staticmethod
    def chat(system: str | None, user: str, **kw: Any) -> Request:
        msgs = ((("system", system),) if system else ()) + (("user", user),)
        return Request(messages=msgs, **kw)

    def message_dicts(self) -> list[Message]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def sampling_key(self) -> tuple:
        """Requests sharing this key can go in one backend batch."""
        return (self.temperature, self.top_p, self.max_tokens,
                json.dumps(self.schema, sort_keys=True) if self.schema else None)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop" | "length" | "error"
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False
    error: str | None = None  # set when finish_reason == "error"; never cached


OnDone = Callable[[int, Completion], None]


class Backend(Protocol):
    """Generates `requests`, calling `on_done(i, completion)` as each one finishes."""

    def generate(self, requests: Sequence[Request], on_done: OnDone) -> None: ...

    def close(self) -> None: ...


# --- cache ---------------------------------------------------------------------------


class Cache:
    """Content-addressed completions in SQLite (WAL: parallel shard jobs may share it)."""

    def __init__(self, path: str | os.PathLike):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self.db = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
            " finish_reason TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,"
            " backend TEXT, model TEXT, created REAL)")

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        out: dict[str, Completion] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i:i + 500])
            q = ",".join("?" * len(chunk))
            for k, text, fr, pt, ct in self.db.execute(
                    f"SELECT key, text, finish_reason, prompt_tokens, completion_tokens"
                    f" FROM completions WHERE key IN ({q})", chunk):
                out[k] = Completion(text, fr, pt, ct, cached=True)
        return out

    def put_many(self, rows: Sequence[tuple[str, Completion]], backend: str, model: str) -> None:
        now = time.time()
        with self.db:  # one transaction: a batch lands whole or not at all
            self.db.executemany(
                "INSERT OR REPLACE INTO completions VALUES (?,?,?,?,?,?,?,?)",
                [(k, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens,
                  backend, model, now) for k, c in rows if c.finish_reason != "error"])

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self.db.close()


def model_revision(spec: ModelSpec) -> str:
    """The revision that goes into cache keys: pinned, or a fingerprint of a local folder.

    A local folder is fingerprinted by the contents of its small files (config, tokenizer,
    chat template) and the size of its weight files, so rebuilding the tiny models with
    other settings invalidates their cached completions without hashing 140 GB of weights.
    """
    if spec.revision:
        return spec.revision
    p = Path(spec.model)
    if not p.is_dir():
        return "unpinned"
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(p)).encode())
            size = f.stat().st_size
            h.update(f.read_bytes() if size < 32 << 20 else str(size).encode())
    return "sha256:" + h.hexdigest()[:16]


def request_key(spec: ModelSpec, revision: str, req: Request) -> str:
    payload = {
        "backend": spec.backend, "model": spec.model, "revision": revision,
        "messages": req.messages, "temperature": req.temperature, "top_p": req.top_p,
        "max_tokens": req.max_tokens, "seed": req.seed, "sample": req.sample,
        "schema": req.schema,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --- ledger and progress --------------------------------------------------------------


@dataclass
class LedgerRow:
    stage: str
    role: str
    backend: str
    model: str
    devices: int = 1  # GPUs (or CPU processes) the backend holds while generating
    requests: int = 0
    cache_hits: int = 0
    model_calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0  # over all completions, cached ones included (cost of the run)
    completion_tokens: int = 0
    new_prompt_tokens: int = 0  # only what this invocation asked a model for
    new_completion_tokens: int = 0
    generate_s: float = 0.0  # wall time inside backends (x devices = device-seconds)
    load_s: float = 0.0


class Ledger:
    """Per-stage, per-role token and time accounting; saved as a JSON list of rows."""

    def __init__(self, stage: str):
        self.stage, self.rows = stage, {}

    def row(self, role: str, spec: ModelSpec) -> LedgerRow:
        if role not in self.rows:
            devices = int(spec.options.get("tensor_parallel_size", 1)) * int(
                spec.options.get("pipeline_parallel_size", 1)) if spec.backend == "vllm" else 1
            self.rows[role] = LedgerRow(self.stage, role, spec.backend, spec.model, devices)
        return self.rows[role]

    def to_list(self) -> list[dict]:
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


class Progress:
    """Logs requests done, tokens/s and ETA at most every `every_s` seconds."""

    def __init__(self, label: str, total: int, every_s: float = 10.0):
        self.label, self.total, self.every_s = label, total, every_s
        self.done = self.tokens = 0
        self.t0 = self.last = time.monotonic()

    def update(self, n: int = 1, tokens: int = 0) -> None:
        self.done += n
        self.tokens += tokens
        now = time.monotonic()
        if now - self.last >= self.every_s or self.done == self.total:
            self.last = now
            log.info(self.line(now))

    def line(self, now: float | None = None) -> str:
        el = max((now or time.monotonic()) - self.t0, 1e-9)
        rate = self.done / el
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta != float("inf") else "?"
        return (f"{self.label}: {self.done}/{self.total} requests "
                f"({100 * self.done / max(self.total, 1):.0f}%) | {self.tokens / el:.1f} tok/s "
                f"| ETA {eta_s}")


# --- the interface -------------------------------------------------------------------


def make_backend(spec: ModelSpec, run: RunParams) -> Backend:
    if spec.backend == "hf":
        from reasonmed.backends.hf import HFBackend
        return HFBackend(spec, run)
    if spec.backend == "vllm":
        from reasonmed.backends.vllm_engine import VLLMBackend
        return VLLMBackend(spec, run)
    if spec.backend == "openai":
        from reasonmed.backends.openai_api import OpenAIBackend
        return OpenAIBackend(spec, run)
    raise ValueError(f"unknown backend {spec.backend!r}")


class LLM:
    """Cached batch generation for one role. The backend is built on the first cache miss."""

    def __init__(self, role: str, spec: ModelSpec, run: RunParams, *, stage: str,
                 cache: Cache | None = None, ledger: Ledger | None = None,
                 backend_factory: Callable[[ModelSpec, RunParams], Backend] = make_backend):
        self.role, self.spec, self.run, self.stage = role, spec, run, stage
        self.cache = cache if cache is not None else Cache(run.cache)
        self.ledger = ledger if ledger is not None else Ledger(stage)
        self.revision = model_revision(spec)
        self._factory, self._backend = backend_factory, None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            t0 = time.monotonic()
            self._backend = self._factory(self.spec, self.run)
            self.ledger.row(self.role, self.spec).load_s += time.monotonic() - t0
        return self._backend

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        row = self.ledger.row(self.role, self.spec)
        keys = [request_key(self.spec, self.revision, r) for r in requests]
        hits = self.cache.get_many(keys)
        results: list[Completion | None] = [hits.get(k) for k in keys]
        misses = [i for i, c in enumerate(results) if c is None]
        row.requests += len(requests)
        row.cache_hits += len(requests) - len(misses)
        if misses:
            prog = Progress(f"{self.stage}[{self.role}]", len(misses), self.run.progress_every_s)
            pending: list[tuple[str, Completion]] = []

            def on_done(j: int, c: Completion) -> None:
                i = misses[j]
                results[i] = c
                pending.append((keys[i], c))
                row.model_calls += 1
                row.errors += c.finish_reason == "error"
                row.new_prompt_tokens += c.prompt_tokens
                row.new_completion_tokens += c.completion_tokens
                prog.update(1, c.completion_tokens)
                if len(pending) >= 64 or prog.done == prog.total:
                    self.cache.put_many(pending, self.spec.backend, self.spec.model)
                    pending.clear()

            backend = self.backend
            t0 = time.monotonic()
            try:
                backend.generate([requests[i] for i in misses], on_done)
            finally:
                self.cache.put_many(pending, self.spec.backend, self.spec.model)
                row.generate_s += time.monotonic() - t0
        missing = [i for i, c in enumerate(results) if c is None]
        if missing:
            raise RuntimeError(f"backend {self.spec.backend} returned no completion for "
                               f"{len(missing)} request(s), e.g. #{missing[0]}")
        for c in results:
            row.prompt_tokens += c.prompt_tokens
            row.completion_tokens += c.completion_tokens
        return results  # type: ignore[return-value]

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def main() -> None:
    from reasonmed.params import load_run, model_spec
    ap = argparse.ArgumentParser(description="Ask one role's model a question (smoke test).")
    ap.add_argument("role")
    ap.add_argument("prompt")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run = load_run(a.params)
    llm = LLM(a.role, model_spec(a.role, a.params), run, stage="cli")
    [c] = llm.generate([Request.chat(None, a.prompt, temperature=a.temperature,
                                     max_tokens=a.max_tokens)])
    print(c.text)
    print(json.dumps(llm.ledger.to_list(), indent=2))


if __name__ == "__main__":
    main()

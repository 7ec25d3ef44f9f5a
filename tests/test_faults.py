"""Backend faults against a fault-injecting OpenAI-compatible server (tests/fault_server.py):
every request ends completed or recorded failed, nothing completed is asked again, in-flight
requests never exceed the bound (across jobs too), `timeout_s` is a deadline, and an
unmendable error stops at the first request."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from reasonmed.core.params import ModelSpec, RunParams
from reasonmed.llm.backends.openai_api import OpenAIBackend
from reasonmed.llm.cache import Cache
from reasonmed.llm.client import LLM
from reasonmed.llm.types import FatalBackendError, Request
from tests.fault_server import serve

EXEC = {"max_retries": 4, "timeout_s": 1.0, "backoff_base_s": 0.01, "backoff_max_s": 0.05,
        "max_concurrency": 4}
MIX = {"429": 0.04, "500": 0.03, "503": 0.03, "reset": 0.03, "hang": 0.02, "trickle": 0.01,
       "truncated": 0.02, "nonjson": 0.02}  # 20% of attempts faulted


def reqs(n: int, tag: str = "q") -> list[Request]:
    return [Request.chat(None, f"{tag}{i}", temperature=0.0, max_tokens=32, seed=i) for i in range(n)]


def spec(url: str) -> ModelSpec:
    return ModelSpec(backend="openai", model="verifier", options={"base_url": url})


def test_twenty_percent_faults_end_completed_or_failed_within_the_bound(tmp_path):
    with serve(MIX, seed=1, max_faults=2, hang_s=2.0, trickle_s=0.2) as (url, st):
        llm = LLM("verifier", spec(url), RunParams(cache=str(tmp_path), roles={"verifier": EXEC}),
                  stage="t")
        out = llm.generate(reqs(200))
    assert sum(st.injected.values()) >= 30, st.injected
    assert all(c.finish_reason in ("stop", "error") for c in out)
    assert all(st.answered[f"q{i}"] <= 1 for i in range(200)), "a completed request was re-sent"
    done = [i for i, c in enumerate(out) if not c.failed]
    assert all(st.answered[f"q{i}"] == 1 for i in done)
    assert all(c.error_kind for c in out if c.failed)
    assert st.max_inflight <= EXEC["max_concurrency"]
    assert len(done) >= 190  # two faults per message at most, four retries: nearly all finish


def test_timeout_bounds_a_whole_request_even_when_the_server_trickles(tmp_path):
    with serve({"trickle": 1.0}, max_faults=99, trickle_s=0.5) as (url, _):
        b = OpenAIBackend(spec(url), RunParams(), {"max_retries": 0, "timeout_s": 2.0})
        got, t0 = [], time.monotonic()
        b.generate(reqs(1), got.extend)
        took = time.monotonic() - t0
    assert got[0][1].failed and got[0][1].error_kind == "timeout"
    assert took < 3.5, f"held {took:.1f} s at timeout_s 2"


def test_deadline_bounds_all_retries(tmp_path):
    with serve({"hang": 1.0}, max_faults=99, hang_s=5.0) as (url, _):
        b = OpenAIBackend(spec(url), RunParams(), {"max_retries": 10, "timeout_s": 1.0,
                                                   "deadline_s": 2.5, "backoff_base_s": 0.01})
        got, t0 = [], time.monotonic()
        b.generate(reqs(1), got.extend)
        took = time.monotonic() - t0
    assert got[0][1].failed and took < 4.0, took


def test_expired_key_stops_at_the_first_request(tmp_path):
    with serve({"401": 1.0}) as (url, st):
        llm = LLM("verifier", spec(url), RunParams(cache=str(tmp_path), roles={"verifier": EXEC}),
                  stage="t")
        with pytest.raises(FatalBackendError, match="HTTP 401"):
            llm.generate(reqs(500))
    assert sum(st.attempts.values()) <= EXEC["max_concurrency"]  # only what was in flight
    assert len(Cache(tmp_path, "t")) == 0


def _shard_job(url: str, cache: str, k: int, share: int) -> None:
    run = RunParams(cache=cache, roles={"verifier": {**EXEC, "max_concurrency": 4}})
    LLM("verifier", spec(url), run.model_copy(update={"job": f"shard{k}"}), stage="t",
        share=share).generate(reqs(40, tag=f"s{k}-"))


def test_concurrency_bound_holds_across_shard_jobs(tmp_path):
    with serve({"hang": 0.0}, hang_s=0.0, reply=lambda m: (time.sleep(0.05), "ok")[1]) as (url, st):
        ctx = mp.get_context("spawn")
        jobs = [ctx.Process(target=_shard_job, args=(url, str(tmp_path), k, 2)) for k in range(2)]
        for j in jobs:
            j.start()
        for j in jobs:
            j.join(120)
            assert j.exitcode == 0
    assert sum(st.answered.values()) == 80
    assert st.max_inflight <= 4, st.max_inflight

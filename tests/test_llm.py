"""The LLM interface: cache keys, zero-call reruns, resume after a kill, ledger."""

import pytest

from reasonmed.llm import LLM, Cache, Completion, Ledger, Request, request_key
from reasonmed.params import ModelSpec, RunParams

SPEC = ModelSpec(backend="hf", model="fake/model", revision="r1")


class CountingBackend:
    """Test double: echoes the prompt; can die after `die_after` completions."""

    def __init__(self, die_after=None, fail=()):
        self.calls, self.die_after, self.fail = 0, die_after, set(fail)

    def generate(self, requests, on_done):
        for i, r in enumerate(requests):
            if self.die_after is not None and self.calls >= self.die_after:
                raise KeyboardInterrupt("killed")
            self.calls += 1
            text = r.messages[-1][1]
            if text in self.fail:
                on_done(i, Completion("", "error", 0, 0, error="boom"))
            else:
                on_done(i, Completion(f"echo {text}", "stop", 3, 2))

    def close(self):
        pass


def make(tmp_path, backend):
    return LLM("role", SPEC, RunParams(cache=str(tmp_path / "c.sqlite")), stage="t",
               backend_factory=lambda s, r: backend)


def reqs(n):
    return [Request.chat("sys", f"q{i}", temperature=0.7, seed=i) for i in range(n)]


def test_rerun_makes_zero_calls_and_loads_no_model(tmp_path):
    b = CountingBackend()
    out1 = make(tmp_path, b).generate(reqs(5))
    loaded = []
    llm2 = LLM("role", SPEC, RunParams(cache=str(tmp_path / "c.sqlite")), stage="t",
               backend_factory=lambda s, r: loaded.append(1) or CountingBackend())
    out2 = llm2.generate(reqs(5))
    assert b.calls == 5 and loaded == []
    assert [c.text for c in out1] == [c.text for c in out2] and all(c.cached for c in out2)
    row = llm2.ledger.to_list()[0]
    assert row["model_calls"] == 0 and row["cache_hits"] == 5 and row["completion_tokens"] == 10


def test_killed_run_resumes_without_reasking(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        make(tmp_path, CountingBackend(die_after=3)).generate(reqs(5))
    b = CountingBackend()
    out = make(tmp_path, b).generate(reqs(5))
    assert b.calls == 2 and [c.text for c in out] == [f"echo q{i}" for i in range(5)]


def test_errors_are_returned_not_cached(tmp_path):
    out = make(tmp_path, CountingBackend(fail={"q1"})).generate(reqs(3))
    assert [c.finish_reason for c in out] == ["stop", "error", "stop"]
    b = CountingBackend()
    make(tmp_path, b).generate(reqs(3))
    assert b.calls == 1  # only the failed one is asked again


@pytest.mark.parametrize("change", [
    dict(temperature=0.9), dict(top_p=0.5), dict(max_tokens=7), dict(seed=99), dict(sample=1),
    dict(schema={"type": "object"}), dict(messages=(("user", "other"),)),
])
def test_cache_key_covers_every_sampling_field(change):
    base = Request.chat(None, "q", temperature=0.7, seed=1)
    other = Request(**{**base.__dict__, **change})
    assert request_key(SPEC, "r1", base) != request_key(SPEC, "r1", other)
    assert request_key(SPEC, "r1", base) != request_key(SPEC, "r2", base)
    assert request_key(SPEC, "r1", base) != request_key(
        ModelSpec(backend="vllm", model="fake/model"), "r1", base)


def test_ledger_merge_sums_shards():
    rows = [{"stage": "g", "role": "a", "devices": 1, "requests": 2, "prompt_tokens": 5},
            {"stage": "g", "role": "a", "devices": 1, "requests": 3, "prompt_tokens": 1}]
    [m] = Ledger.merge([rows[:1], rows[1:]])
    assert m["requests"] == 5 and m["prompt_tokens"] == 6 and m["devices"] == 1


def test_cache_is_shared_safely(tmp_path):
    c1, c2 = Cache(tmp_path / "x.sqlite"), Cache(tmp_path / "x.sqlite")
    c1.put_many([("k", Completion("t", "stop", 1, 1))], "hf", "m")
    assert c2.get_many(["k"])["k"].text == "t" and len(c2) == 1


@pytest.mark.slow
def test_hf_backend_batches_and_constrains_json(tiny_models, tmp_path):
    import json

    from reasonmed.verification import verdict_schema
    spec = ModelSpec(backend="hf", model=tiny_models["judge"], options={"batch_size": 4})
    llm = LLM("judge", spec, RunParams(cache=str(tmp_path / "c.sqlite")), stage="t")
    free = llm.generate([Request.chat(None, f"patient {i}", max_tokens=12, seed=i) for i in range(6)])
    assert all(c.completion_tokens <= 12 and c.finish_reason in ("stop", "length") for c in free)
    js = llm.generate([Request.chat(None, f"judge {i}", max_tokens=200, seed=i,
                                     schema=verdict_schema(120)) for i in range(10)])
    objs = [json.loads(c.text) for c in js]
    assert {o["verdict"] for o in objs} <= {"Correct", "Error"}
    assert all(len(o["reason"]) <= 120 for o in objs)

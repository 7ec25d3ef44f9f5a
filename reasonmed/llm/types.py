"""The types every layer of the LLM interface shares: a request, a completion, the backend
protocol and the per-batch callback. The client, the cache and the backends all import this
module and none of each other, so the layer has no import cycle.

    python -c "from reasonmed.llm.types import Request; print(Request.chat(None, 'hi'))"
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reasonmed.core import errors

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
    error_kind: str | None = None  # a short class: http_503, timeout, connection, malformed...

    @property
    def failed(self) -> bool:
        return self.finish_reason == "error"


# Re-exported: backends raise it, stages' callers catch it.
FatalBackendError = errors.FatalBackendError


# Called once per backend batch with (request index, completion) pairs: the request cache
# commits exactly at batch boundaries, so a resumed run re-asks whole batches.
OnDone = Callable[[list[tuple[int, "Completion"]]], None]


class Backend(Protocol):
    """Generates `requests`, calling `on_done(batch)` as each batch finishes."""

    def generate(self, requests: Sequence[Request], on_done: OnDone) -> None: ...

    def close(self) -> None: ...

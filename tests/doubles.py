"""Test doubles shared by the tests (never used outside tests): the real LLM client on the
library's fake backend (reasonmed/llm/backends/fake.py), each with a cache of its own."""

import tempfile

from reasonmed.core.params import ModelSpec, RunParams
from reasonmed.llm.backends.fake import FakeBackend, Reply
from reasonmed.llm.client import LLM

# One folder per test session, removed at exit; each LLM gets an empty folder inside it
# (the cache reads every file of its folder, so two doubles sharing one would answer each
# other's requests).
_CACHES = tempfile.TemporaryDirectory(prefix="reasonmed-test-llm-")


def fake_llm(reply: Reply | None = None, *, model: str = "judge", role: str = "judge",
             tokens: tuple[int, int] | None = (10, 5), **options) -> LLM:
    """An LLM whose replies `reply` computes (see FakeBackend); every reply reports `tokens`
    (None: counted words). What reached the backend (cache misses only):
    `llm.backend.seen` (batch sizes), `.batches`, `.requests`."""
    spec = ModelSpec(backend="fake", model=model, options=options)
    backend = FakeBackend(spec, reply=reply, tokens=tokens)
    return LLM(role, spec, RunParams(cache=tempfile.mkdtemp(dir=_CACHES.name)), stage="test",
               backend_factory=lambda *_: backend)


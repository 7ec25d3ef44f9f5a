"""Test doubles shared by the judge-stage tests (never used outside tests)."""

from reasonmed.llm import Completion
from reasonmed.params import ModelSpec


class ScriptedLLM:
    """An LLM whose replies are computed from each request; records batch sizes."""

    spec = ModelSpec(backend="hf", model="judge")

    def __init__(self, replies):
        self.replies, self.seen = replies, []

    def generate(self, requests):
        self.seen.append(len(requests))
        return [Completion(self.replies(r), "stop", 10, 5) for r in requests]

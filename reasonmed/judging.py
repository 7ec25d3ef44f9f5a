"""Integer-score judges shared by rank (0-5 quality ranker) and score (1-10 score evaluator).

Three small pieces: a schema (enum of the allowed integers, bounded justification), a
tolerant parser for the judge's reply, and the bounded retry loop every judge role uses
(verify too), which re-asks only the items whose reply did not parse. A reply that never
parses is recorded as `None`, never as a number.

Score policy (both stages; the authors' code differs, see parse_score):
  accepted   an int, an integral float (4.0), a string of digits ("4", " 4 ")
  rejected   non-integral numbers (4.5), booleans, other strings, out-of-range values
Out-of-range values are parse failures, not clamped: clamping a 7 to 5 hides a judge that
ignored the scale, and a retry costs one request.

    python -c "from reasonmed.judging import parse_score; print(parse_score('{\\"score\\": 4}', range(6)))"
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reasonmed.llm import LLM, Request


class ParseError(ValueError):
    pass


def score_schema(scale: Sequence[int], justification_max_chars: int) -> dict:
    # enum, not minimum/maximum: outlines ignores the bounds (STACK-NOTES, structured output).
    return {"type": "object", "additionalProperties": False, "required": ["score", "justification"],
            "properties": {"score": {"type": "integer", "enum": list(scale)},
                           "justification": {"type": "string",
                                             "maxLength": justification_max_chars}}}


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


def json_objects(text: str) -> Iterator[dict]:
    """JSON objects in a reply: the whole text, then ```json fences, then any embedded `{...}`.

    raw_decode at each "{" handles nested braces and trailing prose, which a regex does not.
    """
    for cand in [text.strip(), *_FENCE.findall(text)]:
        try:
            obj = json.loads(cand)
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = _DECODER.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj


def as_int(v: object) -> int | None:
    """v as an integer if it is one in substance (4, 4.0, "4"); None otherwise."""
    if isinstance(v, bool):  # bool is an int subclass: True is not a score of 1
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+\s*", v):
        return int(v)
    return None


def parse_score(text: str, scale: Sequence[int]) -> tuple[int, str | None]:
    """(score, justification) from a judge reply; ParseError says why not.

    Deviations from the authors (quality_ranker.py, score_evaluator.py): they accept only a
    Python int and clamp it into range; here integral floats and digit strings are accepted
    (API models without enforced schemas write them) and out-of-range values are rejected
    (and retried) rather than clamped. A missing justification is allowed (None), as in
    their code; a justification that is not a string is an error.
    """
    objs = list(json_objects(text))
    obj = next((o for o in objs if "score" in o), None)
    if obj is None:
        if objs:
            raise ParseError("missing key 'score'")
        if not text.strip():
            raise ParseError("empty reply")
        raise ParseError("no JSON object" + (" (truncated?)" if "{" in text else ""))
    raw = obj["score"]
    score = as_int(raw)
    if score is None:
        raise ParseError(f"score {raw!r} is not an integer")
    if score not in scale:
        raise ParseError(f"score {score} out of range {min(scale)}-{max(scale)}")
    just = obj.get("justification")
    if just is not None and not isinstance(just, str):
        raise ParseError("justification is not a string")
    return score, just.strip() if just is not None else None


@dataclass
class Judged:
    """One judgement over all attempts: `value` (a verdict or a score) and `note` (its reason
    or justification) once a reply parsed; `value is None` when none did."""

    value: Any = None
    note: str | None = None
    errors: list[str] = field(default_factory=list)  # parse errors of failed attempts
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def parsed(self) -> bool:
        return self.value is not None

    @property
    def attempts(self) -> int:
        return len(self.errors) + self.parsed


T = TypeVar("T")


def judge(items: Sequence[T], request: Callable[[T, int], Request],
          parse: Callable[[str], tuple[Any, str | None]], llm: LLM,
          max_attempts: int) -> list[Judged]:
    """Judge items with `request(item, attempt)`; re-ask only unparsed ones, up to max_attempts.

    The one retry loop of every judge role (verify, rank, score, re-verification). `request`
    must vary the seed/sample with `attempt`, or a cached failure would come back.
    """
    out = [Judged() for _ in items]
    todo = list(range(len(items)))
    for attempt in range(max_attempts):
        if not todo:
            break
        comps = llm.generate([request(items[i], attempt) for i in todo])
        retry = []
        for i, c in zip(todo, comps):
            j = out[i]
            j.prompt_tokens += c.prompt_tokens
            j.completion_tokens += c.completion_tokens
            try:
                if c.finish_reason == "error":
                    raise ParseError(f"backend error: {c.error}")
                j.value, j.note = parse(c.text)
            except ParseError as e:
                j.errors.append(str(e))
                retry.append(i)
        todo = retry
    return out


def judge_scores(items: Sequence[T], request: Callable[[T, int], Request], llm: LLM,
                 scale: Sequence[int], max_attempts: int) -> list[Judged]:
    """`judge` with the integer-score parser: `value` is the score, `note` the justification."""
    return judge(items, request, lambda text: parse_score(text, scale), llm, max_attempts)

"""Judge replies: the one JSON reply parser every judge role shares (verify, rank, score,
re-verification), the integer-score schema and parser (rank 0-5, score 1-10), and the bounded
retry loop, which re-asks only the items whose reply did not parse. A reply that never
parses is recorded as `None`, never as a number or a verdict.

Every parser here returns a value or raises ParseError, for any input string, in time linear
in its length (tests/test_judging.py runs them over a generated table of adversarial replies).

Reply contract (parse_score here, parse_verdict in verification.py):
  length     a reply over MAX_REPLY_CHARS (65,536) characters is a parse failure; it is not
             scanned at all. Judge replies are a few hundred characters (the free text is
             bounded by the schema's maxLength); the cap bounds the work per reply.
  objects    the candidates are the reply's top-level JSON objects, wherever they stand: the
             whole reply, inside a ```json fence, or with prose around them. One left-to-right
             pass: at each `{` that opens a key (`{ "`), the C JSON decoder reads one object.
             A read object is skipped whole (objects nested in it are not candidates); a read
             that fails is prose, and the pass resumes where it failed, so each character is
             read about once. At most MAX_READS (32) reads per reply. Nesting is bounded by
             the interpreter's recursion limit: a RecursionError is caught and is a parse
             failure, as are numbers past Decimal's range and runs of more than 4300 digits.
             Integers are read as int, other numbers as Decimal (exact, never a float).
  strict     strict JSON inside every read: duplicate keys (object_pairs_hook), NaN/Infinity
             literals and raw control characters in strings are parse failures; so is a lone
             surrogate (raw or escaped, as in "\\ud800") in a string the parser returns.
  answers    objects that share a key with the schema are answers; others (an example such as
             {"a": 1}) are prose. A schema key written as a key (`"score":`) anywhere outside
             an answer (in an object cut off by max_tokens, in a format echo with
             placeholders, in a wrapper object such as {"result": {"score": 4}}, in a read
             that failed) makes the reply a parse failure: it is a second answer that cannot
             be read. Answers must all be valid and all give the same value and note (exact
             repeats are one answer); two that differ are a parse failure ("conflicting").
  schema     every answer is checked against the schema sent with its request (check_object):
             no key outside `properties` (additionalProperties false), every required key,
             types, `enum`, and `maxLength`/`minLength` in code points on the raw string (before
             the returned note is stripped). This holds whatever the backend enforced: OpenAI
             and Azure receive a reduced schema (backends/openai_api.strict_schema) and some
             servers ignore schemas altogether.

Score policy (both stages; the authors' code differs, see parse_score):
  accepted   a JSON number whose literal is exactly an integer (4, -0, 4.0, 4e0, 40e-1): JSON
             Schema's `integer`; a string of ASCII digits with an optional sign and ASCII
             whitespace around ("4", " 4 "): models without an enforced schema write them
  rejected   numbers that are not exactly integers, whatever a Python float rounds them to
             (4.5, 3.9999999999999999, which float() reads as 4.0), other strings ("4.0",
             "four", non-ASCII digits such as "٤" or "４", which are not JSON numbers either),
             booleans, null, arrays, objects, and out-of-range values
Out-of-range values are parse failures, not clamped: clamping a 7 to 5 hides a judge that
ignored the scale, and a retry costs one request. A missing justification is allowed (None),
as in the authors' code, although the schema lists it as required.

    python -c "import reasonmed.method.judging as m; print(m.parse_score('{\\"score\\": 4}', range(6)))"
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from reasonmed.llm.client import LLM
from reasonmed.llm.types import Request

MAX_REPLY_CHARS = 65_536  # longer replies are parse failures, never scanned
MAX_READS = 32  # JSON objects the scan tries to read per reply
_INT_BOUND = 10**18  # as_int: no score on any scale is larger


class ParseError(ValueError):
    pass


def score_schema(scale: Sequence[int], justification_max_chars: int | None) -> dict:
    # enum, not minimum/maximum: outlines ignores the bounds (docs/stack.md, structured output).
    just: dict[str, Any] = {"type": "string"}
    if justification_max_chars is not None:
        just["maxLength"] = justification_max_chars
    return {"type": "object", "additionalProperties": False, "required": ["score", "justification"],
            "properties": {"score": {"type": "integer", "enum": list(scale)},
                           "justification": just}}


# --- the scan -------------------------------------------------------------------------

_START = re.compile(r'\{[ \t\n\r]*"')  # a `{` that opens a key: where a read starts
_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGITS = re.compile(r"[ \t\n\r]*[+-]?[0-9]+[ \t\n\r]*")  # ASCII only: not \d, not \s


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ParseError(f"duplicate key {_show(k)}")
            seen.add(k)
    return obj


def _constant(name: str) -> Any:
    raise ParseError(f"{name} is not JSON")


# Integers are read as int (the decoder's fast path; a reply with a run of more than 4300
# digits is refused before: int() is quadratic in the digits and refuses them by default),
# other numbers as Decimal: exact, so 3.9999999999999999 stays what it says.
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9]{4301}")  # tried at run starts only: linear
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=Decimal, parse_int=int,
                            parse_constant=_constant, strict=True)


@dataclass
class Scan:
    """What one pass over a reply found: the top-level objects it read as (start, end, object),
    and the reads that failed as (start, end, why); `truncated` when the last failed read ran
    into the end of the reply (the pass stops there)."""

    objects: list[tuple[int, int, dict]] = field(default_factory=list)
    failures: list[tuple[int, int, str]] = field(default_factory=list)
    truncated: bool = False


def scan(text: str) -> Scan:
    """The top-level JSON objects of a reply, in one linear pass (see the module docstring)."""
    if not isinstance(text, str):
        raise ParseError(f"reply is {type(text).__name__}, not text")
    if len(text) > MAX_REPLY_CHARS:
        raise ParseError(f"reply is {len(text)} characters, over the {MAX_REPLY_CHARS}-character cap")
    if m := _LONG_DIGITS.search(text):
        raise ParseError(f"a number of more than 4300 digits (char {m.start()})")
    out, pos, reads = Scan(), 0, 0
    while m := _START.search(text, pos):
        reads += 1
        if reads > MAX_READS:
            raise ParseError(f"more than {MAX_READS} JSON objects in the reply")
        start = m.start()
        try:
            obj, end = _DECODER.raw_decode(text, start)
        except ParseError:
            raise
        except RecursionError:
            raise ParseError("JSON nested too deeply") from None
        except json.JSONDecodeError as e:
            why = f"{e.msg} (char {e.pos})"
            # An unterminated string leaves no `{ "` after it unread (every such quote would
            # have closed it): nothing after it can be read, as for a read that hit the end.
            if e.msg.startswith("Unterminated string") or e.pos >= len(text):
                out.failures.append((start, len(text), why))
                out.truncated = True
                break
            out.failures.append((start, e.pos, why))
            pos = max(e.pos, start + 1)
            continue
        except (ArithmeticError, ValueError) as e:  # 1e999999999999999999, 5000-digit integers
            raise ParseError(f"unreadable number ({type(e).__name__})") from None
        out.objects.append((start, end, obj))
        pos = end
    return out


def json_objects(text: str) -> list[dict]:
    """The reply's top-level JSON objects (integers as int, other numbers as Decimal);
    ParseError on a hard failure (see scan)."""
    return [obj for _, _, obj in scan(text).objects]


@lru_cache(maxsize=64)
def _key_pattern(keys: tuple[str, ...]) -> re.Pattern:
    return re.compile('"(?:' + "|".join(re.escape(k) for k in keys) + r')"[ \t\n\r]*:')


def answers(text: str, schema: dict, required: Sequence[str] | None = None) -> list[dict]:
    """The reply's answers for `schema` (top-level objects sharing a key with it), at least
    one; ParseError says why there is none, or why the reply is malformed. `required` names
    the keys reported missing when no object has any schema key (default: the schema's).

    A schema key written as an object key (`"score":`) anywhere outside an answer (in a read
    that failed, in prose, in an object that is not an answer) makes the reply a parse failure:
    it is a second, unreadable or hidden, answer.
    """
    sc = scan(text)
    if not text.strip():
        raise ParseError("empty reply")
    props = tuple(schema["properties"])
    found = [(s, e, o) for s, e, o in sc.objects if not o.keys().isdisjoint(props)]
    spans, i = [(s, e) for s, e, _ in found], 0
    for m in _key_pattern(props).finditer(text):
        while i < len(spans) and spans[i][1] <= m.start():
            i += 1
        if i < len(spans) and spans[i][0] <= m.start():
            continue  # inside an answer
        key = m.group()[:m.group().rindex('"') + 1]
        why = next((w for s, e, w in sc.failures if s <= m.start() < e), None)
        if sc.truncated and m.start() >= sc.failures[-1][0]:
            raise ParseError(f"JSON object cut off at the end of the reply (truncated?): {why}")
        raise ParseError(f"key {key} outside a complete JSON answer (char {m.start()})"
                         + (f": {why}" if why else ""))
    if found:
        return [o for _, _, o in found]
    if sc.truncated:
        raise ParseError(f"no JSON object (truncated?): {sc.failures[-1][2]}")
    if sc.objects:
        want = schema.get("required", props) if required is None else required
        raise ParseError(f"missing key(s): {list(want)}")
    if sc.failures:
        raise ParseError(f"no JSON object ({sc.failures[-1][2]})")
    raise ParseError("no JSON object" + (" (truncated?)" if text.rfind("{") > text.rfind("}") else ""))


# --- the client-side schema check -----------------------------------------------------

_CHECKED = {"type", "enum", "maxLength", "minLength", "description", "title"}


def _show(v: object) -> str:
    """A short rendering of a JSON value for an error message (never the whole of a long one)."""
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int) and abs(v) >= 10**40:
        return "a 40+-digit integer"
    if isinstance(v, (int, Decimal)):
        s = str(v)
        return s if len(s) <= 40 else s[:40] + "..."
    if isinstance(v, str):
        return repr(v) if len(v) <= 40 else repr(v[:40]) + "..."
    return {list: "an array", dict: "an object"}.get(type(v), type(v).__name__)


def as_int(v: object) -> int | None:
    """v as an integer if it is one exactly (4, Decimal("4.0"), "4", " 4 "); None otherwise.

    A Python float gives None: it has lost its literal (3.9999999999999999 reads as 4.0), and
    the parser never produces one. Beyond +-10^18 gives None: no scale is that long.
    """
    if isinstance(v, bool):  # bool is an int subclass: True is not a score of 1
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, Decimal):
        try:
            if not v.is_finite() or abs(v) > _INT_BOUND or v != v.to_integral_value():
                return None
        except ArithmeticError:
            return None
        return int(v)
    if isinstance(v, str) and len(v) <= 40 and _DIGITS.fullmatch(v):
        return int(v)
    return None


def _range(enum: list) -> str:
    lo, hi = min(enum), max(enum)
    return f"range {lo}-{hi}" if list(enum) == list(range(lo, hi + 1)) else f"{enum}"


def _check_value(name: str, v: object, s: dict) -> object:
    if unknown := s.keys() - _CHECKED:
        raise ValueError(f"client-side check: schema keyword(s) {sorted(unknown)} not supported")
    enum, t = s.get("enum"), s.get("type")
    if t == "string":
        if not isinstance(v, str) or (enum is not None and v not in enum):
            if enum is not None:
                raise ParseError(f"{name} is {_show(v)}, not {'/'.join(map(str, enum))}")
            raise ParseError(f"{name} is not a string")
        if _SURROGATE.search(v):
            raise ParseError(f"{name} contains a lone surrogate (not Unicode text)")
        if (n := s.get("maxLength")) is not None and len(v) > n:
            raise ParseError(f"{name} is {len(v)} characters, over maxLength {n}")
        if (n := s.get("minLength")) is not None and len(v) < n:
            raise ParseError(f"{name} is {len(v)} characters, under minLength {n}")
        return v
    if t == "integer":
        i = as_int(v)
        if i is None:
            raise ParseError(f"{name} {_show(v)} is not an integer")
        if enum is not None and i not in enum:
            raise ParseError(f"{name} {_show(i)} out of {_range(enum)}")
        return i
    raise ValueError(f"client-side check: type {t!r} not supported")


def check_object(obj: dict, schema: dict, optional: Iterable[str] = ()) -> dict:
    """obj checked against an object schema: {key: value} (digit-string scores made ints);
    `optional` names required keys the parser lets a reply leave out."""
    props = schema["properties"]
    if schema.get("additionalProperties") is False and (extra := [k for k in obj if k not in props]):
        raise ParseError(f"unexpected key(s): {', '.join(_show(k) for k in extra[:5])}")
    missing = [k for k in schema.get("required", ()) if k not in obj and k not in set(optional)]
    if missing:
        raise ParseError(f"missing key(s): {missing}")
    return {k: _check_value(k, obj[k], s) for k, s in props.items() if k in obj}


def one(values: list[tuple]) -> tuple:
    """The single (value, note) the answers agree on; ParseError when they differ."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) > 1:
        raise ParseError(f"{len(distinct)} conflicting JSON objects in the reply")
    return distinct[0]


def sent_max_length(request: Request | None, key: str) -> int | None:
    """The maxLength the request's schema put on `key`, or None."""
    schema = getattr(request, "schema", None) or {}
    return schema.get("properties", {}).get(key, {}).get("maxLength")


def parse_score(text: str, scale: Sequence[int],
                max_chars: int | None = None) -> tuple[int, str | None]:
    """(score, justification) from a judge reply; ParseError says why not.

    `max_chars` is the justification's maxLength (None: unbounded). Deviations from the
    authors (quality_ranker.py, score_evaluator.py): they accept only a Python int and clamp
    it into range; here integral number literals and digit strings are accepted (API models
    without enforced schemas write them) and out-of-range values are rejected (and retried)
    rather than clamped. A missing justification is allowed (None), as in their code.
    """
    schema = score_schema(scale, max_chars)
    score, just = one([(v["score"], v.get("justification")) for v in
                       (check_object(o, schema, optional=("justification",))
                        for o in answers(text, schema, required=("score",)))])
    return score, just.strip() if just is not None else None


# --- the judge loop -------------------------------------------------------------------


@dataclass
class Judged:
    """One judgement over all attempts: `value` (a verdict or a score) and `note` (its reason
    or justification) once a reply parsed; `value is None` when none did."""

    value: Any = None
    note: str | None = None
    errors: list[str] = field(default_factory=list)  # parse errors of failed attempts
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The request failed (a backend error after the backend's own retries): not a parse
    # failure and never a judgement. The item is left out of the stage's records and listed
    # in its failures; not cached, it is asked again (same seed) on the next run.
    failure: Any = None  # the failed Completion

    @property
    def parsed(self) -> bool:
        return self.value is not None

    @property
    def attempts(self) -> int:
        return len(self.errors) + self.parsed


T = TypeVar("T")


def judge(items: Sequence[T], request: Callable[[T, int], Request],
          parse: Callable[[str, Request], tuple[Any, str | None]], llm: LLM,
          max_attempts: int) -> list[Judged]:
    """Judge items with `request(item, attempt)`; re-ask only unparsed ones, up to max_attempts.

    The one retry loop of every judge role (verify, rank, score, re-verification). `request`
    must vary the seed/sample with `attempt`, or a cached failure would come back. `parse`
    gets the reply and the request it answers (whose schema it checks the reply against).
    A failed request ends the item's attempts with `failure` set: asking again under the
    next attempt's seed would make its outcome depend on the fault.
    """
    out = [Judged() for _ in items]
    todo = list(range(len(items)))
    for attempt in range(max_attempts):
        if not todo:
            break
        reqs = [request(items[i], attempt) for i in todo]
        comps = llm.generate(reqs)
        retry = []
        for i, r, c in zip(todo, reqs, comps):
            j = out[i]
            j.prompt_tokens += c.prompt_tokens
            j.completion_tokens += c.completion_tokens
            if c.failed:
                j.failure = c
                continue
            try:
                j.value, j.note = parse(c.text, r)
            except ParseError as e:
                j.errors.append(str(e))
                retry.append(i)
        todo = retry
    return out


def judge_scores(items: Sequence[T], request: Callable[[T, int], Request], llm: LLM,
                 scale: Sequence[int], max_attempts: int) -> list[Judged]:
    """`judge` with the integer-score parser: `value` is the score, `note` the justification,
    checked against the justification maxLength each request's schema sent."""
    return judge(items, request,
                 lambda text, r: parse_score(text, scale, sent_max_length(r, "justification")),
                 llm, max_attempts)

"""Record text made safe: caps, encoding, invisible characters; `Bad`, a record's problem.

- numbers: NaN/Infinity is never a value (option, gold, id, context: reject; in meta it
  becomes null, counted); an integer used as text (id, option, gold) with more than
  `INT_DIGITS` digits, or past Python's 4,300-digit parsing limit, is rejected. Ids and
  per-record source/split names are capped at `ID_CHARS`.
- encoding: invalid UTF-8 bytes and lone surrogates (JSON `\\ud800` escapes) reject the
  record, naming the field, when they are in a field that shapes the question (stem,
  options, context, gold, id, source/split); in meta (provenance only, never shown to a
  model) they become U+FFFD, counted. A byte the decoder could not read is reported as
  `undecodable byte 0xNN`.
- invisible and control characters are stripped from every kept text, counted by kind:
  `ansi` (whole ESC/CSI/OSC sequences), `control` (C0 except TAB/LF, DEL, C1), `bidi`
  (U+202A-202E embeddings/overrides, U+2066-2069 isolates) and `zero_width` (U+200B,
  U+2060, U+FEFF). CR and CRLF become LF. ZWNJ/ZWJ (U+200C/D, meaningful in scripts and
  emoji) and LRM/RLM marks are kept.

    python -c "from reasonmed.ingest.sanitize import visible; print(visible('a\\x1bb'))"
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections import Counter
from typing import Any

from reasonmed.ingest.specs import Checks, Fields

RAW_CHARS = 200  # excerpt of a rejected record kept in the rejects artifact
REASON_CHARS = 500
ID_CHARS = 256  # upstream ids and per-record source/split names
INT_DIGITS = 19  # an integer used as text (id, option, gold) has at most this many digits


class Bad(Exception):
    """A record-level problem: becomes a Reject with this field, reason and category."""

    def __init__(self, field: str, reason: str, category: str = "invalid",
                 raw: str | None = None):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.category, self.raw = field, reason, category, raw


Row = tuple[str, "dict | Bad"]  # (location, the record or why it cannot be read)

_SUSPECT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2060\ufeff\u202a-\u202e"
                      "\u2066-\u2069\ud800-\udfff]")  # one C-speed scan; clean text stops here
SURROGATE = re.compile("[\ud800-\udfff]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)"
                   r"|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_STRIP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u2060\ufeff\u202a-\u202e"
                    "\u2066-\u2069]")
_ZERO_WIDTH = {"\u200b", "\u2060", "\ufeff"}
_ASCII_OK = bytes(range(0x20, 0x7f)) + b"\t\n"


def _is_clean(s: str) -> bool:
    """No character `Cleaner.text` would change; ASCII text (the common case) is checked by a
    byte table, 5x faster than the regex."""
    if s.isascii():
        return not s.encode("ascii").translate(None, _ASCII_OK)
    return not _SUSPECT.search(s)


def _strip_kind(c: str) -> str:
    if c in _ZERO_WIDTH:
        return "zero_width"
    return "bidi" if "\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069" else "control"


def _surrogate_reason(s: str, m: re.Match) -> str:
    o = ord(m.group())
    what = (f"undecodable byte 0x{o - 0xdc00:02x}" if 0xdc80 <= o <= 0xdcff else
            f"lone surrogate U+{o:04X}")
    return f"{what} at character {m.start()} (not valid UTF-8 text)"


def visible(s: str, limit: int = RAW_CHARS) -> str:
    """`s` cut to `limit` with controls, invisibles and surrogates written as \\uXXXX, so a
    rejects file is safe to print and to encode (for excerpts and reasons)."""
    s = s[:limit]
    return _SUSPECT.sub(lambda m: m.group() if m.group() in "\n\t" else
                        f"\\u{ord(m.group()):04x}", s) if _SUSPECT.search(s) else s


def show(v: Any, limit: int = 60) -> str:
    """A short repr of a raw value for a reason (repr escapes controls and surrogates)."""
    if isinstance(v, str):
        return repr(v[:limit]) + ("..." if len(v) > limit else "")
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"<integer of {v.bit_length()} bits>"
    return repr(v)[:limit]


class Cleaner:
    """Per-record state: the caps and what cleaning changed (the record's provenance)."""

    __slots__ = ("checks", "fillers", "fixes", "metas")

    def __init__(self, checks: Checks, fillers: frozenset[str] | None,
                 metas: dict[int, dict[str, str]] | None = None):
        self.checks, self.fillers, self.fixes = checks, fillers, None
        self.metas = metas if metas is not None else {}  # id(Fields) -> meta paths, per source

    def meta_paths(self, f: Fields) -> dict[str, str]:
        if (m := self.metas.get(id(f))) is None:
            m = self.metas[id(f)] = f.meta_paths()
        return m

    def fix(self, kind: str, n: int = 1) -> None:
        if self.fixes is None:
            self.fixes = Counter()
        self.fixes[kind] += n

    def text(self, s: str, field: str, *, meta: bool = False, cap: int | None = None) -> str:
        """`s` within its cap, decodable, without control/invisible characters."""
        if len(s) > (cap or self.checks.max_field_chars):
            name = ("collect.max_field_chars" if cap is None else "the cap on ids and names")
            raise Bad(field, f"{len(s)} characters, over {name} "
                      f"({cap or self.checks.max_field_chars})", "too_large")
        if (not s.encode("ascii").translate(None, _ASCII_OK)) if s.isascii() else (
                not _SUSPECT.search(s)):  # _is_clean, inlined: this runs for every text
            return s
        if m := SURROGATE.search(s):
            if not meta:
                raise Bad(field, _surrogate_reason(s, m), "encoding")
            s, n = SURROGATE.subn("\ufffd", s)
            self.fix("surrogate", n)
        if "\x1b" in s or "\x9b" in s:
            s, n = _ANSI.subn("", s)
            if n:
                self.fix("ansi", n)
        if "\r" in s:
            s = s.replace("\r\n", "\n").replace("\r", "\n")

        def drop(m: re.Match) -> str:
            self.fix(_strip_kind(m.group()))
            return ""
        return _STRIP.sub(drop, s)

    def scalar(self, v: Any, field: str, what: str, *, cap: int | None = None) -> str | None:
        """Text of a string or number (CSV/Parquet/JSON give ids and options as numbers);
        None for any other type. NaN/Infinity and huge integers are refused."""
        if isinstance(v, str):
            return self.text(v, field, cap=cap)
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            if v.bit_length() > 64 or abs(v) >= 10 ** INT_DIGITS:
                raise Bad(field, f"{what} is an integer of more than {INT_DIGITS} digits",
                          "huge_int")
            return str(v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise Bad(field, f"{what} is {v!r} (NaN/Infinity is not a value)", "nan")
            return repr(v)
        return None

    def meta(self, v: Any, field: str, depth: int = 0) -> Any:
        """A JSON-safe copy of a meta value (bytes, dates, decimals, map pairs converted)."""
        if v is None or isinstance(v, (bool, int)):
            return v
        if isinstance(v, str):
            return self.text(v, field, meta=True)
        if isinstance(v, float):
            if math.isfinite(v):
                return v
            self.fix("nan")
            return None
        if depth >= self.checks.max_depth:
            raise Bad(field, f"nested deeper than collect.max_depth ({self.checks.max_depth})",
                      "too_deep")
        if isinstance(v, dict):
            return {self.text(str(k), field, meta=True): self.meta(x, field, depth + 1)
                    for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            if (all(type(x) is str for x in v) and _is_clean(" ".join(v))
                    and max(map(len, v), default=0) <= self.checks.max_field_chars):
                return list(v)  # fast path: clean strings (MeSH terms, labels)
            return [self.meta(x, field, depth + 1) for x in v]
        if isinstance(v, (bytes, bytearray)):
            return self.text(bytes(v).decode("utf-8", "surrogateescape"), field, meta=True)
        if isinstance(v, (datetime.date, datetime.time)):
            return v.isoformat()
        return self.text(str(v), field, meta=True)  # Decimal and other scalar types


def too_deep(v: Any, limit: int) -> bool:
    """Whether a parsed value nests deeper than `limit` (iterative: no recursion limit)."""
    stack = [(v, 1)]
    while stack:
        x, d = stack.pop()
        kids = x.values() if isinstance(x, dict) else x
        if d > limit:
            return True
        stack.extend((k, d + 1) for k in kids if isinstance(k, (dict, list, tuple)))
    return False


def loads(text: str, checks: Checks, field: str) -> Any:
    """json.loads that raises Bad (never RecursionError/ValueError) and enforces max_depth."""
    try:
        v = json.loads(text)
    except RecursionError:
        raise Bad(field, f"nested deeper than collect.max_depth ({checks.max_depth})",
                  "too_deep") from None
    except json.JSONDecodeError as e:
        raise Bad(field, f"invalid JSON: {e.msg} (column {e.colno})", "json") from None
    except ValueError as e:  # an integer literal over Python's 4,300-digit limit
        raise Bad(field, f"unreadable number: {str(e)[:120]}", "huge_int") from None
    if (isinstance(v, (dict, list)) and text.count("[") + text.count("{") > checks.max_depth
            and too_deep(v, checks.max_depth)):
        raise Bad(field, f"nested deeper than collect.max_depth ({checks.max_depth})",
                  "too_deep")
    return v


def type_name(v: Any) -> str:
    return type(v).__name__


def _trim(v: Any, depth: int = 0) -> Any:
    """A small copy of a raw value for an excerpt: bounded depth, length and item count."""
    if isinstance(v, str):
        return v[:RAW_CHARS]
    if isinstance(v, float) or v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v if v.bit_length() <= 64 else show(v)
    if depth > 6:
        return "..."
    if isinstance(v, dict):
        return {str(k)[:RAW_CHARS]: _trim(x, depth + 1) for k, x in list(v.items())[:20]}
    if isinstance(v, (list, tuple)):
        return [_trim(x, depth + 1) for x in list(v)[:20]]
    return str(v)[:RAW_CHARS]


def excerpt(rec: Any) -> str:
    try:
        s = json.dumps(_trim(rec), ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        s = f"<{type_name(rec)}>"
    return visible(s)

"""Question sources: raw records from the HF hub or local files -> `Question` or `Reject`.

A source spec (one entry of params `collect.sources` or `collect.decontaminate.sets`) says
where records come from (`kind: hf` = a hub dataset id/config/split, `kind: local` = a
JSONL, JSON-list, Parquet or CSV/TSV file) and how to read them: a named `loader` for the
four ReasonMed datasets (each accepts the HF layout and the layout of the files in
../shared/data/benchmarks), or a generic `fields` mapping, so a dataset in a never-seen
layout loads without code changes. CSV/TSV: a header row names the columns (or
`csv_header:` for a file without one), an empty cell is null, and an `options` column may
hold a JSON list or object. Parquet: only the columns a mapping reads are loaded.

One bad record becomes a `Reject` naming the record (its upstream id, else `file:line`;
`file:element` for a JSON list, `file:row` for Parquet), the field, a reason and a
category; it never stops the stage and never blocks a valid record. Only a whole-file
problem (missing file, unknown format, a truncated JSON list, a broken CSV header, UTF-16)
stops the stage, with the source's name in the message. What a record may hold (`Checks`,
params `collect.*`):

- size: a JSONL line / CSV cell / JSON-list element over `max_record_bytes`, or a text
  field (stem, option, context, gold, meta string) over `max_field_chars`, is rejected; a
  JSON list is read whole, so a file over `max_json_bytes` is refused (use JSONL);
  ids and per-record source/split names are capped at `ID_CHARS`.
- nesting deeper than `max_depth` (a record object is depth 1) is rejected.
- numbers: NaN/Infinity is never a value (option, gold, id, context: reject; in meta it
  becomes null, counted); an integer used as text (id, option, gold) with more than
  `INT_DIGITS` digits, or past Python's 4,300-digit parsing limit, is rejected.
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
- options: absent options are nulls at the end (a Parquet struct/map/list column or a
  wide table padded for 4- and 5-option rows) and are dropped; a null before a present
  option is a reject. With `drop_filler_options`, options in `filler_options` (compared
  after normalise_text: "", "-", "n/a", ...) are dropped, the rest relettered A, B, C...
  and the gold remapped; a filler gold is a reject. Real options such as "None of the
  above", "None", "Nil" or "Na" (sodium) are not in the default list.
- upstream ids: within one source the first record that passes validation claims its id;
  a later valid record with that id is rejected as `duplicate_id`; a rejected record
  claims nothing, so it never blocks a valid one.

What was cleaned or dropped in a kept record is its provenance: `Question.meta["_collect"]`
(`cleaned`: counts by kind; `dropped_options`: original key -> filler text;
`relettered`: original key -> new letter), which the collect stage sums into its stats.

    python -m reasonmed.sources mmlu assets/benchmarks/mmlu_medical/test.jsonl
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, PositiveInt, model_validator

from reasonmed.params import Section
from reasonmed.records import LETTERS, Question, Reject, normalise_text, question_id

AnswerFormat = Literal["auto", "letter", "index0", "index1", "text"]
FileFormat = Literal["auto", "jsonl", "json", "parquet", "csv", "tsv"]
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet",
           ".pq": "parquet", ".csv": "csv", ".tsv": "tsv"}
RAW_CHARS = 200  # excerpt of a rejected record kept in the rejects artifact
REASON_CHARS = 500
ID_CHARS = 256  # upstream ids and per-record source/split names
INT_DIGITS = 19  # an integer used as text (id, option, gold) has at most this many digits
PROVENANCE = "_collect"  # Question.meta key holding what collect cleaned or dropped
DEFAULT_FILLERS = ("", "-", "--", "\u2013", "\u2014", "n/a")


class Checks(Section):
    """What one record may hold (params `collect.*`; `evaluate` uses these defaults)."""

    max_field_chars: PositiveInt = 32_768  # one text field; the longest real one is ~4,700
    max_record_bytes: PositiveInt = 4 << 20  # one JSONL line, CSV cell or JSON-list element
    max_json_bytes: PositiveInt = 256 << 20  # a JSON-list file (read whole; JSONL streams)
    max_depth: PositiveInt = 32  # nesting of a raw record (the record object is depth 1)
    drop_filler_options: bool = False
    filler_options: list[str] = Field(default_factory=lambda: list(DEFAULT_FILLERS))


DEFAULT_CHECKS = Checks()


class Fields(Section):
    """Where each `Question` field lives in a raw record; dotted paths reach nested fields.

    `options` is a dict field (letter keys sorted, digit keys in numeric order, other keys
    in file order; a Parquet map column counts as a dict), a list field, a string holding
    one of those as JSON (CSV), or a list of column names (`[opa, opb, opc, opd]`;
    trailing empty columns are dropped, so a wide table with up to N choices works).
    `fixed_options` gives every record the same options (yes/no/maybe). Options are
    relettered A, B, C... in that order. `answer_format`: `letter` (a letter, or the
    options dict's key), `index0`/`index1` (position), `text` (the option's text), `auto`
    (letter/key, else text; an integer is refused as ambiguous).
    """

    question: str
    answer: str
    answer_format: AnswerFormat = "auto"
    options: str | list[str] | None = None
    fixed_options: list[str] | None = None
    id: str | None = None  # upstream id; without it the 0-based record index is used
    context: str | None = None  # a string or a list of paragraphs (joined by blank lines)
    answer_text: str | None = None  # gold text, cross-checked against the gold option
    # copied into Question.meta; a list names each entry by its path's last part
    meta: dict[str, str] | list[str] = Field(default_factory=list)
    source: str | None = None  # per-record source name (overrides the spec's `source`)
    split: str | None = None  # per-record split name (overrides the spec's `split`)

    @model_validator(mode="after")
    def _one_options(self) -> Fields:
        if (self.options is None) == (self.fixed_options is None):
            raise ValueError("set exactly one of `options` and `fixed_options`")
        if PROVENANCE in self.meta_paths():
            raise ValueError(f"meta name '{PROVENANCE}' is reserved for collect's provenance")
        return self

    def meta_paths(self) -> dict[str, str]:
        """Meta name -> record path."""
        return dict(self.meta) if isinstance(self.meta, dict) else {
            p.split(".")[-1]: p for p in self.meta}

    def paths(self) -> list[str]:
        """Every record path this mapping reads (for column projection)."""
        opts = self.options if isinstance(self.options, list) else [self.options]
        return [p for p in (self.question, self.answer, *opts, self.id, self.context,
                            self.answer_text, self.source, self.split, *self.meta_paths().values())
                if p is not None]


# --- the four named loaders: a Fields mapping per layout (HF hub / shared benchmark files)

MEDQA = Fields(question="question", options="options", answer="answer_idx",
               answer_format="letter", answer_text="answer", meta=["meta_info"])
MEDMCQA = Fields(id="id", question="question", options=["opa", "opb", "opc", "opd"],
                 answer="cop", answer_format="index0", answer_text="answer",
                 meta=["choice_type", "subject_name", "topic_name", "exp"])
_PQA = {"id": "pubid", "question": "question", "fixed_options": ["yes", "no", "maybe"],
        "answer": "final_decision", "answer_format": "text"}
PUBMEDQA_HF = Fields(**_PQA, context="context.contexts",  # HF pqa_labeled: nested context
                     meta={"labels": "context.labels", "meshes": "context.meshes",
                           "long_answer": "long_answer"})
PUBMEDQA_FLAT = Fields(**_PQA, context="contexts",  # shared test.jsonl: flattened
                       meta=["labels", "meshes", "year", "long_answer"])
MMLU_HF = Fields(question="question", options="choices", answer="answer",
                 answer_format="index0", meta=["subject"])
MMLU_FLAT = Fields(id="realidx", question="question", options="options", answer="answer_idx",
                   answer_format="letter", answer_text="answer", meta=["subject"])

LOADERS: dict[str, Callable[[dict], Fields]] = {
    "medqa": lambda r: MEDQA,
    "medmcqa": lambda r: MEDMCQA,
    "pubmedqa": lambda r: PUBMEDQA_HF if isinstance(r.get("context"), dict) else PUBMEDQA_FLAT,
    "mmlu": lambda r: MMLU_HF if "choices" in r else MMLU_FLAT,
}
LOADER_LAYOUTS = {"medqa": (MEDQA,), "medmcqa": (MEDMCQA,),
                  "pubmedqa": (PUBMEDQA_HF, PUBMEDQA_FLAT), "mmlu": (MMLU_HF, MMLU_FLAT)}


class CollectChecks(Checks):
    """The record checks and caps of the `collect` section, for the other stages that read
    files with collect's readers (benchmark, external): the same caps for every record."""

    model_config = {"extra": "ignore", "frozen": True}


class FileSpec(Section):
    """Where a set of records is: a local file (any of FORMATS) or a hub dataset."""

    source: str  # name in records, stats and rejects (e.g. medqa, mmlu_anatomy)
    kind: Literal["hf", "local"]
    split: str  # recorded split; for `hf` also the split loaded (slices like train[:100] work)
    path: str | None = None  # local: file path (relative to the working directory)
    format: FileFormat = "auto"  # local; auto = by suffix (FORMATS)
    csv_header: list[str] | None = None  # CSV/TSV without a header row: its column names
    dataset: str | None = None  # hf: hub id
    config: str | None = None  # hf: config name
    revision: str | None = None  # hf: pin a commit for reproducibility

    @model_validator(mode="after")
    def _where(self) -> FileSpec:
        where = f"source '{self.source}'"
        if self.kind == "local" and not self.path:
            raise ValueError(f"{where}: kind local needs `path`")
        if self.kind == "hf" and not self.dataset:
            raise ValueError(f"{where}: kind hf needs `dataset`")
        if self.csv_header is not None and len(set(self.csv_header)) != len(self.csv_header):
            raise ValueError(f"{where}: `csv_header` names a column twice")
        return self

    def columns(self) -> set[str] | None:
        """Top-level columns a reader needs (None: all): a Parquet file reads only these."""
        return None


class SourceSpec(FileSpec):
    """One source of questions: where the records are and how to read them."""

    loader: str | None = None  # one of LOADERS
    fields: Fields | None = None
    allow_empty: bool = False  # collect: a source with no valid record is an error unless set

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        where = f"source '{self.source}'"
        if (self.loader is None) == (self.fields is None):
            raise ValueError(f"{where}: set exactly one of `loader` and `fields`")
        if self.loader is not None and self.loader not in LOADERS:
            known = ", ".join(LOADERS)
            raise ValueError(f"{where}: unknown loader '{self.loader}' (known: {known})")
        return self

    def layouts(self) -> tuple[Fields, ...]:
        return (self.fields,) if self.fields is not None else LOADER_LAYOUTS[self.loader]

    def columns(self) -> set[str] | None:
        return {p for f in self.layouts() for path in f.paths() for p in (path, path.split(".")[0])}


class Bad(Exception):
    """A record-level problem: becomes a Reject with this field, reason and category."""

    def __init__(self, field: str, reason: str, category: str = "invalid",
                 raw: str | None = None):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.category, self.raw = field, reason, category, raw


# --- text: caps, encoding, invisible characters ---------------------------------------------

_SUSPECT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2060\ufeff\u202a-\u202e"
                      "\u2066-\u2069\ud800-\udfff]")  # one C-speed scan; clean text stops here
_SURROGATE = re.compile("[\ud800-\udfff]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)"
                   r"|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_STRIP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u2060\ufeff\u202a-\u202e"
                    "\u2066-\u2069]")
_ZERO_WIDTH = {"\u200b", "\u2060", "\ufeff"}
_ASCII_OK = bytes(range(0x20, 0x7f)) + b"\t\n"


def _is_clean(s: str) -> bool:
    """No character `_Ctx.text` would change; ASCII text (the common case) is checked by a
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


def _show(v: Any, limit: int = 60) -> str:
    """A short repr of a raw value for a reason (repr escapes controls and surrogates)."""
    if isinstance(v, str):
        return repr(v[:limit]) + ("..." if len(v) > limit else "")
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"<integer of {v.bit_length()} bits>"
    return repr(v)[:limit]


class _Ctx:
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
        if m := _SURROGATE.search(s):
            if not meta:
                raise Bad(field, _surrogate_reason(s, m), "encoding")
            s, n = _SURROGATE.subn("\ufffd", s)
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


def _too_deep(v: Any, limit: int) -> bool:
    """Whether a parsed value nests deeper than `limit` (iterative: no recursion limit)."""
    stack = [(v, 1)]
    while stack:
        x, d = stack.pop()
        kids = x.values() if isinstance(x, dict) else x
        if d > limit:
            return True
        stack.extend((k, d + 1) for k in kids if isinstance(k, (dict, list, tuple)))
    return False


def _loads(text: str, checks: Checks, field: str) -> Any:
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
            and _too_deep(v, checks.max_depth)):
        raise Bad(field, f"nested deeper than collect.max_depth ({checks.max_depth})",
                  "too_deep")
    return v


# --- normalisation: one raw dict -> Question (pure; raises Bad) ----------------------------

_MISSING = object()
_INDEX = re.compile(r"\s*-?[0-9]{1,9}\s*")


def get_path(rec: dict, path: str) -> Any:
    """`a.b.c` into nested dicts; a flat key that itself contains dots wins."""
    if path in rec:
        return rec[path]
    cur: Any = rec
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _type(v: Any) -> str:
    return type(v).__name__


def absent(v: Any) -> bool:
    """A get_path result that is no value: the path is missing, or it holds null."""
    return v is _MISSING or v is None


def _question(rec: dict, f: Fields, ctx: _Ctx) -> str:
    v = get_path(rec, f.question)
    if absent(v):
        raise Bad("question", "missing", "missing")
    if not isinstance(v, str):
        raise Bad("question", f"expected a string, got {_type(v)}", "type")
    v = ctx.text(v, "question").strip()
    if not v:
        raise Bad("question", "empty", "empty")
    return v


def _as_dict(pairs: list, field: str) -> dict:
    """A Parquet map column arrives as (key, value) pairs."""
    out: dict = {}
    for k, x in pairs:
        if str(k) in out:
            raise Bad(field, f"duplicate key {_show(str(k))} in a map of options", "type")
        out[str(k)] = x
    return out


def _options(rec: dict, f: Fields, ctx: _Ctx) -> list[tuple[str | None, str]]:
    """(original key or None, text) pairs in display order; texts stripped, maybe empty."""
    if f.fixed_options is not None:
        return [(None, o) for o in f.fixed_options]
    if isinstance(f.options, list):  # one column per option; a wide table pads with nulls
        vals = [get_path(rec, c) for c in f.options]
        while vals and (absent(vals[-1]) or vals[-1] == ""):
            vals.pop()
        pairs: list[tuple[str | None, Any]] = [(None, v) for v in vals]
    else:
        v = get_path(rec, f.options)
        if absent(v):
            raise Bad("options", "missing", "missing")
        if isinstance(v, str) and v.lstrip()[:1] in ("[", "{"):  # JSON text (a CSV cell)
            if len(v) > ctx.checks.max_record_bytes:
                raise Bad("options", f"{len(v)} characters of JSON, over "
                          f"collect.max_record_bytes ({ctx.checks.max_record_bytes})", "too_large")
            v = _loads(v, ctx.checks, "options")
        if isinstance(v, list) and v and all(isinstance(x, tuple) and len(x) == 2 for x in v):
            v = _as_dict(v, "options")
        if isinstance(v, dict):
            keys = [str(k) for k in v]
            if len(set(keys)) != len(keys):
                raise Bad("options", "two option keys are the same once written as text", "type")
            if all(len(k) == 1 and k.isalpha() for k in keys):
                order = sorted(keys)
            elif all(k.isascii() and k.isdigit() for k in keys):
                order = sorted(keys, key=int)
            else:
                order = keys
            by_key = {str(k): x for k, x in v.items()}
            pairs = [(k, by_key[k]) for k in order]
        elif isinstance(v, (list, tuple)):
            pairs = [(None, x) for x in v]
        else:
            raise Bad("options", f"expected a dict or list, got {_type(v)}", "type")
        while pairs and pairs[-1][1] is None:  # absent options: nulls at the end
            pairs.pop()
    if not pairs:
        raise Bad("options", "no options", "options_count")
    if len(pairs) < 2:
        raise Bad("options", "fewer than 2 options", "options_count")
    if len(pairs) > len(LETTERS):
        raise Bad("options", f"{len(pairs)} options, more than {len(LETTERS)}", "options_count")
    out = []
    for i, (k, x) in enumerate(pairs):
        name = k if k is not None else LETTERS[i]
        if absent(x):
            raise Bad("options", f"option {name} is missing (null) but a later option is set",
                      "options_gap")
        text = ctx.scalar(x, "options", f"option {name}")
        if text is None:
            raise Bad("options", f"option {name} is not a string ({_type(x)})", "type")
        out.append((k, text.strip()))
    return out


def _gold(v: Any, fmt: str, opts: list[tuple[str | None, str]], ctx: _Ctx) -> int:
    """Position of the gold option."""
    n = len(opts)
    span = f"A-{LETTERS[n - 1]}"
    if absent(v):
        raise Bad("answer", "missing", "missing")
    if isinstance(v, float):
        if not math.isfinite(v):
            raise Bad("answer", f"gold is {v!r} (NaN/Infinity is not a value)", "nan")
        if fmt in ("index0", "index1") and v.is_integer():  # pandas writes int columns with
            v = int(v)  # a null as float
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise Bad("answer", f"expected a string or integer, got {_type(v)}", "type")
    if isinstance(v, str):
        v = ctx.text(v, "answer")
    if fmt in ("index0", "index1"):
        if isinstance(v, str) and not _INDEX.fullmatch(v):
            s = v.strip().lstrip("-")
            if s.isascii() and s.isdigit():
                raise Bad("answer", f"{fmt} gold {_show(v)} is out of range for {n} options",
                          "out_of_range")
            raise Bad("answer", f"{fmt} gold {_show(v)} is not an integer", "type")
        i = int(v) - (fmt == "index1")
        if not 0 <= i < n:
            raise Bad("answer", f"{fmt} gold {_show(v)} is out of range for {n} options",
                      "out_of_range")
        return i
    if isinstance(v, int) and fmt != "letter":  # a letter-format int can name a dict key
        if fmt == "auto":
            raise Bad("answer", f"integer gold {_show(v)} is ambiguous: set answer_format "
                      "index0/index1", "ambiguous")
        raise Bad("answer", f"{fmt} gold must be a string, got int", "type")
    if isinstance(v, int) and v.bit_length() > 64:
        raise Bad("answer", f"gold {_show(v)} is not among options {span}", "out_of_range")
    s = str(v).strip()
    if fmt in ("letter", "auto"):
        keys = [k if k is not None else LETTERS[i] for i, (k, _) in enumerate(opts)]
        for cand in (s, s.upper()):
            if cand in keys:
                return keys.index(cand)
        if fmt == "letter":
            raise Bad("answer", f"gold {_show(s)} is not among options {span}", "out_of_range")
    hits = [i for i, (_, t) in enumerate(opts) if normalise_text(t) == normalise_text(s)]
    if len(hits) == 1:
        return hits[0]
    raise Bad("answer", f"gold text {_show(s)} matches " + (
        "no option" if not hits else f"{len(hits)} options"),
        "not_an_option" if not hits else "ambiguous")


def _paragraphs(v: str) -> Any:
    """A JSON list of paragraphs stored as text (a CSV cell), else the text itself."""
    s = v.strip()
    if s[:1] == "[" and s[-1:] == "]":
        try:
            p = json.loads(s)
        except (ValueError, RecursionError):
            return v
        if isinstance(p, list) and all(isinstance(x, str) for x in p):
            return p
    return v


def _context(rec: dict, f: Fields, ctx: _Ctx) -> str | None:
    if f.context is None:
        return None
    v = get_path(rec, f.context)
    if absent(v):
        return None
    if isinstance(v, str):
        v = _paragraphs(v)
    if isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v):
        if sum(len(p) for p in v) > ctx.checks.max_field_chars:
            raise Bad("context", f"{sum(len(p) for p in v)} characters, over "
                      f"collect.max_field_chars ({ctx.checks.max_field_chars})", "too_large")
        v = "\n\n".join(t for p in v if (t := ctx.text(p, "context").strip()))
    if not isinstance(v, str):
        raise Bad("context", f"expected a string or list of strings, got {_type(v)}", "type")
    return ctx.text(v, "context").strip() or None


def _name(rec: dict, path: str | None, default: str, field: str, ctx: _Ctx) -> str:
    if path is None:
        return default
    v = get_path(rec, path)
    s = ctx.text(v, field, cap=ID_CHARS).strip() if isinstance(v, str) else ""
    if not s:
        raise Bad(field, "missing" if absent(v) else f"expected a non-empty string, got "
                  f"{_show(v)}", "missing" if absent(v) else "type")
    return s


def source_id(rec: dict, f: Fields, index: int, ctx: _Ctx | None = None) -> str:
    """The upstream id, or the 0-based record index for datasets that have none (MedQA)."""
    if f.id is None:
        return str(index)
    ctx = ctx or _Ctx(DEFAULT_CHECKS, None)
    v = get_path(rec, f.id)
    s = ctx.scalar(v, "id", "id", cap=ID_CHARS)
    if s is None or not s.strip():
        missing = absent(v) or v == ""
        raise Bad("id", "missing" if missing else f"expected a string or integer, got {_type(v)}",
                  "missing" if missing else "type")
    return s.strip()


def _drop_fillers(opts: list[tuple[str | None, str]], gold: int, ctx: _Ctx
                  ) -> tuple[list[tuple[str | None, str]], int, dict]:
    """Options without fillers, the remapped gold, and what changed (provenance)."""
    keys = [k if k is not None else LETTERS[i] for i, (k, _) in enumerate(opts)]
    filler = [normalise_text(t) in ctx.fillers for _, t in opts]
    if filler[gold]:
        raise Bad("answer", f"gold option {keys[gold]} is a filler ({opts[gold][1]!r})",
                  "filler_gold")
    if not any(filler):
        return opts, gold, {}
    kept = [i for i in range(len(opts)) if not filler[i]]
    if len(kept) < 2:
        raise Bad("options", f"fewer than 2 options after dropping {sum(filler)} filler(s)",
                  "options_count")
    prov = {"dropped_options": {keys[i]: opts[i][1] for i in range(len(opts)) if filler[i]},
            "relettered": {keys[i]: LETTERS[j] for j, i in enumerate(kept) if keys[i] != LETTERS[j]}}
    return [opts[i] for i in kept], kept.index(gold), prov


def _build(rec: dict, f: Fields, *, source: str, split: str, sid: str, ctx: _Ctx) -> Question:
    q = _question(rec, f, ctx)
    opts = _options(rec, f, ctx)
    gold = _gold(get_path(rec, f.answer), f.answer_format, opts, ctx)
    prov: dict[str, Any] = {}
    if ctx.fillers is not None and f.fixed_options is None:
        opts, gold, prov = _drop_fillers(opts, gold, ctx)
    for i, (k, t) in enumerate(opts):
        if not t:
            raise Bad("options", f"option {k if k is not None else LETTERS[i]} is empty", "empty")
    options = {LETTERS[i]: t for i, (_, t) in enumerate(opts)}
    letter = LETTERS[gold]
    if f.answer_text is not None:  # a second opinion on the gold, when the data has one
        t = get_path(rec, f.answer_text)
        if not absent(t):
            s = ctx.scalar(t, "answer_text", "gold text")
            if s is None or normalise_text(s) != normalise_text(options[letter]):
                raise Bad("answer_text", f"gold text {_show(s if s is not None else t)} differs "
                          f"from option {letter} {_show(options[letter])}", "mismatch")
    ctx_text = _context(rec, f, ctx)
    meta = {}
    for k, p in ctx.meta_paths(f).items():
        if (v := get_path(rec, p)) is not _MISSING:
            meta[k] = ctx.meta(v, f"meta.{k}")
    if ctx.fixes:
        prov["cleaned"] = dict(sorted(ctx.fixes.items()))
    if prov:
        meta[PROVENANCE] = prov
    return Question(
        id=question_id(q, options, ctx_text), source=_name(rec, f.source, source, "source", ctx),
        split=_name(rec, f.split, split, "split", ctx), question=q, options=options,
        answer=letter, answer_text=options[letter], context=ctx_text, source_id=sid, meta=meta)


def _fillers(checks: Checks) -> frozenset[str] | None:
    if not checks.drop_filler_options:
        return None
    return frozenset(normalise_text(x) for x in checks.filler_options)


def to_question(rec: dict, f: Fields, *, source: str, split: str, index: int = 0,
                checks: Checks = DEFAULT_CHECKS) -> Question:
    """Normalise one raw record; raises Bad(field, reason) when it cannot be used."""
    ctx = _Ctx(checks, _fillers(checks))
    return _build(rec, f, source=source, split=split, sid=source_id(rec, f, index, ctx), ctx=ctx)


# --- reading: whole-file checks up front, then one (location, record | Bad) per record ----

Row = tuple[str, "dict | Bad"]


def _trim(v: Any, depth: int = 0) -> Any:
    """A small copy of a raw value for an excerpt: bounded depth, length and item count."""
    if isinstance(v, str):
        return v[:RAW_CHARS]
    if isinstance(v, float) or v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v if v.bit_length() <= 64 else _show(v)
    if depth > 6:
        return "..."
    if isinstance(v, dict):
        return {str(k)[:RAW_CHARS]: _trim(x, depth + 1) for k, x in list(v.items())[:20]}
    if isinstance(v, (list, tuple)):
        return [_trim(x, depth + 1) for x in list(v)[:20]]
    return str(v)[:RAW_CHARS]


def _excerpt(rec: Any) -> str:
    try:
        s = json.dumps(_trim(rec), ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        s = f"<{_type(rec)}>"
    return visible(s)


def _not_utf16(path: Path, label: str, name: str) -> None:
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head in (b"\x00\x00\xfe\xff",):
        raise SystemExit(f"collect source '{name}': {label} is UTF-16/UTF-32 (byte-order mark "
                         f"{head[:2].hex()}); convert it to UTF-8")


def _decode(data: bytes) -> str:
    """UTF-8 (a BOM dropped); undecodable bytes become lone surrogates U+DC80-U+DCFF, so a
    record is rejected naming the field that holds them, and the rest of the file loads."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
    return text[1:] if text[:1] == "\ufeff" else text


def _parse_record(text: str, checks: Checks) -> dict | Bad:
    try:
        rec = _loads(text, checks, "json")
    except Bad as e:
        if e.category == "too_deep":
            e.field = "record"
        e.raw = visible(text)
        return e
    if not isinstance(rec, dict):
        return Bad("record", f"expected a JSON object, got {_type(rec)}", "type", _excerpt(rec))
    return rec


def _jsonl_rows(path: Path, label: str, checks: Checks) -> Iterator[Row]:
    # Binary read + per-line decode; a line is read up to the cap and the rest skipped, so
    # one huge line never sits in memory.
    cap = checks.max_record_bytes
    with open(path, "rb") as f:
        n = 0
        while line := f.readline(cap + 1):
            n += 1
            loc = f"{label}:{n}"
            if len(line) > cap and not line.endswith(b"\n"):
                size = len(line)
                while (chunk := f.readline(1 << 20)) and not chunk.endswith(b"\n"):
                    size += len(chunk)
                size += len(chunk)
                yield loc, Bad("record", f"line of {size} bytes, over collect.max_record_bytes "
                               f"({cap})", "too_large", visible(_decode(line[:RAW_CHARS])))
                continue
            if not line.strip():
                continue
            yield loc, _parse_record(_decode(line), checks)


_WS = re.compile(r"[ \t\n\r]*")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)|[\[\]{}]')
_SCALAR = re.compile(r"[^,\]]*")


def _skip_value(text: str, i: int) -> int | None:
    """End of the (unparseable) JSON value at i, by bracket matching, or None."""
    if text[i] == '"':
        t = _TOKEN.match(text, i).group()
        return i + len(t) if len(t) > 1 and t[-1] == '"' else None
    if text[i] not in "[{":
        return _SCALAR.match(text, i).end()
    depth = 0
    for m in _TOKEN.finditer(text, i):
        t = m.group()
        if t[0] == '"':
            if len(t) < 2 or t[-1] != '"':
                return None
        elif t in "[{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    return None


def _json_rows(path: Path, label: str, name: str, checks: Checks) -> Iterator[Row]:
    """A JSON list, read whole (capped) and split into elements at open time: an element
    that cannot be read becomes a Bad row, the rest load; a broken list stops the stage."""
    where = f"collect source '{name}': {label}"
    size = path.stat().st_size
    if size > checks.max_json_bytes:
        raise SystemExit(f"{where} is {size} bytes, over collect.max_json_bytes "
                         f"({checks.max_json_bytes}): a JSON list is read whole; convert it to "
                         "JSONL (one record per line), which streams")
    _not_utf16(path, label, name)
    text = _decode(path.read_bytes())
    dec = json.JSONDecoder()
    i = _WS.match(text).end()
    if i == len(text):
        return iter(())
    if text[i] != "[":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise SystemExit(f"{where} is not a JSON file: {str(e)[:200]}") from None
        raise SystemExit(f"{where} must hold a JSON list of records, got {_type(data)} "
                         "(use .jsonl for one record per line)")
    rows: list[Row] = []
    i = _WS.match(text, i + 1).end()
    n = 0
    while i < len(text) and text[i] != "]":
        n += 1
        loc = f"{label}:{n}"
        start = i
        try:
            obj, end = dec.raw_decode(text, i)
        except (ValueError, RecursionError) as e:
            end = _skip_value(text, i)
            if end is None:
                raise SystemExit(f"{where} is not a JSON file: element {n} never ends "
                                 f"({type(e).__name__}: {str(e)[:120]})") from None
            rows.append((loc, _parse_record(text[start:end], checks)))
        else:
            if end - start > checks.max_record_bytes:
                rows.append((loc, Bad("record", f"element of {end - start} characters, over "
                                      f"collect.max_record_bytes ({checks.max_record_bytes})",
                                      "too_large", visible(text[start:start + RAW_CHARS]))))
            elif not isinstance(obj, dict):
                rows.append((loc, Bad("record", f"expected a JSON object, got {_type(obj)}",
                                      "type", _excerpt(obj))))
            elif (text.count("[", start, end) + text.count("{", start, end) > checks.max_depth
                  and _too_deep(obj, checks.max_depth)):
                rows.append((loc, Bad("record", "nested deeper than collect.max_depth "
                                      f"({checks.max_depth})", "too_deep",
                                      visible(text[start:start + RAW_CHARS]))))
            else:
                rows.append((loc, obj))
        i = _WS.match(text, end).end()
        if text[i:i + 1] == ",":
            i = _WS.match(text, i + 1).end()
        elif i >= len(text):
            break
        elif text[i] != "]":
            raise SystemExit(f"{where} is not a JSON file: expected ',' or ']' after element "
                             f"{n} (character {i})")
    if i >= len(text) or _WS.match(text, i + 1).end() != len(text):
        raise SystemExit(f"{where} is not a JSON file: " + (
            "the list never ends (truncated?)" if i >= len(text) else "text after the list"))
    return iter(rows)


def _arrow_depth(t: Any) -> int:
    import pyarrow as pa

    if pa.types.is_struct(t):
        return 1 + max((_arrow_depth(t.field(i).type) for i in range(t.num_fields)), default=0)
    if pa.types.is_map(t):
        return 2 + max(_arrow_depth(t.key_type), _arrow_depth(t.item_type))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return 1 + _arrow_depth(t.value_type)
    return 0


_UNREADABLE = object()  # a nested value of a Parquet row that is not valid UTF-8


def _batch_dicts(batch: Any) -> list[dict]:
    """Rows of a record batch; a string column with invalid UTF-8 is decoded leniently
    (undecodable bytes become lone surrogates, rejected by the field that holds them)."""
    import pyarrow as pa

    try:
        return batch.to_pylist()  # struct columns arrive as dicts, map columns as pairs
    except UnicodeDecodeError:
        pass
    cols = []
    for col in batch.columns:
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            raw = col.cast(pa.large_binary() if pa.types.is_large_string(t) else pa.binary())
            cols.append([None if b is None else b.decode("utf-8", "surrogateescape")
                         for b in raw.to_pylist()])
            continue
        try:
            cols.append(col.to_pylist())
        except UnicodeDecodeError:
            vals = []
            for i in range(len(col)):
                try:
                    vals.append(col[i].as_py())
                except UnicodeDecodeError:
                    vals.append(_UNREADABLE)
            cols.append(vals)
    names = batch.schema.names
    return [dict(zip(names, row)) for row in zip(*cols)]


def _parquet_rows(path: Path, label: str, spec: FileSpec, checks: Checks) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except Exception as e:  # noqa: BLE001 -- pyarrow raises several types for a non-Parquet file
        raise SystemExit(f"collect source '{spec.source}': {label} is not a Parquet file: "
                         f"{e}") from None
    names = schema.names
    wanted = spec.columns()
    # read only the columns a mapping can use (all when none is there: rejects say why)
    columns = [c for c in names if wanted is None or c in wanted] or names
    try:
        deep = 1 + max((_arrow_depth(schema.field(c).type) for c in columns), default=0)
    except RecursionError:
        deep = checks.max_depth + 1
    walk = deep > checks.max_depth

    def rows() -> Iterator[Row]:
        n = 0
        batches = pf.iter_batches(batch_size=256, columns=columns)
        while True:
            try:
                batch = next(batches, None)
            except Exception as e:  # noqa: BLE001 -- a corrupt page: the file is broken
                raise SystemExit(f"collect source '{spec.source}': {label}: cannot read rows "
                                 f"after row {n}: {type(e).__name__}: {e}") from None
            if batch is None:
                return
            for rec in _batch_dicts(batch):
                n += 1
                loc = f"{label}:{n}"
                bad = [k for k, v in rec.items() if v is _UNREADABLE]
                if bad:
                    yield loc, Bad(bad[0], "nested text is not valid UTF-8", "encoding", "")
                elif walk and _too_deep(rec, checks.max_depth):
                    yield loc, Bad("record", f"nested deeper than collect.max_depth "
                                   f"({checks.max_depth})", "too_deep", "")
                else:
                    yield loc, rec
    return rows()


def _bounded_lines(f: Any, cap: int) -> Iterator[str]:
    """Physical lines, each cut at 2 x cap characters (the rest skipped unread into memory):
    the cut row then fails the per-cell limit (csv.field_size_limit = cap) or its cell count."""
    limit = 2 * cap
    while line := f.readline(limit):
        if len(line) == limit and not line.endswith(("\n", "\r")):
            while (rest := f.readline(1 << 20)) and not rest.endswith(("\n", "\r")):
                pass
        yield line


def _csv_rows(path: Path, label: str, name: str, checks: Checks, delimiter: str,
              names: list[str] | None = None) -> Iterator[Row]:
    """CSV/TSV with a header row (or `names`); an empty cell is null (absent). Streams."""
    _not_utf16(path, label, name)
    f = open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")
    reader = csv.reader(_bounded_lines(f, checks.max_record_bytes), delimiter=delimiter)
    old = csv.field_size_limit(checks.max_record_bytes)  # process-wide: restored after use
    try:
        header = list(names) if names is not None else next(reader, None)
    except csv.Error as e:
        f.close()
        raise SystemExit(f"collect source '{name}': {label}: unreadable CSV header: {e}") from None
    finally:
        csv.field_size_limit(old)
    if header is None:
        f.close()
        return iter(())
    header = [h.strip() for h in header]  # an empty name (a pandas index column) is unused
    dup = sorted({h for h in header if h and header.count(h) > 1})
    bad = [h for h in header if _SURROGATE.search(h)]
    if dup or bad:
        f.close()
        why = f"duplicate column {dup[0]!r}" if dup else f"column name {bad[0]!r} is not UTF-8"
        raise SystemExit(f"collect source '{name}': {label}: CSV header has {why}")

    def rows() -> Iterator[Row]:
        prev = csv.field_size_limit(checks.max_record_bytes)
        try:
            while True:
                loc = f"{label}:{reader.line_num + 1}"
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    yield loc, Bad("record", f"unreadable CSV row: {e}", "csv", "")
                    continue
                if not row:
                    continue
                if len(row) != len(header):
                    yield loc, Bad("record", f"{len(row)} cells, the header has {len(header)}",
                                   "csv", visible(delimiter.join(row)))
                    continue
                yield loc, {h: (c if c != "" else None) for h, c in zip(header, row) if h}
        finally:
            csv.field_size_limit(prev)
            f.close()
    return rows()


def _hf_rows(spec: FileSpec) -> Iterator[Row]:
    try:
        import datasets  # heavy: only when a hub source is configured

        ds = datasets.load_dataset(spec.dataset, spec.config, split=spec.split,
                                   revision=spec.revision)
    except Exception as e:  # noqa: BLE001 -- any hub/cache failure is a start-up error
        raise SystemExit(
            f"collect source '{spec.source}': cannot load HF dataset {spec.dataset} "
            f"(config {spec.config}, split {spec.split}): {type(e).__name__}: {e}\n"
            "  (the embedded default runs offline: set run.offline: false to download)") from None
    label = "/".join(x for x in (spec.dataset, spec.config, spec.split) if x)
    return ((f"{label}:{i}", rec) for i, rec in enumerate(ds))


def _io_guard(spec: FileSpec, rows: Iterator[Row]) -> Iterator[Row]:
    """A read error in the middle of a file stops the stage with the source's name."""
    try:
        yield from rows
    except OSError as e:
        raise SystemExit(f"collect source '{spec.source}': cannot read {spec.path or spec.dataset}"
                         f": {e}") from None


FORMAT_NAMES = [f for f in get_args(FileFormat) if f != "auto"]


def open_rows(spec: FileSpec, checks: Checks = DEFAULT_CHECKS) -> Iterator[Row]:
    """Check the whole file now (so a bad path fails at start-up); stream records later."""
    if spec.kind == "hf":
        return _hf_rows(spec)
    path = Path(spec.path)
    if not path.is_file():
        raise SystemExit(f"collect source '{spec.source}': file not found: {spec.path}")
    fmt = spec.format if spec.format != "auto" else FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SystemExit(f"collect source '{spec.source}': unknown format of {spec.path} "
                         f"(known suffixes: {', '.join(FORMATS)}); set `format:` to one of "
                         f"{', '.join(FORMAT_NAMES)}")
    if path.stat().st_size == 0:  # an empty file holds no records, in any format
        return iter(())
    if fmt == "jsonl":
        _not_utf16(path, spec.path, spec.source)
        rows = _jsonl_rows(path, spec.path, checks)
    elif fmt == "json":
        rows = _json_rows(path, spec.path, spec.source, checks)
    elif fmt == "parquet":
        rows = _parquet_rows(path, spec.path, spec, checks)
    else:
        rows = _csv_rows(path, spec.path, spec.source, checks, "\t" if fmt == "tsv" else ",",
                         spec.csv_header)
    return _io_guard(spec, rows)


def _reject(spec: SourceSpec, loc: str, sid: str | None, e: Bad, rec: Any) -> Reject:
    return Reject(stage="collect", source=spec.source, record=sid or loc, location=loc,
                  field=e.field, category=e.category, reason=visible(e.reason, REASON_CHARS),
                  raw=e.raw if e.raw is not None else _excerpt(rec))


def records(spec: SourceSpec, rows: Iterable[Row], checks: Checks = DEFAULT_CHECKS
            ) -> Iterator[Question | Reject]:
    """Normalise rows. Within the source the first *valid* record claims its upstream id; a
    later valid record with that id is a `duplicate_id` reject; a rejected one claims none."""
    fillers = _fillers(checks)
    metas: dict[int, dict[str, str]] = {}  # the mappings stay alive while this runs
    first_at: dict[str, str] = {}
    for index, (loc, rec) in enumerate(rows):
        sid = None
        try:
            if isinstance(rec, Bad):
                raise rec
            f = spec.fields if spec.fields is not None else LOADERS[spec.loader](rec)
            ctx = _Ctx(checks, fillers, metas)
            if f.id is not None:
                sid = source_id(rec, f, index, ctx)
            q = _build(rec, f, source=spec.source, split=spec.split,
                       sid=sid if sid is not None else str(index), ctx=ctx)
            if sid is not None:
                if sid in first_at:
                    raise Bad("id", f"duplicate upstream id {_show(sid)} (the valid record at "
                              f"{first_at[sid]} has it)", "duplicate_id")
                first_at[sid] = loc
        except Bad as e:
            yield _reject(spec, loc, sid, e, rec)
            continue
        except Exception as e:  # noqa: BLE001 -- one record never stops the stage
            yield _reject(spec, loc, sid, Bad("record", f"unexpected {type(e).__name__}: {e}",
                                              "internal"), rec)
            continue
        yield q


def load_source(spec: SourceSpec, checks: Checks = DEFAULT_CHECKS) -> Iterator[Question | Reject]:
    """All records of one source as Questions or Rejects, in file order."""
    return records(spec, open_rows(spec, checks), checks)


def require_valid(spec: SourceSpec, items: Iterable[Question | Reject],
                  what: str = "collect source") -> Iterator[Question | Reject]:
    """Pass records through; once exhausted, a source without one valid record stops the
    stage naming it and its top reject reasons, unless the spec sets `allow_empty`."""
    n = ok = 0
    reasons: Counter = Counter()
    example: dict[str, str] = {}
    for r in items:
        n += 1
        if isinstance(r, Reject):
            key = f"{r.field}: {r.category}"
            reasons[key] += 1
            example.setdefault(key, r.reason)
        else:
            ok += 1
        yield r
    if ok or spec.allow_empty:
        return
    where = spec.path or "/".join(x for x in (spec.dataset, spec.config, spec.split) if x)
    if n == 0:
        detail = "it holds no records"
    else:
        top = "; ".join(f"{k} x{c} (e.g. {example[k][:100]})" for k, c in reasons.most_common(3))
        detail = f"all {n} records were rejected; top reasons: {top}"
    raise SystemExit(f"{what} '{spec.source}' ({where}) has no valid record: {detail}. "
                     "Fix the file or its `fields:` mapping, or set `allow_empty: true` on it")


if __name__ == "__main__":  # quick look at one file: loader name (or a Fields JSON) + path
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m reasonmed.sources LOADER|FIELDS_JSON PATH")
    how, path = sys.argv[1:]
    spec = SourceSpec(source=Path(path).stem, kind="local", split="?", path=path,
                      **({"loader": how} if how in LOADERS else {"fields": json.loads(how)}))
    counts = {"questions": 0, "rejects": 0}
    for r in load_source(spec):
        counts["questions" if isinstance(r, Question) else "rejects"] += 1
        if isinstance(r, Reject):
            print(f"reject {r.record} {r.field} [{r.category}]: {r.reason}", file=sys.stderr)
    print(json.dumps(counts))

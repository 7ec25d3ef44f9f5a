"""Field mapping: one raw record (a dict) -> `Question`, or `Bad` naming the field.

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
`relettered`: original key -> new letter; `gold`: the gold's `old` key and `new` letter),
which the collect stage sums into its stats. A `fields:` mapping naming a column that no
record holds stops the stage by name (reasonmed/ingest/columns.py).

    python -c "import reasonmed.ingest.mapping as m; print(m.get_path({'a': {'b': 1}}, 'a.b'))"
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

from reasonmed.core.records import LETTERS, Question, Reject, normalise_text, question_id
from reasonmed.ingest.columns import ColumnWatch
from reasonmed.ingest.sanitize import (
    ID_CHARS,
    REASON_CHARS,
    Bad,
    Cleaner,
    Row,
    excerpt,
    loads,
    show,
    type_name,
    visible,
)
from reasonmed.ingest.specs import DEFAULT_CHECKS, LOADERS, PROVENANCE, Checks, Fields, SourceSpec

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


def absent(v: Any) -> bool:
    """A get_path result that is no value: the path is missing, or it holds null."""
    return v is _MISSING or v is None


def _question(rec: dict, f: Fields, ctx: Cleaner) -> str:
    v = get_path(rec, f.question)
    if absent(v):
        raise Bad("question", "missing", "missing")
    if not isinstance(v, str):
        raise Bad("question", f"expected a string, got {type_name(v)}", "type")
    v = ctx.text(v, "question").strip()
    if not v:
        raise Bad("question", "empty", "empty")
    return v


def _as_dict(pairs: list, field: str) -> dict:
    """A Parquet map column arrives as (key, value) pairs."""
    out: dict = {}
    for k, x in pairs:
        if str(k) in out:
            raise Bad(field, f"duplicate key {show(str(k))} in a map of options", "type")
        out[str(k)] = x
    return out


def _options(rec: dict, f: Fields, ctx: Cleaner) -> list[tuple[str | None, str]]:
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
            v = loads(v, ctx.checks, "options")
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
            raise Bad("options", f"expected a dict or list, got {type_name(v)}", "type")
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
            raise Bad("options", f"option {name} is not a string ({type_name(x)})", "type")
        out.append((k, text.strip()))
    return out


def _gold(v: Any, fmt: str, opts: list[tuple[str | None, str]], ctx: Cleaner) -> int:
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
        raise Bad("answer", f"expected a string or integer, got {type_name(v)}", "type")
    if isinstance(v, str):
        v = ctx.text(v, "answer")
    if fmt in ("index0", "index1"):
        if isinstance(v, str) and not _INDEX.fullmatch(v):
            s = v.strip().lstrip("-")
            if s.isascii() and s.isdigit():
                raise Bad("answer", f"{fmt} gold {show(v)} is out of range for {n} options",
                          "out_of_range")
            raise Bad("answer", f"{fmt} gold {show(v)} is not an integer", "type")
        i = int(v) - (fmt == "index1")
        if not 0 <= i < n:
            raise Bad("answer", f"{fmt} gold {show(v)} is out of range for {n} options",
                      "out_of_range")
        return i
    if isinstance(v, int) and fmt != "letter":  # a letter-format int can name a dict key
        if fmt == "auto":
            raise Bad("answer", f"integer gold {show(v)} is ambiguous: set answer_format "
                      "index0/index1", "ambiguous")
        raise Bad("answer", f"{fmt} gold must be a string, got int", "type")
    if isinstance(v, int) and v.bit_length() > 64:
        raise Bad("answer", f"gold {show(v)} is not among options {span}", "out_of_range")
    s = str(v).strip()
    if fmt in ("letter", "auto"):
        keys = [k if k is not None else LETTERS[i] for i, (k, _) in enumerate(opts)]
        for cand in (s, s.upper()):
            if cand in keys:
                return keys.index(cand)
        if fmt == "letter":
            raise Bad("answer", f"gold {show(s)} is not among options {span}", "out_of_range")
    hits = [i for i, (_, t) in enumerate(opts) if normalise_text(t) == normalise_text(s)]
    if len(hits) == 1:
        return hits[0]
    raise Bad("answer", f"gold text {show(s)} matches " + (
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


def _context(rec: dict, f: Fields, ctx: Cleaner) -> str | None:
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
        raise Bad("context", f"expected a string or list of strings, got {type_name(v)}", "type")
    return ctx.text(v, "context").strip() or None


def _name(rec: dict, path: str | None, default: str, field: str, ctx: Cleaner) -> str:
    if path is None:
        return default
    v = get_path(rec, path)
    s = ctx.text(v, field, cap=ID_CHARS).strip() if isinstance(v, str) else ""
    if not s:
        raise Bad(field, "missing" if absent(v) else f"expected a non-empty string, got "
                  f"{show(v)}", "missing" if absent(v) else "type")
    return s


def source_id(rec: dict, f: Fields, index: int, ctx: Cleaner | None = None) -> str:
    """The upstream id, or the 0-based record index for datasets that have none (MedQA)."""
    if f.id is None:
        return str(index)
    ctx = ctx or Cleaner(DEFAULT_CHECKS, None)
    v = get_path(rec, f.id)
    s = ctx.scalar(v, "id", "id", cap=ID_CHARS)
    if s is None or not s.strip():
        missing = absent(v) or v == ""
        raise Bad("id", "missing" if missing else f"expected a string or integer, got {type_name(v)}",
                  "missing" if missing else "type")
    return s.strip()


def _drop_fillers(opts: list[tuple[str | None, str]], gold: int, ctx: Cleaner
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
            "relettered": {keys[i]: LETTERS[j] for j, i in enumerate(kept) if keys[i] != LETTERS[j]},
            "gold": {"old": keys[gold], "new": LETTERS[kept.index(gold)]}}
    return [opts[i] for i in kept], kept.index(gold), prov


def _build(rec: dict, f: Fields, *, source: str, split: str, sid: str, ctx: Cleaner) -> Question:
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
                raise Bad("answer_text", f"gold text {show(s if s is not None else t)} differs "
                          f"from option {letter} {show(options[letter])}", "mismatch")
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
    ctx = Cleaner(checks, _fillers(checks))
    return _build(rec, f, source=source, split=split, sid=source_id(rec, f, index, ctx), ctx=ctx)


def _reject(spec: SourceSpec, loc: str, sid: str | None, e: Bad, rec: Any) -> Reject:
    return Reject(stage="collect", source=spec.source, record=sid or loc, location=loc,
                  field=e.field, category=e.category, reason=visible(e.reason, REASON_CHARS),
                  raw=e.raw if e.raw is not None else excerpt(rec))


def records(spec: SourceSpec, rows: Iterable[Row], checks: Checks = DEFAULT_CHECKS
            ) -> Iterator[Question | Reject]:
    """Normalise rows. Within the source the first *valid* record claims its upstream id; a
    later valid record with that id is a `duplicate_id` reject; a rejected one claims none."""
    fillers = _fillers(checks)
    metas: dict[int, dict[str, str]] = {}  # the mappings stay alive while this runs
    first_at: dict[str, str] = {}
    watch = ColumnWatch.of(spec.fields) if spec.fields is not None else None
    for index, (loc, rec) in enumerate(rows):
        sid = None
        if watch is not None and isinstance(rec, dict):
            watch.see(rec)
        try:
            if isinstance(rec, Bad):
                raise rec
            f = spec.fields if spec.fields is not None else LOADERS[spec.loader](rec)
            ctx = Cleaner(checks, fillers, metas)
            if f.id is not None:
                sid = source_id(rec, f, index, ctx)
            q = _build(rec, f, source=spec.source, split=spec.split,
                       sid=sid if sid is not None else str(index), ctx=ctx)
            if sid is not None:
                if sid in first_at:
                    raise Bad("id", f"duplicate upstream id {show(sid)} (the valid record at "
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
    if watch is not None:
        where = spec.path or "/".join(x for x in (spec.dataset, spec.config, spec.split) if x)
        watch.finish(f"source '{spec.source}' ({where})")

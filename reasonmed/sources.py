"""Question sources: raw records from the HF hub or local files -> `Question` or `Reject`.

A source spec (one entry of params `collect.sources` or `collect.decontaminate.sets`) says
where records come from (`kind: hf` = a hub dataset id/config/split, `kind: local` = a
JSONL, JSON-list or Parquet file) and how to read them: a named `loader` for the four
ReasonMed datasets (each accepts the HF layout and the layout of the files in
../shared/data/benchmarks), or a generic `fields` mapping, so a dataset in a never-seen
layout loads without code changes. One bad record becomes a `Reject` naming the field and
the reason; only a whole-file problem (missing file, unknown format) stops the stage, with
the source's name in the message.

    python -m reasonmed.sources mmlu assets/benchmarks/mmlu_medical/test.jsonl
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from reasonmed.params import Section
from reasonmed.records import LETTERS, Question, Reject, normalise_text, question_id

AnswerFormat = Literal["auto", "letter", "index0", "index1", "text"]
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet",
           ".pq": "parquet"}
RAW_CHARS = 200  # excerpt of a rejected record kept in the rejects artifact


class Fields(Section):
    """Where each `Question` field lives in a raw record; dotted paths reach nested fields.

    `options` is a dict field (letter keys sorted, digit keys in numeric order, other keys
    in file order), a list field, or a list of column names (`[opa, opb, opc, opd]`;
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
    # copied verbatim into Question.meta; a list names each entry by its path's last part
    meta: dict[str, str] | list[str] = Field(default_factory=list)
    source: str | None = None  # per-record source name (overrides the spec's `source`)
    split: str | None = None  # per-record split name (overrides the spec's `split`)

    @model_validator(mode="after")
    def _one_options(self) -> Fields:
        if (self.options is None) == (self.fixed_options is None):
            raise ValueError("set exactly one of `options` and `fixed_options`")
        return self


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


class SourceSpec(Section):
    """One source of questions: where the records are and how to read them."""

    source: str  # name in records, stats and rejects (e.g. medqa, mmlu_anatomy)
    kind: Literal["hf", "local"]
    split: str  # recorded split; for `hf` also the split loaded (slices like train[:100] work)
    loader: str | None = None  # one of LOADERS
    fields: Fields | None = None
    path: str | None = None  # local: file path (relative to the working directory)
    format: Literal["auto", "jsonl", "json", "parquet"] = "auto"  # local; auto = by suffix
    dataset: str | None = None  # hf: hub id
    config: str | None = None  # hf: config name
    revision: str | None = None  # hf: pin a commit for reproducibility

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        where = f"source '{self.source}'"
        if (self.loader is None) == (self.fields is None):
            raise ValueError(f"{where}: set exactly one of `loader` and `fields`")
        if self.loader is not None and self.loader not in LOADERS:
            known = ", ".join(LOADERS)
            raise ValueError(f"{where}: unknown loader '{self.loader}' (known: {known})")
        if self.kind == "local" and not self.path:
            raise ValueError(f"{where}: kind local needs `path`")
        if self.kind == "hf" and not self.dataset:
            raise ValueError(f"{where}: kind hf needs `dataset`")
        return self


class Bad(Exception):
    """A record-level problem: becomes a Reject with this field and reason."""

    def __init__(self, field: str, reason: str, raw: str | None = None):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.raw = field, reason, raw


# --- normalisation: one raw dict -> Question (pure; raises Bad) ----------------------------

_MISSING = object()


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


def _str(v: Any) -> str | None:
    """Text of a scalar (numbers come out of CSV/Parquet columns as int/float), else None."""
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return None


def _question(rec: dict, f: Fields) -> str:
    v = get_path(rec, f.question)
    if v is _MISSING or v is None:
        raise Bad("question", "missing")
    if not isinstance(v, str):
        raise Bad("question", f"expected a string, got {_type(v)}")
    if not v.strip():
        raise Bad("question", "empty")
    return v.strip()


def _options(rec: dict, f: Fields) -> list[tuple[str | None, str]]:
    """(original key or None, text) pairs in display order."""
    if f.fixed_options is not None:
        return [(None, o) for o in f.fixed_options]
    if isinstance(f.options, list):  # one column per option; a wide table pads with nulls
        vals = [get_path(rec, c) for c in f.options]
        while vals and (vals[-1] in (_MISSING, None) or vals[-1] == ""):
            vals.pop()
        pairs: list[tuple[str | None, Any]] = [(None, v) for v in vals]
    else:
        v = get_path(rec, f.options)
        if v is _MISSING or v is None:
            raise Bad("options", "missing")
        if isinstance(v, dict):
            keys = [str(k) for k in v]
            if all(len(k) == 1 and k.isalpha() for k in keys):
                order = sorted(keys)
            elif all(k.isdigit() for k in keys):
                order = sorted(keys, key=int)
            else:
                order = keys
            by_key = {str(k): x for k, x in v.items()}
            pairs = [(k, by_key[k]) for k in order]
        elif isinstance(v, list):
            pairs = [(None, x) for x in v]
        else:
            raise Bad("options", f"expected a dict or list, got {_type(v)}")
    if not pairs:
        raise Bad("options", "no options")
    if len(pairs) < 2:
        raise Bad("options", "fewer than 2 options")
    if len(pairs) > len(LETTERS):
        raise Bad("options", f"{len(pairs)} options, more than {len(LETTERS)}")
    out = []
    for i, (k, x) in enumerate(pairs):
        name = k if k is not None else LETTERS[i]
        text = _str(x) if x is not _MISSING else None
        if text is None:
            raise Bad("options", f"option {name} is " + (
                "missing" if x in (_MISSING, None) else f"not a string ({_type(x)})"))
        if not text.strip():
            raise Bad("options", f"option {name} is empty")
        out.append((k, text.strip()))
    return out


def _gold(v: Any, fmt: str, opts: list[tuple[str | None, str]]) -> int:
    """Position of the gold option."""
    n = len(opts)
    span = f"A-{LETTERS[n - 1]}"
    if v is _MISSING or v is None:
        raise Bad("answer", "missing")
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise Bad("answer", f"expected a string or integer, got {_type(v)}")
    if fmt in ("index0", "index1"):
        if isinstance(v, str) and not v.strip().lstrip("-").isdigit():
            raise Bad("answer", f"{fmt} gold {v!r} is not an integer")
        i = int(v) - (fmt == "index1")
        if not 0 <= i < n:
            raise Bad("answer", f"{fmt} gold {v!r} is out of range for {n} options")
        return i
    if isinstance(v, int) and fmt != "letter":  # a letter-format int can name a dict key
        if fmt == "auto":
            raise Bad("answer", f"integer gold {v} is ambiguous: set answer_format index0/index1")
        raise Bad("answer", f"{fmt} gold must be a string, got int")
    s = str(v).strip()
    if fmt in ("letter", "auto"):
        keys = [k if k is not None else LETTERS[i] for i, (k, _) in enumerate(opts)]
        for cand in (s, s.upper()):
            if cand in keys:
                return keys.index(cand)
        if fmt == "letter":
            raise Bad("answer", f"gold {s!r} is not among options {span}")
    hits = [i for i, (_, t) in enumerate(opts) if normalise_text(t) == normalise_text(s)]
    if len(hits) == 1:
        return hits[0]
    raise Bad("answer", f"gold text {s[:60]!r} matches " + ("no option" if not hits else
                                                            f"{len(hits)} options"))


def _context(rec: dict, f: Fields) -> str | None:
    if f.context is None:
        return None
    v = get_path(rec, f.context)
    if v is _MISSING or v is None:
        return None
    if isinstance(v, list) and all(isinstance(p, str) for p in v):
        v = "\n\n".join(p.strip() for p in v if p.strip())
    if not isinstance(v, str):
        raise Bad("context", f"expected a string or list of strings, got {_type(v)}")
    return v.strip() or None


def _name(rec: dict, path: str | None, default: str, field: str) -> str:
    if path is None:
        return default
    v = get_path(rec, path)
    if not isinstance(v, str) or not v.strip():
        raise Bad(field, "missing" if v in (_MISSING, None) else
                  f"expected a non-empty string, got {v!r}")
    return v.strip()


def source_id(rec: dict, f: Fields, index: int) -> str:
    """The upstream id, or the 0-based record index for datasets that have none (MedQA)."""
    if f.id is None:
        return str(index)
    v = get_path(rec, f.id)
    s = _str(v)
    if s is None or not s.strip():
        raise Bad("id", "missing" if v in (_MISSING, None, "") else
                  f"expected a string or integer, got {_type(v)}")
    return s.strip()


def to_question(rec: dict, f: Fields, *, source: str, split: str, index: int = 0) -> Question:
    """Normalise one raw record; raises Bad(field, reason) when it cannot be used."""
    sid = source_id(rec, f, index)
    q = _question(rec, f)
    opts = _options(rec, f)
    gold = _gold(get_path(rec, f.answer), f.answer_format, opts)
    options = {LETTERS[i]: t for i, (_, t) in enumerate(opts)}
    letter = LETTERS[gold]
    if f.answer_text is not None:  # a second opinion on the gold, when the data has one
        t = get_path(rec, f.answer_text)
        if t not in (_MISSING, None) and (
                _str(t) is None or normalise_text(_str(t)) != normalise_text(options[letter])):
            raise Bad("answer_text", f"gold text {str(t)[:60]!r} differs from option "
                                     f"{letter} {options[letter][:60]!r}")
    ctx = _context(rec, f)
    meta_paths = f.meta if isinstance(f.meta, dict) else {p.split(".")[-1]: p for p in f.meta}
    meta = {k: v for k, p in meta_paths.items() if (v := get_path(rec, p)) is not _MISSING}
    return Question(
        id=question_id(q, options, ctx), source=_name(rec, f.source, source, "source"),
        split=_name(rec, f.split, split, "split"), question=q, options=options, answer=letter,
        answer_text=options[letter], context=ctx, source_id=sid, meta=meta)


# --- reading: whole-file checks up front, then one (location, record | Bad) per record ----

Row = tuple[str, "dict | Bad"]


def _excerpt(rec: Any) -> str:
    return json.dumps(rec, ensure_ascii=False, default=str)[:RAW_CHARS]


def _jsonl_rows(path: Path, label: str) -> Iterator[Row]:
    # Binary read + per-line decode: one line with bad bytes is rejected, the rest load.
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            loc = f"{label}:{n}"
            try:
                text = line.decode("utf-8").lstrip("\ufeff").rstrip("\r\n")
            except UnicodeDecodeError as e:
                why = f"not UTF-8: byte 0x{line[e.start]:02x} at offset {e.start}"
                yield loc, Bad("encoding", why, line.decode("utf-8", "replace")[:RAW_CHARS])
                continue
            try:
                rec = json.loads(text)
            except json.JSONDecodeError as e:
                why = f"invalid JSON: {e.msg} (column {e.colno})"
                yield loc, Bad("json", why, text[:RAW_CHARS])
                continue
            yield loc, rec if isinstance(rec, dict) else Bad(
                "record", f"expected a JSON object, got {_type(rec)}", _excerpt(rec))


def _json_rows(path: Path, label: str, name: str) -> Iterator[Row]:
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SystemExit(f"collect source '{name}': {label} is not a JSON file: {e}") from None
    if not isinstance(data, list):
        raise SystemExit(f"collect source '{name}': {label} must hold a JSON list of records, "
                         f"got {_type(data)} (use .jsonl for one record per line)")
    return ((f"{label}:{i}", r if isinstance(r, dict) else Bad(
        "record", f"expected a JSON object, got {_type(r)}", _excerpt(r)))
        for i, r in enumerate(data, 1))


def _parquet_rows(path: Path, label: str, name: str) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 -- pyarrow raises several types for a non-Parquet file
        raise SystemExit(f"collect source '{name}': {label} is not a Parquet file: {e}") from None

    def rows() -> Iterator[Row]:
        n = 0
        for batch in pf.iter_batches(batch_size=4096):
            for rec in batch.to_pylist():  # struct columns arrive as nested dicts
                n += 1
                yield f"{label}:{n}", rec
    return rows()


def _hf_rows(spec: SourceSpec) -> Iterator[Row]:
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


def open_rows(spec: SourceSpec) -> Iterator[Row]:
    """Check the whole file now (so a bad path fails at start-up); stream records later."""
    if spec.kind == "hf":
        return _hf_rows(spec)
    path = Path(spec.path)
    if not path.is_file():
        raise SystemExit(f"collect source '{spec.source}': file not found: {spec.path}")
    fmt = spec.format if spec.format != "auto" else FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SystemExit(f"collect source '{spec.source}': unknown format of {spec.path} "
                         f"(suffixes: {', '.join(FORMATS)}; or set `format:`)")
    if fmt == "jsonl":
        return _jsonl_rows(path, spec.path)
    if fmt == "json":
        return _json_rows(path, spec.path, spec.source)
    return _parquet_rows(path, spec.path, spec.source)


def records(spec: SourceSpec, rows: Iterator[Row]) -> Iterator[Question | Reject]:
    """Normalise rows; a duplicate upstream id within the source is rejected (first wins)."""
    first_at: dict[str, str] = {}
    for index, (loc, rec) in enumerate(rows):
        sid = None
        try:
            if isinstance(rec, Bad):
                raise rec
            f = spec.fields if spec.fields is not None else LOADERS[spec.loader](rec)
            sid = source_id(rec, f, index) if f.id is not None else None
            if sid is not None:
                if sid in first_at:
                    raise Bad("id", f"duplicate upstream id {sid!r} (first at {first_at[sid]})")
                first_at[sid] = loc
            yield to_question(rec, f, source=spec.source, split=spec.split, index=index)
        except Bad as e:
            yield Reject(stage="collect", source=spec.source, record=sid or loc, field=e.field,
                         reason=e.reason, raw=e.raw if e.raw is not None else _excerpt(rec))


def load_source(spec: SourceSpec) -> Iterator[Question | Reject]:
    """All records of one source as Questions or Rejects, in file order."""
    return records(spec, open_rows(spec))


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
            print(f"reject {r.record} {r.field}: {r.reason}", file=sys.stderr)
    print(json.dumps(counts))

"""Question sources: raw records from the HF hub or local files -> `Question` or `Reject`.

`load_source(spec)` reads one source (a `SourceSpec`: reasonmed/ingest/specs.py) in file
order: `open_rows` checks the whole file now (so a bad path fails at start-up) and picks the
reader by format (readers.py: JSONL, CSV/TSV, Parquet; recover.py: a JSON list or a table
by column; a hub dataset through `datasets`); `records` (mapping.py) maps each row onto a
`Question`.

One bad record becomes a `Reject` naming the record (its upstream id, else `file:line`;
`file:element` for a JSON list, `file:row` for Parquet), the field, a reason and a
category; it never stops the stage and never blocks a valid record. Only a whole-file
problem (missing file, unknown format, a truncated JSON list, a broken CSV header, UTF-16)
stops the stage, with the source's name in the message. What a record may hold: specs.py
(caps), sanitize.py (numbers, encoding, invisible characters), mapping.py (options, ids).

    python -m reasonmed.ingest.load mmlu assets/benchmarks/mmlu_medical/test.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from reasonmed.core.records import Question, Reject
from reasonmed.ingest.mapping import records
from reasonmed.ingest.readers import csv_rows, jsonl_rows, parquet_rows, refuse_utf16
from reasonmed.ingest.recover import json_list_rows
from reasonmed.ingest.sanitize import Row
from reasonmed.ingest.specs import (
    DEFAULT_CHECKS,
    FORMAT_NAMES,
    FORMATS,
    LOADERS,
    Checks,
    FileSpec,
    SourceSpec,
)


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
        refuse_utf16(path, spec.path, spec.source)
        rows = jsonl_rows(path, spec.path, checks)
    elif fmt == "json":
        rows = json_list_rows(path, spec.path, spec.source, checks, spec.columns())
    elif fmt == "parquet":
        rows = parquet_rows(path, spec.path, spec, checks)
    else:
        rows = csv_rows(path, spec.path, spec.source, checks, "\t" if fmt == "tsv" else ",",
                        spec.csv_header)
    return _io_guard(spec, rows)


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
        raise SystemExit("usage: python -m reasonmed.ingest.load LOADER|FIELDS_JSON PATH")
    how, path = sys.argv[1:]
    spec = SourceSpec(source=Path(path).stem, kind="local", split="?", path=path,
                      **({"loader": how} if how in LOADERS else {"fields": json.loads(how)}))
    counts = {"questions": 0, "rejects": 0}
    for r in load_source(spec):
        counts["questions" if isinstance(r, Question) else "rejects"] += 1
        if isinstance(r, Reject):
            print(f"reject {r.record} {r.field} [{r.category}]: {r.reason}", file=sys.stderr)
    print(json.dumps(counts))

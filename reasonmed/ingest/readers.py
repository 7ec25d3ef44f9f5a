"""File readers: JSONL, CSV/TSV and Parquet -> one (location, record | Bad) per record.

Whole-file checks happen when a reader is opened (a UTF-16 file, a broken CSV header, a
file that is not Parquet stop the stage with the source's name); records stream after.
A record that cannot be read (bad JSON, too large, too deep, undecodable) is a `Bad` row,
the rest of the file loads. The JSON-list reader is reasonmed/ingest/recover.py; the
dispatch by format, reasonmed/ingest/load.py.

    python -c "from reasonmed.ingest.readers import decode; print(ascii(decode(b'\\xef\\xbb\\xbfok \\xff')))"
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reasonmed.ingest.sanitize import (
    RAW_CHARS,
    SURROGATE,
    Bad,
    Row,
    excerpt,
    loads,
    too_deep,
    type_name,
    visible,
)
from reasonmed.ingest.specs import Checks, FileSpec


def refuse_utf16(path: Path, label: str, name: str) -> None:
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head in (b"\x00\x00\xfe\xff",):
        raise SystemExit(f"collect source '{name}': {label} is UTF-16/UTF-32 (byte-order mark "
                         f"{head[:2].hex()}); convert it to UTF-8")


def decode(data: bytes) -> str:
    """UTF-8 (a BOM dropped); undecodable bytes become lone surrogates U+DC80-U+DCFF, so a
    record is rejected naming the field that holds them, and the rest of the file loads."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
    return text[1:] if text[:1] == "\ufeff" else text


def parse_record(text: str, checks: Checks) -> dict | Bad:
    try:
        rec = loads(text, checks, "json")
    except Bad as e:
        if e.category == "too_deep":
            e.field = "record"
        e.raw = visible(text)
        return e
    if not isinstance(rec, dict):
        return Bad("record", f"expected a JSON object, got {type_name(rec)}", "type", excerpt(rec))
    return rec


def jsonl_rows(path: Path, label: str, checks: Checks) -> Iterator[Row]:
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
                               f"({cap})", "too_large", visible(decode(line[:RAW_CHARS])))
                continue
            if not line.strip():
                continue
            yield loc, parse_record(decode(line), checks)


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


def parquet_rows(path: Path, label: str, spec: FileSpec, checks: Checks) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except Exception as e:  # noqa: BLE001 -- pyarrow raises several types for a non-Parquet file
        raise SystemExit(f"collect source '{spec.source}': {label} is not a Parquet file: "
                         f"{e}") from None
    names = schema.names
    wanted = spec.columns()
    # read only the columns a mapping can use (all when none is there: rejects say why), and
    # the column closest to a mapped one the file lacks, so the typo's error can name it
    near = {m for w in (wanted or set()) - set(names)
            for m in difflib.get_close_matches(w, names, n=1, cutoff=0.6)}
    columns = [c for c in names if wanted is None or c in wanted or c in near] or names
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
                elif walk and too_deep(rec, checks.max_depth):
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


def csv_rows(path: Path, label: str, name: str, checks: Checks, delimiter: str,
             names: list[str] | None = None) -> Iterator[Row]:
    """CSV/TSV with a header row (or `names`); an empty cell is null (absent). Streams."""
    refuse_utf16(path, label, name)
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
    bad = [h for h in header if SURROGATE.search(h)]
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

"""The JSON reader: a list read whole and split into elements, recovering from a bad one; or
a table stored by column.

`json.JSONDecoder.raw_decode` reads one element at a time; an element it cannot parse is
skipped by bracket matching (`skip_value`), so it becomes one `Bad` row and the elements
after it still load. A list that never ends, or text after it, stops the stage.

A JSON object is a table by column (`column_rows`): pandas' `DataFrame.to_json()` default
(orient "columns": `{"question": {"0": ...}, "opa": {"0": ...}}`, the row labels the
location) or a dict of equal-length lists (`{"question": [...], "opa": [...]}`). Columns of
different rows or lengths stop the stage naming the column. An object of records keyed by
id (`{"12345": {"QUESTION": ...}}`, orient "index", PubMedQA's original release) is told apart
by the mapping: its columns are the inner keys.

    python -c "from reasonmed.ingest.recover import skip_value; print(skip_value('[1, {]}, 2]', 4))"
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from reasonmed.ingest.readers import decode, parse_record, refuse_utf16
from reasonmed.ingest.sanitize import RAW_CHARS, Bad, Row, excerpt, too_deep, type_name, visible
from reasonmed.ingest.specs import Checks

_WS = re.compile(r"[ \t\n\r]*")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)|[\[\]{}]')
_SCALAR = re.compile(r"[^,\]]*")


def skip_value(text: str, i: int) -> int | None:
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


def _row(loc: str, rec: dict, checks: Checks) -> Row:
    if too_deep(rec, checks.max_depth):
        return loc, Bad("record", f"nested deeper than collect.max_depth ({checks.max_depth})",
                        "too_deep", excerpt(rec))
    return loc, rec


def column_rows(data: dict, label: str, where: str, checks: Checks,
                wanted: set[str] | None = None) -> list[Row] | None:
    """The rows of a table stored by column (see the module docstring), or None when `data`
    is no such table."""
    cols = list(data.items())
    if not cols:
        return []
    if all(isinstance(v, dict) for _, v in cols):
        inner = cols[0][1]
        if wanted and not wanted & data.keys() and wanted & inner.keys():  # records by id
            return [_row(f"{label}:{k}", v, checks) for k, v in cols]
        for col, v in cols[1:]:
            if v.keys() != inner.keys():
                odd = next(iter([k for k in v if k not in inner] or
                                [k for k in inner if k not in v]))
                raise SystemExit(f"{where}: a table by column whose columns differ: column "
                                 f"{col!r} has {len(v)} rows, column {cols[0][0]!r} {len(inner)}; "
                                 f"row {odd!r} is in only one of them")
        return [_row(f"{label}:{k}", {c: v[k] for c, v in cols}, checks) for k in inner]
    if all(isinstance(v, list) for _, v in cols):
        n = len(cols[0][1])
        for col, v in cols[1:]:
            if len(v) != n:
                raise SystemExit(f"{where}: a table by column whose columns differ: column "
                                 f"{col!r} has {len(v)} values, column {cols[0][0]!r} {n}")
        return [_row(f"{label}:{i + 1}", {c: v[i] for c, v in cols}, checks) for i in range(n)]
    return None


def json_list_rows(path: Path, label: str, name: str, checks: Checks,
                   wanted: set[str] | None = None) -> Iterator[Row]:
    """A JSON list, read whole (capped) and split into elements at open time: an element
    that cannot be read becomes a Bad row, the rest load; a broken list stops the stage. A
    JSON object is read as a table by column (`column_rows`; `wanted`: the columns the
    mapping reads)."""
    where = f"collect source '{name}': {label}"
    size = path.stat().st_size
    if size > checks.max_json_bytes:
        raise SystemExit(f"{where} is {size} bytes, over collect.max_json_bytes "
                         f"({checks.max_json_bytes}): a JSON list is read whole; convert it to "
                         "JSONL (one record per line), which streams")
    refuse_utf16(path, label, name)
    text = decode(path.read_bytes())
    dec = json.JSONDecoder()
    i = _WS.match(text).end()
    if i == len(text):
        return iter(())
    if text[i] != "[":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise SystemExit(f"{where} is not a JSON file: {str(e)[:200]}") from None
        if isinstance(data, dict) and (rows := column_rows(data, label, where, checks,
                                                           wanted)) is not None:
            return iter(rows)
        raise SystemExit(f"{where} must hold a JSON list of records or a table by column "
                         f"(columns of equal length), got {type_name(data)}"
                         + (" whose values mix types" if isinstance(data, dict) else "")
                         + " (use .jsonl for one record per line)")
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
            end = skip_value(text, i)
            if end is None:
                raise SystemExit(f"{where} is not a JSON file: element {n} never ends "
                                 f"({type(e).__name__}: {str(e)[:120]})") from None
            rows.append((loc, parse_record(text[start:end], checks)))
        else:
            if end - start > checks.max_record_bytes:
                rows.append((loc, Bad("record", f"element of {end - start} characters, over "
                                      f"collect.max_record_bytes ({checks.max_record_bytes})",
                                      "too_large", visible(text[start:start + RAW_CHARS]))))
            elif not isinstance(obj, dict):
                rows.append((loc, Bad("record", f"expected a JSON object, got {type_name(obj)}",
                                      "type", excerpt(obj))))
            elif (text.count("[", start, end) + text.count("{", start, end) > checks.max_depth
                  and too_deep(obj, checks.max_depth)):
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

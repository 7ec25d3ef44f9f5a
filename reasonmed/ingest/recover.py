"""The JSON-list reader: a list read whole and split into elements, recovering from a bad one.

`json.JSONDecoder.raw_decode` reads one element at a time; an element it cannot parse is
skipped by bracket matching (`skip_value`), so it becomes one `Bad` row and the elements
after it still load. A list that never ends, or text after it, stops the stage.

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


def json_list_rows(path: Path, label: str, name: str, checks: Checks) -> Iterator[Row]:
    """A JSON list, read whole (capped) and split into elements at open time: an element
    that cannot be read becomes a Bad row, the rest load; a broken list stops the stage."""
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
        raise SystemExit(f"{where} must hold a JSON list of records, got {type_name(data)} "
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

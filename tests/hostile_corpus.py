"""A generated hostile corpus: question records in JSONL, JSON, Parquet and CSV that try to
break `collect`, mixed with valid ones, each labelled with its category, where it is
(file:line / element / row), and what must happen to it (kept, or rejected naming the id
or location and the field).

`build(root)` writes the files and the params of one collect run per format; `run(corpus,
fmt)` runs the real stage (`python -m stages.collect`) on them as a subprocess; `check`
compares the result with the labels and `summary` counts kept/rejected per category and
format for a reliability report:

    python -m tests.hostile_corpus            # build in a temp dir, run collect, print the table
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("jsonl", "json", "parquet", "csv")
MB = 1 << 20
RECORD_CAP = 2_000_000  # collect.max_record_bytes of the hostile runs (default 4 MiB)
BAD = "\ue000"  # placeholder (private use) for raw invalid bytes, replaced after encoding
BAD_BYTES = b"\xe9\xff"
HUGE = "9" * 5000  # over Python's 4,300-digit int parsing limit
# characters a kept text must not hold: C0 (but TAB/LF), DEL, C1, bidi, zero width, surrogates
FORBIDDEN = {*map(chr, range(0x20)), *map(chr, range(0x7f, 0xa0)), "\u200b", "\u2060", "\ufeff",
             *map(chr, range(0x202a, 0x202f)), *map(chr, range(0x2066, 0x206a))} - {"\n", "\t"}


@dataclass
class Case:
    fmt: str
    category: str
    loc: str  # Reject.location the record gets
    keep: bool
    id: str | None = None  # the upstream id a kept question has / a reject must name
    field: str | None = None  # the field a reject must name
    expect: dict = dc_field(default_factory=dict)  # checks on the kept question (text, options...)


class Corpus:
    """Cases and files of the four formats under `root`."""

    def __init__(self, root: Path, seed: int = 0):
        self.root, self.rng = root, random.Random(seed)
        self.cases: dict[str, list[Case]] = defaultdict(list)
        self.sources: dict[str, list[dict]] = defaultdict(list)
        syl = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "ai", "ou")]
        n = len(syl)  # distinct indices -> distinct three-syllable words
        self.words = (syl[i // n // n] + syl[i // n % n] + syl[i % n]
                      for i in self.rng.sample(range(n ** 3), 60_000))
        self.serial = 0

    def text(self, n: int) -> str:
        return " ".join(next(self.words) for _ in range(n))

    def uid(self, fmt: str, cat: str) -> str:
        self.serial += 1
        return f"{fmt}-{cat}-{self.serial}"

    def base(self, fmt: str, cat: str, n_opts: int = 4, gold: str = "B") -> dict:
        """A fresh valid record (unique words: no two are near duplicates)."""
        opts = {k: self.text(2) for k in "ABCDE"[:n_opts]}
        return {"id": self.uid(fmt, cat), "question": f"Which {self.text(10)}?",
                "options": opts, "answer": gold, "exp": self.text(6)}

    def source(self, fmt: str, path: Path, fields: dict, **kw) -> None:
        self.sources[fmt].append({"source": f"{fmt}_{path.stem}", "kind": "local",
                                  "split": "train", "path": str(path), "fields": fields, **kw})


JSON_FIELDS = {"id": "id", "question": "question", "options": "options", "answer": "answer",
               "answer_format": "letter", "context": "context", "meta": ["exp"]}


# --- JSON-ish records: one (category, record or raw text, kept?, field, named?) per case ------

def _nest(depth: int):
    v: object = "leaf"
    for _ in range(depth - 1):
        v = [v]
    return v


def json_cases(c: Corpus, fmt: str) -> list[tuple]:
    """(category, payload, keep, field, named, expect); payload: a dict, or str raw text."""
    def b(cat, **kw):
        r = c.base(fmt, cat, **{k: kw.pop(k) for k in ("n_opts", "gold") if k in kw})
        r.update(kw)
        return r

    out = []

    def add(cat, payload, keep, fld=None, named=True, expect=None):
        out.append((cat, payload, keep, fld, named, expect or {}))

    for it in range(3):
        add("valid", b("valid"), True)
        add("valid_5_options", b("valid5", n_opts=5, gold="E"), True, expect={"n_options": 5})
        r = b("mixed45")
        r["options"]["E"] = None
        add("mixed_4_5_options", r, True, expect={"n_options": 4})
        r = b("surrq")
        r["question"] += " \ud800 tail"
        add("surrogate", r, False, "question")
        r = b("surro")
        r["options"]["C"] = "low \udfff"
        add("surrogate", r, False, "options")
        r = b("surrm")
        r["exp"] = "half a pair \ud83d"
        add("surrogate_in_meta", r, True, expect={"meta_exp_has": "\ufffd"})
        add("surrogate", b("surri", id="x\udc00y"), False, "id", named=False)
        r = b("badutf8")
        r["question"] = f"Caf{BAD} au lait {r['question']}"
        add("invalid_utf8", r, False, "question")
        add("invalid_utf8_unmapped", b("badutf8u", notes=f"ok {BAD} here"), True)
        r = b("badutf8m")
        r["exp"] = f"expl {BAD} anation"
        add("invalid_utf8_in_meta", r, True, expect={"meta_exp_has": "\ufffd"})
        for depth in (1000, 40):  # written by hand: json.dumps itself stops near 1000
            raw = json.dumps(b(f"deep{depth}", exp="__NEST__")).replace(
                '"__NEST__"', "[" * depth + '"leaf"' + "]" * depth)
            add("deep_nesting", raw, False, "record", named=False)
        add("nesting_under_cap", b("deep10", exp=_nest(10)), True)
        r = json.dumps(b("hugeint", answer="__HUGE__")).replace('"__HUGE__"', HUGE)
        add("huge_int", r, False, "json", named=False)
        r = b("hugeopt")
        r["options"]["B"] = 10 ** 25
        add("huge_int", r, False, "options")
        add("huge_int", b("hugeid", id=10 ** 30), False, "id", named=False)
        r = b("nanopt")
        r["options"]["A"] = math.nan
        add("nan_inf", r, False, "options")
        add("nan_inf", b("infans", answer=math.inf), False, "answer")
        add("nan_inf", b("nanid", id=-math.inf), False, "id", named=False)
        add("nan_in_meta", b("nanmeta", exp=math.nan), True, expect={"meta": {"exp": None}})
        add("control_chars", b("ctl", question=f"Which \x00nul\x07 bell\x7f del\x85 nel "
                                               f"{c.text(8)}?"), True, expect={"q_has": "nul bell"})
        r = b("ansi", question=f"Which \x1b[31mred\x1b[0m \x1b]8;;http://x\x07link {c.text(8)}?")
        add("ansi_escapes", r, True, expect={"q_has": "red link"})
        r = b("rtl")
        r["options"]["A"] = "\u202egnirts\u202c reversed \u2066iso\u2069"
        add("rtl_bidi", r, True, expect={"option_A": "gnirts reversed iso"})
        r = b("zw", question=f"Zero\u200bwidth \ufeffjoin\u200dkept {c.text(8)}?")
        add("zero_width", r, True, expect={"q_has": "Zerowidth join\u200dkept"})
        r = b("crlf", question=f"Line one\r\nline two\rthree {c.text(8)}?")
        add("crlf_in_text", r, True, expect={"q_has": "Line one\nline two\nthree"})
        if it == 0:
            add("field_1mb", b("big", question="Why " + "x" * MB), False, "question")
            add("field_1mb", b("bigmeta", exp="y" * MB), False, "meta.exp")
            add("field_1mb_unmapped", b("bigu", notes="z" * MB), True)
        add("field_over_cap", b("long", question="Why " + "x" * 40_000), False, "question")
        add("wrong_type", b("wtq", question=42), False, "question")
        add("wrong_type", b("wto", options="A) x B) y"), False, "options")
        add("wrong_type", b("wta", answer=["B"]), False, "answer")
        add("wrong_type", b("wtb", answer=True), False, "answer")
        add("wrong_type", b("wtc", context={"not": "text"}), False, "context")
        add("wrong_type", b("wti", id=["x"]), False, "id", named=False)
        for raw in ("[1, 2]", '"just a string"', "null"):
            add("not_an_object", raw, False, "record", named=False)
        # a JSON list can only skip a bad element whose brackets balance
        add("invalid_json", '{"id": "broken", "question": "Trailing comma", "options": ["x",]}'
            if fmt == "json" else '{"id": "broken", "question": "Unclosed", "options": ["x"}',
            False, "json", named=False)
        for f_ in ("question", "options", "answer"):
            r = b(f"miss{f_}")
            del r[f_]
            add("missing_field", r, False, f_)
        r = b("missid")
        del r["id"]
        add("missing_field", r, False, "id", named=False)
        # duplicate ids: an invalid record never claims its id; a valid one does
        bad = b("dupiv")
        good = b("dupiv")
        good["id"] = bad["id"]
        del bad["question"]
        add("dup_id_invalid_then_valid", bad, False, "question")
        add("dup_id_invalid_then_valid", good, True)
        first, second = b("dupvv"), b("dupvv")
        second["id"] = first["id"]
        add("dup_id_valid_then_valid", first, True)
        add("dup_id_valid_then_valid", second, False, "id")
        first, second = b("dupvi"), b("dupvi", gold="F")
        second["id"] = first["id"]
        add("dup_id_valid_then_invalid", first, True)
        add("dup_id_valid_then_invalid", second, False, "answer")
        add("gold_out_of_range", b("goldf", gold="F"), False, "answer")
        r = b("goldnull", gold="E")
        r["options"]["E"] = None
        add("gold_out_of_range", r, False, "answer")
        r = b("midnull", n_opts=5)
        r["options"]["C"] = None
        add("null_option_in_middle", r, False, "options")
        r = b("filler", gold="D")
        r["options"]["C"] = "N/A"
        add("filler_option", r, True, expect={"n_options": 3, "answer": "C", "dropped": {"C": "N/A"}})
        r = b("filler2", n_opts=5, gold="A")
        r["options"].update(B="-", E="")
        add("filler_option", r, True, expect={"n_options": 3, "answer": "A"})
        r = b("fillergold", gold="B")
        r["options"]["B"] = "n/a"
        add("filler_gold", r, False, "answer")
        r = b("realnone", gold="D")
        r["options"].update(C="Na", D="None of the above")
        add("real_none_option", r, True, expect={"n_options": 4, "answer": "D"})
        add("too_many_options", b("many", options=[c.text(1) for _ in range(30)]), False,
            "options")
        add("too_few_options", b("one", options=["only"], gold="A"), False, "options")
        add("empty_question", b("empty", question="  \x00 \u200b "), False, "question")
    add("record_over_cap", b("hugerec", notes="w" * (RECORD_CAP + MB // 2)), False, "record",
        named=False)
    return out


def _encode_json(payload) -> bytes:
    """ASCII JSON (lone surrogates become \\ud800 escapes); BAD becomes raw invalid bytes."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return text.encode().replace(b"\\ue000", BAD_BYTES)


def build_jsonl(c: Corpus) -> None:
    d = c.root / "jsonl"
    d.mkdir(parents=True)
    path, lines = d / "hostile.jsonl", []
    for cat, payload, keep, fld, named, expect in json_cases(c, "jsonl"):
        lines.append(_encode_json(payload))
        rid = payload.get("id") if isinstance(payload, dict) and named else None
        kid = payload.get("id") if isinstance(payload, dict) else None
        c.cases["jsonl"].append(Case("jsonl", cat, f"{path}:{len(lines)}", keep,
                                     rid if not keep else kid, fld, expect))
        if len(lines) % 17 == 0:
            lines.append(b"   ")  # blank lines are no records
    path.write_bytes(b"\n".join(lines) + b"\n")
    c.source("jsonl", path, JSON_FIELDS)
    # a BOM on line 1 and CRLF line ends
    path, lines = d / "bom_crlf.jsonl", []
    for i in range(12):
        r = c.base("jsonl", "bom_crlf")
        lines.append(json.dumps(r).encode())
        c.cases["jsonl"].append(Case("jsonl", "bom_crlf", f"{path}:{i + 1}", True, r["id"]))
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    c.source("jsonl", path, JSON_FIELDS)
    (d / "empty.jsonl").write_bytes(b"")
    c.source("jsonl", d / "empty.jsonl", JSON_FIELDS, allow_empty=True)


def build_json(c: Corpus) -> None:
    d = c.root / "json"
    d.mkdir(parents=True)
    path, elems = d / "hostile.json", []
    for cat, payload, keep, fld, named, expect in json_cases(c, "json"):
        elems.append(_encode_json(payload))
        rid = payload.get("id") if isinstance(payload, dict) and named else None
        kid = payload.get("id") if isinstance(payload, dict) else None
        c.cases["json"].append(Case("json", cat, f"{path}:{len(elems)}", keep,
                                    rid if not keep else kid, fld, expect))
    path.write_bytes(b"\xef\xbb\xbf[\r\n  " + b",\r\n  ".join(elems) + b"\r\n]\r\n")
    c.source("json", path, JSON_FIELDS)
    (d / "empty.json").write_text("[]")
    c.source("json", d / "empty.json", JSON_FIELDS, allow_empty=True)


# --- CSV ---------------------------------------------------------------------------------

CSV_COLS = ["id", "question", "opa", "opb", "opc", "opd", "ope", "answer", "exp", "notes"]
CSV_FIELDS = {"id": "id", "question": "question", "options": ["opa", "opb", "opc", "opd", "ope"],
              "answer": "answer", "answer_format": "letter", "meta": ["exp"]}


class CsvWriter:
    """Writes rows and knows the line each starts on (as csv.reader counts lines)."""

    def __init__(self, path: Path, header: list[str], bom: bool = False):
        self.path, self.header, self.parts, self.line = path, header, [], 1
        self.bom = bom
        self.row(header)

    def row(self, cells: list) -> str:
        s = io.StringIO()
        csv.writer(s).writerow(["" if x is None else x for x in cells])
        text = s.getvalue()
        loc = f"{self.path}:{self.line}"
        self.line += len(io.StringIO(text, newline="").readlines())
        self.parts.append(text)
        return loc

    def close(self) -> None:
        data = "".join(self.parts).encode("utf-8", "surrogateescape")
        self.path.write_bytes((b"\xef\xbb\xbf" if self.bom else b"") + data)


def _cells(r: dict) -> list:
    o = r["options"]
    return [r["id"], r["question"], *[o.get(k) for k in "ABCDE"], r["answer"], r["exp"],
            r.get("notes")]


def build_csv(c: Corpus) -> None:
    d = c.root / "csv"
    d.mkdir(parents=True)
    w = CsvWriter(d / "hostile.csv", CSV_COLS, bom=True)

    def add(cat, r, keep, fld=None, named=True, cells=None, expect=None):
        loc = w.row(cells if cells is not None else _cells(r))
        c.cases["csv"].append(Case("csv", cat, loc, keep, r["id"] if keep or named else None,
                                   fld, expect or {}))

    def b(cat, n_opts=4, gold="B", **kw):
        r = c.base("csv", cat, n_opts, gold)
        r.update(kw)
        return r

    for it in range(4):
        add("valid", b("valid"), True)
        add("valid_5_options", b("valid5", 5, "E"), True, expect={"n_options": 5})
        add("mixed_4_5_options", b("mixed45"), True, expect={"n_options": 4})  # ope empty
        r = b("badutf8")
        r["question"] = "Caf\udce9 au lait " + r["question"]  # written as the raw byte 0xe9
        add("invalid_utf8", r, False, "question")
        r = b("surr")
        r["question"] += " \udced\udca0\udc80"  # CESU bytes of U+D800: invalid UTF-8
        add("surrogate", r, False, "question")
        add("invalid_utf8_unmapped", b("badutf8u", notes="bad \udcff byte"), True)
        add("invalid_utf8_in_meta", b("badutf8m", exp="bad \udcfe byte"), True,
            expect={"meta_exp_has": "\ufffd"})
        add("control_chars", b("ctl", question=f"Which \x00nul\x07 bell\x85 nel {c.text(8)}?"),
            True, expect={"q_has": "nul bell"})
        add("ansi_escapes", b("ansi", question=f"Which \x1b[1;31mred\x1b[0m {c.text(8)}?"), True,
            expect={"q_has": "Which red"})
        r = b("rtl")
        r["options"]["B"] = "\u202eevil\u202c text"
        add("rtl_bidi", r, True, expect={"option_B": "evil text"})
        add("zero_width", b("zw", question=f"Zero\u200bwidth\ufeff {c.text(8)}?"), True,
            expect={"q_has": "Zerowidth"})
        add("crlf_in_text", b("crlf", question=f"One\r\ntwo {c.text(8)}?"), True,
            expect={"q_has": "One\ntwo"})
        if it == 0:
            add("field_1mb", b("big", question="Why " + "x" * MB), False, "question")
        add("field_over_cap", b("long", question="Why " + "x" * 40_000), False, "question")
        add("huge_int", b("hugegold", gold=HUGE), False, "answer")
        r = b("cells")
        add("wrong_cell_count", r, False, "record", named=False, cells=[*_cells(r), "extra"])
        r = b("missq")
        r["question"] = ""
        add("missing_field", r, False, "question")
        r = b("missa", gold="")
        add("missing_field", r, False, "answer")
        r = b("missid")
        r["id"] = ""
        add("missing_field", r, False, "id", named=False)
        bad, good = b("dupiv", gold="F"), b("dupiv")
        good["id"] = bad["id"]
        add("dup_id_invalid_then_valid", bad, False, "answer")
        add("dup_id_invalid_then_valid", good, True)
        first, second = b("dupvv"), b("dupvv")
        second["id"] = first["id"]
        add("dup_id_valid_then_valid", first, True)
        add("dup_id_valid_then_valid", second, False, "id")
        first, second = b("dupvi"), b("dupvi", question="")
        second["id"] = first["id"]
        add("dup_id_valid_then_invalid", first, True)
        add("dup_id_valid_then_invalid", second, False, "question")
        add("gold_out_of_range", b("goldf", gold="F"), False, "answer")
        r = b("midnull", 5)
        r["options"]["C"] = None
        add("null_option_in_middle", r, False, "options")
        r = b("filler", gold="D")
        r["options"]["B"] = "n/a"
        add("filler_option", r, True, expect={"n_options": 3, "answer": "C"})
        r = b("fillergold", gold="C")
        r["options"]["C"] = "-"
        add("filler_gold", r, False, "answer")
        r = b("realnone", gold="D")
        r["options"].update(C="Na", D="None of the above")
        add("real_none_option", r, True, expect={"n_options": 4})
    r = b("hugerec", notes="w" * (RECORD_CAP + MB // 2))
    add("record_over_cap", r, False, "record", named=False)
    add("valid", b("after_huge"), True)  # the reader goes on after an unreadable row
    w.close()
    c.source("csv", w.path, CSV_FIELDS)

    # options as one JSON cell
    w = CsvWriter(d / "json_options.csv", ["id", "question", "options", "answer"])
    jf = {"id": "id", "question": "question", "options": "options", "answer": "answer",
          "answer_format": "letter"}

    def addj(cat, opts_text, keep, gold="B", fld="options", expect=None):
        r = c.base("csv", cat)
        text = opts_text if opts_text is not None else json.dumps(r["options"])
        loc = w.row([r["id"], r["question"], text, gold])
        c.cases["csv"].append(Case("csv", cat, loc, keep, r["id"], None if keep else fld,
                                   expect or {}))

    for _ in range(4):
        addj("json_options_cell", None, True)
        addj("json_options_cell", json.dumps([c.text(2) for _ in range(4)]), True)
        addj("mixed_4_5_options", json.dumps({"A": "a1", "B": "b1", "C": "c1", "D": "d1",
                                              "E": None}), True, expect={"n_options": 4})
        addj("nan_inf", '["a", NaN, "c", "d"]', False)
        addj("nan_inf", '["a", "b", Infinity]', False)
        addj("deep_nesting", "[" * 1000 + "]" * 1000, False)
        addj("huge_int", f'["a", {HUGE}]', False)
        addj("invalid_json", '["a", "b"', False)
        addj("wrong_type", '{"A": ["x"], "B": "y"}', False)
    w.close()
    c.source("csv", w.path, jf)
    (d / "empty.csv").write_bytes(b"")
    c.source("csv", d / "empty.csv", CSV_FIELDS, allow_empty=True)
    (d / "header_only.csv").write_text(",".join(CSV_COLS) + "\r\n")
    c.source("csv", d / "header_only.csv", CSV_FIELDS, allow_empty=True)


# --- Parquet -------------------------------------------------------------------------------

def _str_col(values: list):
    """A string column that may hold invalid UTF-8 (BAD placeholders become raw bytes)."""
    import pyarrow as pa

    raw = [None if v is None else v.encode("utf-8", "surrogatepass").replace(BAD.encode(), BAD_BYTES)
           for v in values]
    b = pa.array(raw, type=pa.binary())
    return pa.Array.from_buffers(pa.string(), len(b), b.buffers(), null_count=b.null_count)


def build_parquet(c: Corpus) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = c.root / "parquet"
    d.mkdir(parents=True)

    # 1. options as a struct column A-E (nulls pad the 4-option rows)
    path, rows = d / "struct.parquet", []

    def add(cat, r, keep, fld=None, named=True, expect=None):
        rows.append(r)
        c.cases["parquet"].append(Case("parquet", cat, f"{path}:{len(rows)}", keep,
                                       r["id"] if keep or named else None, fld, expect or {}))

    def b(cat, n_opts=4, gold="B", **kw):
        r = c.base("parquet", cat, n_opts, gold)
        r["options"] = {k: r["options"].get(k) for k in "ABCDE"}
        r.update(kw)
        return r

    for it in range(5):
        add("valid", b("valid"), True)
        add("valid_5_options", b("valid5", 5, "E"), True, expect={"n_options": 5})
        add("mixed_4_5_options", b("mixed45"), True, expect={"n_options": 4})
        r = b("badutf8")
        r["question"] = f"Caf{BAD} au lait {r['question']}"
        add("invalid_utf8", r, False, "question")
        add("invalid_utf8_in_meta", b("badutf8m", exp=f"x{BAD}y"), True,
            expect={"meta_exp_has": "\ufffd"})
        add("control_chars", b("ctl", question=f"Which \x00nul\x1f us {c.text(8)}?"), True,
            expect={"q_has": "nul us"})
        add("ansi_escapes", b("ansi", question=f"Which \x1b[4munder\x1b[24m {c.text(8)}?"), True,
            expect={"q_has": "Which under"})
        r = b("rtl")
        r["options"]["D"] = "\u2067rtl isolate\u2069"
        add("rtl_bidi", r, True, expect={"option_D": "rtl isolate"})
        add("zero_width", b("zw", question=f"Zero\u200bwidth {c.text(8)}?"), True,
            expect={"q_has": "Zerowidth"})
        if it == 0:
            add("field_1mb", b("big", question="Why " + "x" * MB), False, "question")
            add("field_1mb_unmapped", b("bigu", notes="z" * MB), True)
        add("field_over_cap", b("long", question="Why " + "x" * 40_000), False, "question")
        r = b("midnull", 5)
        r["options"]["C"] = None
        add("null_option_in_middle", r, False, "options")
        add("gold_out_of_range", b("goldnull", gold="E"), False, "answer")  # E is null
        add("missing_field", b("missq", question=None), False, "question")
        add("missing_field", b("missa", gold=None), False, "answer")
        add("missing_field", b("missid", id=None), False, "id", named=False)
        bad, good = b("dupiv", question=None), b("dupiv")
        good["id"] = bad["id"]
        add("dup_id_invalid_then_valid", bad, False, "question")
        add("dup_id_invalid_then_valid", good, True)
        first, second = b("dupvv"), b("dupvv")
        second["id"] = first["id"]
        add("dup_id_valid_then_valid", first, True)
        add("dup_id_valid_then_valid", second, False, "id")
        r = b("filler", gold="D")
        r["options"]["A"] = "N/A"
        add("filler_option", r, True, expect={"n_options": 3, "answer": "C"})
        r = b("fillergold", gold="A")
        r["options"]["A"] = "n/a"
        add("filler_gold", r, False, "answer")
    struct = pa.struct([(k, pa.string()) for k in "ABCDE"])
    table = pa.table({
        "id": _str_col([r["id"] for r in rows]),
        "question": _str_col([r["question"] for r in rows]),
        "options": pa.array([r["options"] for r in rows], type=struct),
        "answer": pa.array([r["answer"] for r in rows], type=pa.string()),
        "exp": _str_col([r["exp"] for r in rows]),
        "notes": pa.array([r.get("notes") for r in rows], type=pa.string())})
    pq.write_table(table, path, row_group_size=64)
    c.source("parquet", path, JSON_FIELDS)

    # 2. options as a map column
    path, rows = d / "map.parquet", []
    for _ in range(5):
        add("map_options", b("map"), True)
        r = b("map5", 5, "E")
        add("map_options", r, True, expect={"n_options": 5})
        r = b("mapdup")
        r["options"] = [("A", "x1"), ("A", "x2"), ("B", "y")]
        add("map_duplicate_key", r, False, "options")
        r = b("mapgap", 5)
        r["options"]["B"] = None
        add("null_option_in_middle", r, False, "options")
    maps = [list(r["options"].items()) if isinstance(r["options"], dict) else r["options"]
            for r in rows]
    maps = [[(k, v) for k, v in m if v is not None or k != "E"] for m in maps]
    pq.write_table(pa.table({
        "id": pa.array([r["id"] for r in rows]), "question": pa.array([r["question"] for r in rows]),
        "options": pa.array(maps, type=pa.map_(pa.string(), pa.string())),
        "answer": pa.array([r["answer"] for r in rows]), "exp": pa.array([r["exp"] for r in rows])}),
        path)
    c.source("parquet", path, JSON_FIELDS)

    # 3. options as a list column padded with nulls, gold as float64 index0, id as int64
    path, rows = d / "list.parquet", []
    lf = {"id": "id", "question": "question", "options": "options", "answer": "answer",
          "answer_format": "index0"}
    for _ in range(5):
        r = b("list")
        r["options"], r["answer"], r["id"] = [*list(r["options"].values())[:4], None], 1.0, None
        add("list_options_trailing_null", r, True, expect={"n_options": 4, "answer": "B"})
        r = b("list")
        r["options"], r["answer"] = [*list(r["options"].values())[:2], None, "c", "d"], 0.0
        add("null_option_in_middle", r, False, "options")
        r = b("listnan")
        r["options"], r["answer"] = list(r["options"].values())[:4], math.nan
        add("nan_inf", r, False, "answer")
        r = b("listinf")
        r["options"], r["answer"] = list(r["options"].values())[:4], -math.inf
        add("nan_inf", r, False, "answer")
    for n, (r, case) in enumerate(zip(rows, c.cases["parquet"][-len(rows):])):
        r["id"] = 10_000 + n
        case.id = str(r["id"])
    pq.write_table(pa.table({
        "id": pa.array([r["id"] for r in rows], type=pa.int64()),
        "question": pa.array([r["question"] for r in rows]),
        "options": pa.array([r["options"] for r in rows], type=pa.list_(pa.string())),
        "answer": pa.array([r["answer"] for r in rows], type=pa.float64())}), path)
    c.source("parquet", path, lf)

    # 4. a wide table (one column per option, ope null for 4-option rows), gold index1
    path, rows = d / "wide.parquet", []
    wf = {"id": "id", "question": "question", "options": ["opa", "opb", "opc", "opd", "ope"],
          "answer": "cop", "answer_format": "index1", "meta": ["extra"]}
    for _ in range(5):
        add("wide_columns_4_5", b("wide", gold=2), True, expect={"n_options": 4})
        add("wide_columns_4_5", b("wide5", 5, 5), True, expect={"n_options": 5})
        r = b("widegap", 5, 1)
        r["options"]["B"] = None
        add("null_option_in_middle", r, False, "options")
        add("gold_out_of_range", b("wide7", gold=7), False, "answer")
        add("deep_nesting", b("deep", gold=1, extra=_deep_struct(40)), False, "record",
            named=False)
    pq.write_table(pa.table({
        "id": pa.array([r["id"] for r in rows]), "question": pa.array([r["question"] for r in rows]),
        **{f"op{k.lower()}": pa.array([r["options"][k] for r in rows], type=pa.string())
           for k in "ABCDE"},
        "cop": pa.array([r["answer"] for r in rows], type=pa.int64()),
        "extra": pa.array([r.get("extra") for r in rows])}), path)
    c.source("parquet", path, wf)

    path = d / "empty.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "question": pa.array([], pa.string()),
                             "options": pa.array([], struct), "answer": pa.array([], pa.string())}),
                   path)
    c.source("parquet", path, JSON_FIELDS, allow_empty=True)


def _deep_struct(depth: int) -> dict:
    v: object = 1
    for _ in range(depth):
        v = {"x": v}
    return v


BUILDERS = {"jsonl": build_jsonl, "json": build_json, "parquet": build_parquet, "csv": build_csv}


def build(root: Path, formats=FORMATS) -> Corpus:
    c = Corpus(root)
    for fmt in formats:
        BUILDERS[fmt](c)
    return c


# --- running collect and checking the outcome ------------------------------------------------

@dataclass
class Outcome:
    rc: int
    stderr: str
    questions: list[dict]
    rejects: list[dict]
    stats: dict | None


def params_file(c: Corpus, fmt: str) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["collect"].update(sources=c.sources[fmt], max_record_bytes=RECORD_CAP,
                          drop_filler_options=True)
    p = c.root / f"params_{fmt}.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return p


def bench_folder(c: Corpus) -> Path:
    """The benchmark stages' output for the default params (collect decontaminates against it)."""
    from tests.conftest import write_benchmarks

    folder = c.root / "benchmarks"
    if not folder.is_dir():
        write_benchmarks(ROOT / "params.yaml", folder)
    return folder


def _start(c: Corpus, fmt: str, repo: Path) -> subprocess.Popen:
    """`python -m stages.collect` on one format's sources, in a scratch working directory."""
    cwd = c.root / f"cwd_{fmt}"
    cwd.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "stages.collect", str(bench_folder(c)), str(c.root / f"out_{fmt}"),
         "--params", str(params_file(c, fmt))],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outcome(c: Corpus, fmt: str, proc: subprocess.Popen, timeout: int) -> Outcome:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        err += f"\n(killed after {timeout} s)"
    out = c.root / f"out_{fmt}"

    def lines(name):
        f = out / name
        return [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines()] if f.exists() else []
    stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else None
    return Outcome(proc.returncode, err, lines("questions.jsonl"), lines("rejects/rejects.jsonl"), stats)


def run(c: Corpus, fmt: str, repo: Path = ROOT, timeout: int = 600) -> Outcome:
    """The real collect stage on one format's files (a subprocess)."""
    return _outcome(c, fmt, _start(c, fmt, repo), timeout)


def run_all(c: Corpus, repo: Path = ROOT, formats=FORMATS, timeout: int = 600
            ) -> dict[str, Outcome]:
    """`run` for every format, the subprocesses side by side."""
    procs = {f: _start(c, f, repo) for f in formats}
    return {f: _outcome(c, f, p, timeout) for f, p in procs.items()}


def check(cases: list[Case], o: Outcome) -> list[str]:
    """Every difference between the labels and what collect did (empty: all as expected)."""
    errors = []
    if o.rc or "Traceback" in o.stderr:
        return [f"collect exited {o.rc}:\n{o.stderr[-3000:]}"]
    kept = {q["source_id"]: q for q in o.questions}
    by_loc = {r["location"]: r for r in o.rejects}
    for r in o.rejects:
        if not (r.get("record") and r.get("location") and r.get("field") and r.get("reason")
                and r.get("category")):
            errors.append(f"reject without record/location/field/category/reason: {r}")
        if r.get("category") == "internal":
            errors.append(f"internal error: {r}")
    for case in cases:
        if case.keep:
            q = kept.get(case.id)
            if q is None:
                rj = by_loc.get(case.loc)
                errors.append(f"{case.category} {case.id} ({case.loc}) not kept: "
                              f"{rj and (rj['field'], rj['reason'])}")
                continue
            errors += [f"{case.category} {case.id}: {e}" for e in _expect(case, q)]
        else:
            rj = by_loc.get(case.loc)
            if rj is None:
                errors.append(f"{case.category} ({case.loc}, id {case.id}) not rejected")
                continue
            if rj["record"] != (case.id or case.loc):
                errors.append(f"{case.category} {case.loc}: reject names {rj['record']!r}, "
                              f"expected {case.id or case.loc!r}")
            if case.field and rj["field"] != case.field:
                errors.append(f"{case.category} {case.loc}: reject field {rj['field']!r} "
                              f"({rj['reason']}), expected {case.field!r}")
    for q in o.questions:
        texts = [q["question"], *q["options"].values(), q.get("context") or ""]
        if any(ch in FORBIDDEN for t in texts for ch in t):
            errors.append(f"{q['source_id']}: kept text holds a control/invisible character")
    n_cases = len(cases)
    if len(o.questions) + len(o.rejects) != n_cases:
        errors.append(f"{n_cases} records, {len(o.questions)} kept + {len(o.rejects)} rejected")
    return errors


def _expect(case: Case, q: dict) -> list[str]:
    e, out = case.expect, []
    if "n_options" in e and len(q["options"]) != e["n_options"]:
        out.append(f"{len(q['options'])} options, expected {e['n_options']}")
    if "answer" in e and q["answer"] != e["answer"]:
        out.append(f"gold {q['answer']}, expected {e['answer']}")
    if "q_has" in e and e["q_has"] not in q["question"]:
        out.append(f"question {q['question'][:60]!r} lacks {e['q_has']!r}")
    for k in "ABCD":
        if f"option_{k}" in e and q["options"][k] != e[f"option_{k}"]:
            out.append(f"option {k} is {q['options'][k]!r}, expected {e[f'option_{k}']!r}")
    if "meta" in e and any(q["meta"].get(k) != v for k, v in e["meta"].items()):
        out.append(f"meta {q['meta']}, expected {e['meta']}")
    if "meta_exp_has" in e and e["meta_exp_has"] not in str(q["meta"].get("exp")):
        out.append(f"meta exp {str(q['meta'].get('exp'))[:60]!r} lacks {e['meta_exp_has']!r}")
    if "dropped" in e and q["meta"].get("_collect", {}).get("dropped_options") != e["dropped"]:
        out.append(f"provenance {q['meta'].get('_collect')}, expected dropped {e['dropped']}")
    return out


def summary(c: Corpus, outcomes: dict[str, Outcome]) -> list[dict]:
    """Per category and format: records, kept, rejected, and how many went as labelled."""
    rows: dict[tuple[str, str], dict] = {}
    for fmt, o in outcomes.items():
        kept = {q["source_id"] for q in o.questions}
        locs = {r["location"] for r in o.rejects}
        for case in c.cases[fmt]:
            row = rows.setdefault((case.category, fmt), {"category": case.category, "format": fmt,
                                                         "records": 0, "kept": 0, "rejected": 0,
                                                         "as_expected": 0})
            row["records"] += 1
            was_kept = case.keep and case.id in kept
            was_rejected = case.loc in locs
            row["kept"] += was_kept
            row["rejected"] += was_rejected
            row["as_expected"] += was_kept if case.keep else was_rejected
    return sorted(rows.values(), key=lambda r: (r["category"], FORMATS.index(r["format"])))


def table(rows: list[dict]) -> str:
    """Markdown: one line per category, kept/rejected per format."""
    cats = sorted({r["category"] for r in rows})
    cell = {(r["category"], r["format"]): r for r in rows}
    out = ["| category | " + " | ".join(f"{f} kept/rej" for f in FORMATS) + " | as labelled |",
           "|---|" + "---|" * (len(FORMATS) + 1)]
    tot = defaultdict(int)
    for cat in cats:
        cells = []
        for f in FORMATS:
            r = cell.get((cat, f))
            cells.append(f"{r['kept']}/{r['rejected']}" if r else "-")
        n = sum(r["records"] for r in rows if r["category"] == cat)
        ok = sum(r["as_expected"] for r in rows if r["category"] == cat)
        tot["n"] += n
        tot["ok"] += ok
        out.append(f"| {cat} | " + " | ".join(cells) + f" | {ok}/{n} |")
    per = []
    for f in FORMATS:
        fr = [r for r in rows if r["format"] == f]
        per.append(f"{sum(r['kept'] for r in fr)}/{sum(r['rejected'] for r in fr)}")
    out.append("| **total** | " + " | ".join(per) + f" | {tot['ok']}/{tot['n']} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=ROOT, help="code to run (default: this repo)")
    ap.add_argument("--keep", type=Path, help="build here instead of a temp dir")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = a.keep or Path(tmp)
        c = build(root)
        outcomes = run_all(c, a.repo)
        print(table(summary(c, outcomes)))
        bad = 0
        for f, o in outcomes.items():
            errs = check(c.cases[f], o)
            bad += len(errs)
            print(f"{f}: {len(c.cases[f])} records, {len(o.questions)} kept, {len(o.rejects)} "
                  f"rejected, exit {o.rc}, traceback: {'Traceback' in o.stderr}, "
                  f"{len(errs)} differences from the labels", file=sys.stderr)
            for e in errs[:10]:
                print(f"  {e[:300]}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""Source specs: where a set of records is and how its fields map onto a `Question`.

A source spec (one entry of params `collect.sources`, `benchmarks` or `external`) says where
records come from (`kind: hf` = a hub dataset id/config/split, `kind: local` = a JSONL,
JSON-list, Parquet or CSV/TSV file) and how to read them: a named `loader` for the four
ReasonMed datasets (each accepts the HF layout and the layout of the public release files:
assets/benchmarks/README.md), or a generic `fields` mapping, so a dataset in a never-seen
layout loads without code changes. CSV/TSV: a header row names the columns (or `csv_header:`
for a file without one), an empty cell is null, and an `options` column may hold a JSON list
or object. Parquet: only the columns a mapping reads are loaded.

`Checks` (params `collect.*`) caps what one record may hold: a JSONL line / CSV cell /
JSON-list element over `max_record_bytes`, or a text field (stem, option, context, gold,
meta string) over `max_field_chars`, is rejected; a JSON list is read whole, so a file over
`max_json_bytes` is refused (use JSONL); nesting deeper than `max_depth` (a record object is
depth 1) is rejected. How records are read: reasonmed/ingest/load.py.

    python -c "from reasonmed.ingest.specs import LOADERS; print(list(LOADERS))"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from pydantic import Field, PositiveInt, model_validator

from reasonmed.core.params import Section

AnswerFormat = Literal["auto", "letter", "index0", "index1", "text"]
FileFormat = Literal["auto", "jsonl", "json", "parquet", "csv", "tsv"]
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet",
           ".pq": "parquet", ".csv": "csv", ".tsv": "tsv"}
FORMAT_NAMES = [f for f in get_args(FileFormat) if f != "auto"]
PROVENANCE = "_collect"  # Question.meta key holding what collect cleaned or dropped
DEFAULT_FILLERS = ("", "-", "--", "\u2013", "\u2014", "n/a")


class Checks(Section):
    """What one record may hold (params `collect.*`; `evaluate` uses these defaults)."""

    max_field_chars: PositiveInt = 32_768  # one text field; the longest real one is ~4,700
    max_record_bytes: PositiveInt = 4 << 20  # one JSONL line, CSV cell or JSON-list element
    max_json_bytes: PositiveInt = 256 << 20  # a JSON-list file (read whole; JSONL streams)
    max_depth: PositiveInt = 32  # nesting of a raw record (the record object is depth 1)
    drop_filler_options: bool = False  # every profile sets true (docs/deviations.md)
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

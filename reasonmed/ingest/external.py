"""Other reasoning datasets, scored beside ReasonMed's three variants (params `external`).

The paper compares the score evaluator's 1-10 grade of ReasonMed with other medical
reasoning datasets (docs/method.md section 10.3). An entry of params `external` names one such
dataset -- a local file in any format collect reads, or a hub dataset -- and maps its fields:
`question` (shown to the judge as [Question]), `answer` (the final response) and optionally
`reasoning` (the chain of thought, shown before the answer, as a ReasonMed row's output holds
both) and `id`. The `external` stage (one DVC stage per entry, the file its dep) normalises it
into rows the score stage reads like a variant's; a record without a usable question or answer
is a Reject naming the record and the field; a mapped field naming a column that no record
holds stops the stage naming the column and the closest one present (reasonmed/ingest/columns.py).

    python -c "from reasonmed.ingest.external import output_of; print(output_of('why', 'B'))"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reasonmed.core.params import Section
from reasonmed.core.records import Record, Reject
from reasonmed.ingest.columns import ColumnWatch
from reasonmed.ingest.entries import EntryKind, Tally
from reasonmed.ingest.load import open_rows
from reasonmed.ingest.mapping import absent, get_path
from reasonmed.ingest.sanitize import Bad, visible
from reasonmed.ingest.specs import DEFAULT_CHECKS, Checks, FileSpec


class ExternalFields(Section):
    """Field paths (`a.b` reaches into nested objects) of one external record."""

    question: str
    answer: str
    reasoning: str | None = None
    id: str | None = None  # None: the record's position


class External(FileSpec):
    """One entry of params `external` (its name is the entry's key)."""

    fields: ExternalFields

    def columns(self) -> set[str]:
        return {p.split(".")[0] for p in self.fields.model_dump().values() if p}


class Item(Record):
    """One external record as the score stage reads it (the shape of a dataset row)."""

    id: str
    question_id: str
    instruction: str
    input: str = ""
    output: str
    source: str


def output_of(reasoning: str | None, answer: str) -> str:
    # The judge grades reasoning and answer together in the layout of a ReasonMed row's
    # output (assemble's default joiner), so the comparison is like for like.
    return f"## Thinking\n\n{reasoning}\n\n## Final Response\n\n{answer}" if reasoning else answer


def _text(rec: dict, path: str | None, field: str, checks: Checks, required: bool) -> str | None:
    v: Any = get_path(rec, path) if path else None
    if absent(v):
        if required:
            raise Bad(field, f"`{path}` is missing", "missing")
        return None
    if not isinstance(v, (str, int, float)) or isinstance(v, bool):
        raise Bad(field, f"`{path}` is a {type(v).__name__}, not text", "type")
    s = str(v).strip()
    if not s:
        if required:
            raise Bad(field, f"`{path}` is empty", "empty")
        return None
    if len(s) > checks.max_field_chars:
        raise Bad(field, f"`{path}` holds {len(s):,} characters (collect.max_field_chars is "
                          f"{checks.max_field_chars:,})", "too_large")
    return s


def read(name: str, spec: External, checks: Checks = DEFAULT_CHECKS) -> Iterator[Item | Reject]:
    """Every record of the dataset as an Item or a Reject, in file order."""
    f, seen = spec.fields, {}
    watch = ColumnWatch([("question", f.question, "required"), ("answer", f.answer, "required"),
                         *([("id", f.id, "required")] if f.id else []),
                         *([("reasoning", f.reasoning, "optional")] if f.reasoning else [])])
    for index, (loc, rec) in enumerate(open_rows(spec, checks)):
        sid = str(index)
        if isinstance(rec, dict):
            watch.see(rec)
        try:
            if isinstance(rec, Bad):  # unreadable (bad JSON, encoding, too large...)
                raise rec
            if not isinstance(rec, dict):
                raise Bad("record", f"a {type(rec).__name__}, not an object", "type")
            sid = (_text(rec, f.id, "id", checks, False) or sid) if f.id else sid
            if sid in seen:
                raise Bad("id", f"duplicate id {sid!r} (the record at {seen[sid]} has it)",
                           "duplicate_id")
            question = _text(rec, f.question, "question", checks, True)
            answer = _text(rec, f.answer, "answer", checks, True)
            reasoning = _text(rec, f.reasoning, "reasoning", checks, False)
        except Bad as e:
            yield Reject(stage="external", source=name, record=sid, location=loc, field=e.field,
                         category=e.category, reason=e.reason,
                         raw=e.raw if e.raw is not None else visible(str(rec)))
            continue
        seen[sid] = loc
        yield Item(id=sid, question_id=sid, instruction=question,
                   output=output_of(reasoning, answer), source=name)
    watch.finish(f"external dataset '{name}' ({spec.path or spec.dataset})")


def _stats(name: str, spec: External, t: Tally) -> dict:
    if not t.kept:
        counts = {f"rejected: {k}": v for k, v in t.reject_fields.items()}  # in file order
        raise SystemExit(f"external dataset '{name}' ({spec.path or spec.dataset}): no usable "
                         f"record ({counts or 'the file is empty'}); check its `fields:`")
    rejected = dict(sorted(t.reject_fields.items()))
    return {"dataset": name, "rows": sum(t.kept.values()), "rejected": sum(rejected.values()),
            "reject_fields": rejected}


# The external stage (one per entry): reasonmed/ingest/entries.py
KIND = EntryKind(section="external", job="external", what="external reasoning dataset",
                 spec=External, rows=read, stats=_stats)

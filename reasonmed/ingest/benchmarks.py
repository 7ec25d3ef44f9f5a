"""The evaluation benchmarks: one list (params `benchmarks`) feeding both evaluation and the
decontamination of the training questions.

Each entry is a source spec (reasonmed/ingest/specs.py: a local file or a hub dataset, a named
loader or a field mapping) plus how it is reported: `subject` splits it into result columns
(a Question.meta key, e.g. MMLU's `subject`, or a rule that derives the subject from a field
with a regex, e.g. MedExQA-style ids `"<n>_<specialty>"`), and `limit` caps the items per
column the evaluation draws (a seeded, content-keyed sample). The `benchmark` stage (one per
entry, so a benchmark added in params alone gets its own DVC stage with its file as a dep)
normalises each into data/benchmarks/<name>.jsonl, the stamped subject in `meta.subject`;
collect decontaminates against all of them and evaluate evaluates all of them.

    python -c "import reasonmed.ingest.benchmarks as m; print(m.SubjectRule(key='id', regex='_(.+)$'))"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import PositiveInt, model_validator

from reasonmed.core.params import Section
from reasonmed.core.records import Question, Reject, read_jsonl
from reasonmed.ingest.entries import EntryKind, Tally
from reasonmed.ingest.load import load_source, require_valid
from reasonmed.ingest.specs import DEFAULT_CHECKS, Checks, SourceSpec

SUBJECT = "subject"  # the meta key the benchmark stage stamps (by the entry's rule)
COLUMN = "column"  # the meta key holding the result column: `name` or `name/<subject>`


class SubjectRule(Section):
    """Where an item's subject (its result column) comes from.

    key: a Question field (`source_id`, `id`, `source`) or a meta key; regex: optional, the
    subject is its group `group` (no match: the item's subject is `unknown`).
    """

    key: str
    regex: str | None = None
    group: PositiveInt = 1

    @model_validator(mode="after")
    def _compiles(self) -> SubjectRule:
        if self.regex is not None:
            try:
                rx = re.compile(self.regex)
            except re.error as e:
                raise ValueError(f"subject.regex {self.regex!r} does not compile: {e}") from None
            if rx.groups < self.group:
                raise ValueError(f"subject.regex {self.regex!r} has no group {self.group}")
        return self


class Benchmark(SourceSpec):
    """One entry of params `benchmarks` (its name is the entry's key)."""

    subject: str | SubjectRule | None = None  # a meta key, or a rule; None: one column
    limit: PositiveInt | None = None  # items per column the evaluation draws; None: all

    @model_validator(mode="after")
    def _dep(self) -> Benchmark:
        # dvc.yaml's foreach makes `path` the entry's dep: a hub benchmark names params.yaml
        if self.kind == "hf" and not self.path:
            raise ValueError(f"benchmark '{self.source}': kind hf also needs `path: params.yaml` "
                             "(dvc.yaml tracks each benchmark's `path`; a hub one is pinned by "
                             "its `revision` in params)")
        return self

    def rule(self) -> SubjectRule | None:
        return SubjectRule(key=self.subject) if isinstance(self.subject, str) else self.subject


def subject_of(rule: SubjectRule | None, q: Question) -> str | None:
    if rule is None:
        return None
    v = getattr(q, rule.key, None) if rule.key in Question.model_fields else q.meta.get(rule.key)
    if v is None:
        return "unknown"
    v = str(v)
    if rule.regex is None:
        return v
    m = re.search(rule.regex, v)
    return m.group(rule.group) if m else "unknown"


def stamp(records: Iterable[Question | Reject], rule: SubjectRule | None,
          name: str) -> Iterator[Question | Reject]:
    """Questions with `meta.benchmark` = `name`, `meta.subject` set by `rule` and the result
    column in `meta.column` (a loader's own `subject` meta splits nothing without a rule)."""
    for r in records:
        if isinstance(r, Question):
            meta = {**r.meta, "benchmark": name, COLUMN: name}
            if rule is not None:
                meta[SUBJECT] = subject_of(rule, r)
                meta[COLUMN] = f"{name}/{meta[SUBJECT]}"
            yield r.model_copy(update={"meta": meta})
        else:
            yield r


def column_of(name: str, q: Question) -> str:
    """The result column of a stamped benchmark question: `name` or `name/<subject>`."""
    return q.meta.get(COLUMN) or name


def path_of(folder: Path | str, name: str) -> Path:
    return Path(folder) / f"{name}.jsonl"


def read(folder: Path | str, name: str) -> Iterator[Question]:
    """A normalised benchmark (the benchmark stage's output)."""
    path = path_of(folder, name)
    if not path.is_file():
        raise SystemExit(f"benchmark '{name}': {path} is missing: the benchmark stage writes it "
                         f"(dvc repro benchmark@{name})")
    return read_jsonl(path, Question)


def normalise(name: str, spec: Benchmark, checks: Checks = DEFAULT_CHECKS) -> Iterator[Question | Reject]:
    """The benchmark's records, read with collect's checks, questions stamped with their
    result column; a benchmark without one valid record stops the stage once read."""
    return stamp(require_valid(spec, load_source(spec, checks), "benchmark"), spec.rule(), name)


def _stats(name: str, spec: Benchmark, t: Tally) -> dict:
    return {"benchmark": name, "items": sum(t.kept.values()), "rejected": sum(t.reject_fields.values()),
            "reject_fields": dict(sorted(t.reject_fields.items())), "columns": dict(sorted(t.kept.items()))}


# The benchmark stage (one per entry): reasonmed/ingest/entries.py
KIND = EntryKind(section="benchmarks", job="benchmark", what="evaluation benchmark", spec=Benchmark,
                 rows=normalise, stats=_stats, column=lambda name, q: q.meta.get(SUBJECT) or name)

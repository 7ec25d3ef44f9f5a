"""The evaluation benchmarks: one list (params `benchmarks`) feeding both evaluation and the
decontamination of the training questions.

Each entry is a source spec (reasonmed/ingest/specs.py: a local file or a hub dataset, a named
loader or a field mapping) plus how it is reported: `subject` splits it into result columns
(a Question.meta key, e.g. MMLU's `subject`, or a rule that derives the subject from a field
with a regex, e.g. MedExQA-style ids `"<n>_<specialty>"`), and `limit` caps the items per
column the evaluation draws (a seeded, content-keyed sample). A rule that gives `unknown` (its
key absent, its regex not matching) to more than the entry's `max_unknown_subject` share of
the items (default 0.2; per entry, beside the rule it guards) stops the stage naming the
benchmark, the rule and why, instead of putting the items under `unknown`. The `benchmark`
stage (one per entry, so a benchmark added in params alone gets its own DVC stage with its
file as a dep)
normalises each into data/benchmarks/<name>.jsonl, the stamped subject in `meta.subject`;
collect decontaminates against all of them and evaluate evaluates all of them.

    python -c "import reasonmed.ingest.benchmarks as m; print(m.SubjectRule(key='id', regex='_(.+)$'))"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import Field, PositiveInt, model_validator

from reasonmed.core.params import Section, did_you_mean
from reasonmed.core.records import Question, Reject, read_jsonl
from reasonmed.ingest.entries import EntryKind, Tally
from reasonmed.ingest.load import load_source, require_valid
from reasonmed.ingest.specs import DEFAULT_CHECKS, PROVENANCE, Checks, SourceSpec

SUBJECT = "subject"  # the meta key the benchmark stage stamps (by the entry's rule)
COLUMN = "column"  # the meta key holding the result column: `name` or `name/<subject>`
UNKNOWN = "unknown"  # the subject of an item the rule cannot place
MAX_UNKNOWN = 0.2  # default share of items a subject rule may leave `unknown`


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
    # the share of items `subject` may leave `unknown` before the stage stops naming the rule
    max_unknown_subject: float = Field(default=MAX_UNKNOWN, ge=0, le=1)
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


def _subject(rule: SubjectRule, q: Question) -> tuple[str, str | None]:
    """(subject, the value when the regex did not match it; "" when the key is absent)."""
    v = getattr(q, rule.key, None) if rule.key in Question.model_fields else q.meta.get(rule.key)
    if v is None:
        return UNKNOWN, ""
    v = str(v)
    if rule.regex is None:
        return v, None
    m = re.search(rule.regex, v)
    return (m.group(rule.group), None) if m else (UNKNOWN, v)


def subject_of(rule: SubjectRule | None, q: Question) -> str | None:
    return None if rule is None else _subject(rule, q)[0]


class _Unplaced:
    """The items a subject rule could not place, and why (for the stage's error)."""

    def __init__(self):
        self.n = self.absent = 0
        self.unmatched: list[str] = []  # values the regex did not match (the first few)
        self.unmatched_n = 0
        self.meta_keys: set[str] = set()

    def add(self, q: Question, miss: str | None) -> None:
        self.n += 1
        if miss == "":
            self.absent += 1
        elif miss is not None:
            self.unmatched_n += 1
            if len(self.unmatched) < 3:
                self.unmatched.append(miss[:60])
        if len(self.meta_keys) < 200:
            self.meta_keys.update(q.meta)

    def check(self, name: str, rule: SubjectRule, limit: float) -> None:
        unknown = self.absent + self.unmatched_n
        if not self.n or unknown <= limit * self.n:
            return
        why = []
        if self.absent:
            known = sorted(self.meta_keys - {"benchmark", COLUMN, PROVENANCE})
            where = ("a Question field" if rule.key in Question.model_fields else
                     f"a meta key (the items' meta keys: {', '.join(known) or 'none'})")
            near = did_you_mean(rule.key, set(known) | set(Question.model_fields))
            why.append(f"key '{rule.key}' is absent from {self.absent} items{near}; it is read "
                       f"as {where}")
        if self.unmatched_n:
            why.append(f"regex '{rule.regex}' matches none of {self.unmatched_n} values "
                       f"(e.g. {', '.join(map(repr, self.unmatched))})")
        rule_text = "{" + ", ".join(f"{k}: {v}" for k, v in rule.model_dump(
            exclude_defaults=True).items()) + "}"  # as params write it
        raise SystemExit(
            f"benchmark '{name}': its subject rule {rule_text} gives `{UNKNOWN}` to {unknown} of "
            f"{self.n} items, over benchmarks.{name}.max_unknown_subject ({limit}): "
            + "; ".join(why) + ". Fix `subject:` (or raise max_unknown_subject)")


def stamp(records: Iterable[Question | Reject], rule: SubjectRule | None, name: str,
          max_unknown: float = MAX_UNKNOWN) -> Iterator[Question | Reject]:
    """Questions with `meta.benchmark` = `name`, `meta.subject` set by `rule` and the result
    column in `meta.column` (a loader's own `subject` meta splits nothing without a rule).
    Once exhausted, stops the stage when the rule left over `max_unknown` of them unplaced."""
    unplaced = _Unplaced()
    for r in records:
        if isinstance(r, Question):
            meta = {**r.meta, "benchmark": name, COLUMN: name}
            if rule is not None:
                meta[SUBJECT], miss = _subject(rule, r)
                unplaced.add(r, miss)
                meta[COLUMN] = f"{name}/{meta[SUBJECT]}"
            yield r.model_copy(update={"meta": meta})
        else:
            yield r
    if rule is not None:
        unplaced.check(name, rule, max_unknown)


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
    return stamp(require_valid(spec, load_source(spec, checks), "benchmark"), spec.rule(), name,
                 spec.max_unknown_subject)


def _stats(name: str, spec: Benchmark, t: Tally) -> dict:
    return {"benchmark": name, "items": sum(t.kept.values()), "rejected": sum(t.reject_fields.values()),
            "reject_fields": dict(sorted(t.reject_fields.items())), "columns": dict(sorted(t.kept.items()))}


# The benchmark stage (one per entry): reasonmed/ingest/entries.py
KIND = EntryKind(section="benchmarks", job="benchmark", what="evaluation benchmark", spec=Benchmark,
                 rows=normalise, stats=_stats, column=lambda name, q: q.meta.get(SUBJECT) or name)

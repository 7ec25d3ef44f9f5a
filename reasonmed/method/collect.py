"""Collect (method step S0, docs/method.md section 2): raw MCQs from every configured
source -> validated, deduplicated, decontaminated.

Reads the sources in params `collect.sources` (HF hub datasets, local JSONL/JSON/Parquet/CSV,
the shipped sample; see reasonmed/ingest/specs.py and reasonmed/ingest/load.py), then per
record, in source order and file order:
  1. validate      malformed -> rejects/rejects.jsonl (record, field, category, reason), never a
                   traceback; caps and cleaning in params `collect.max_*` and
                   `collect.drop_filler_options`. A source or eval set with no valid record
                   stops the stage naming it and its top reject reasons (unless `allow_empty`)
  2. decontaminate holds an item of the evaluation benchmarks (params `benchmarks`, normalised
                   by the benchmark stage into data/benchmarks/) by one of three forms:
                   10-grams of its question, of its question + options, or the overlap of
                   the whole text (reasonmed/method/decontaminate.py) -> removed, and a
                   reject (category `contaminated`) naming the benchmark item and the form
  3. deduplicate   same question id (exact) or MinHash-LSH Jaccard >= threshold (near)
                   against the questions kept so far -> removed; the first one stays
The stage writes OUT/questions.jsonl, OUT/rejects/rejects.jsonl, OUT/report.json (every removed
record with the record that caused it) and OUT/stats.json (per source: in == kept + rejected
+ duplicate + contaminated; rejects by "field: category"; characters cleaned and filler
options dropped; per benchmark, the questions it removed by form).

    python -c "from reasonmed.method.collect import OUTCOMES; print(OUTCOMES)"
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reasonmed.core.params import Section, read_params, trace
from reasonmed.core.records import Question, Reject, normalise_text
from reasonmed.ingest import benchmarks
from reasonmed.ingest.load import load_source, require_valid
from reasonmed.ingest.specs import PROVENANCE, Checks, SourceSpec
from reasonmed.method.decontaminate import Decontaminate, Decontaminator, item_words

# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("total.in", "total.kept", "total.rejected", "total.duplicate", "total.contaminated",
            "decontamination.by_form")


class Dedup(Section):
    threshold: float  # estimated Jaccard at or above which two questions are near duplicates
    num_perm: int  # MinHash permutations (signature length)
    shingle: int  # words per shingle


class Params(Checks):  # + the record checks: max_field_chars, max_depth, drop_filler_options...
    sources: list[SourceSpec]
    dedup: Dedup
    decontaminate: Decontaminate


# --- near-duplicate detection -----------------------------------------------------------


class NearDedup:
    """MinHash LSH over word shingles of the kept questions (datasketch)."""

    def __init__(self, p: Dedup):
        from datasketch import MinHash, MinHashLSH  # imported here: pure helpers stay light

        self.p, self.sigs = p, []
        self.lsh = MinHashLSH(threshold=p.threshold, num_perm=p.num_perm)
        self.empty = MinHash(num_perm=p.num_perm, seed=1)  # fixed seed: same LSH every run

    def signature(self, words: list[str]):
        k = min(self.p.shingle, max(len(words), 1))
        m = self.empty.copy()  # copying skips drawing the permutations again (~200 us)
        m.update_batch([" ".join(words[i:i + k]).encode() for i in range(len(words) - k + 1)])
        return m

    def match(self, m) -> tuple[int, float] | None:
        """(key of the most similar kept question, estimated Jaccard) at/over threshold."""
        best = None
        for key in sorted(self.lsh.query(m)):  # sorted: ties go to the earliest kept
            sim = float(np.mean(self.sigs[key] == m.hashvalues))
            if sim >= self.p.threshold and (best is None or sim > best[1]):
                best = (key, sim)
        return best

    def add(self, key: int, m) -> None:
        assert key == len(self.sigs)
        self.sigs.append(m.hashvalues)
        self.lsh.insert(key, m)


# --- the step -----------------------------------------------------------------------------

OUTCOMES = ("kept", "rejected", "duplicate", "contaminated")


@dataclass
class Collected:
    questions: list[Question] = field(default_factory=list)  # empty when a sink was given
    rejects: list[Reject] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


def _ref(q: Question) -> dict:
    return {"id": q.id, "source": q.source, "source_id": q.source_id}


def _same_gold(a: Question, b: dict) -> bool:
    return normalise_text(a.answer_text) == b["answer"]


def run(records: Iterable[Question | Reject], evals: Iterable[Question | Reject], p: Params,
        sink: Callable[[Question | Reject], None] | None = None) -> Collected:
    """Filter records in order; each kept question or reject goes to `sink` (or the result)."""
    out = Collected()
    sink = sink or (lambda r: (out.questions if isinstance(r, Question) else out.rejects).append(r))
    eval_counts: dict[str, Counter] = defaultdict(Counter)
    eval_reasons: dict[str, Counter] = defaultdict(Counter)

    def eval_questions() -> Iterable[Question]:
        for e in evals:
            eval_counts[e.source]["rejected" if isinstance(e, Reject) else "items"] += 1
            if isinstance(e, Question):
                yield e
            else:
                eval_reasons[e.source][f"{e.field}: {e.category or 'other'}"] += 1

    dec = Decontaminator(eval_questions(), p.decontaminate)
    near = NearDedup(p.dedup)
    kept: list[dict] = []  # refs of kept questions; position = LSH key
    kept_pos: dict[str, int] = {}  # question id -> position in kept
    counts: dict[str, Counter] = defaultdict(Counter)
    reasons: dict[str, Counter] = defaultdict(Counter)  # source -> "field: category" -> n
    cleaned: dict[str, Counter] = defaultdict(Counter)  # source -> what cleaning changed
    dups, contaminated = [], []
    for r in records:
        c = counts[r.source]
        c["in"] += 1
        if isinstance(r, Reject):
            c["rejected"] += 1
            reasons[r.source][f"{r.field}: {r.category or 'other'}"] += 1
            sink(r)
            continue
        if (prov := r.meta.get(PROVENANCE)) is not None:
            cleaned[r.source].update(prov.get("cleaned", {}))
            if prov.get("dropped_options"):
                cleaned[r.source]["questions_with_filler_dropped"] += 1
                cleaned[r.source]["filler_options_dropped"] += len(prov["dropped_options"])
        words = item_words(r)
        if (hit := dec.match(r, words)) is not None:
            c["contaminated"] += 1
            contaminated.append({**_ref(r), "eval_set": hit.benchmark,
                                 "eval_source_id": hit.eval_source_id, "eval_id": hit.eval_id,
                                 "form": hit.form, "score": round(hit.score, 4),
                                 "shared": hit.shared})
            sink(hit.reject(r, p.decontaminate))
            continue
        m, hit = None, None
        if r.id in kept_pos:
            hit = (kept_pos[r.id], 1.0, "exact")
        else:
            m = near.signature(words)
            if (h := near.match(m)) is not None:
                hit = (*h, "near")
        if hit is not None:
            c["duplicate"] += 1
            c["duplicate_near"] += hit[2] == "near"
            k = kept[hit[0]]
            dups.append({**_ref(r), "kind": hit[2], "kept_id": k["id"], "kept_source": k["source"],
                         "kept_source_id": k["source_id"], "similarity": round(hit[1], 4),
                         "same_gold": _same_gold(r, k)})  # False: upstream labels disagree
            continue
        kept_pos[r.id] = len(kept)
        near.add(len(kept), m)
        kept.append({**_ref(r), "answer": normalise_text(r.answer_text)})
        c["kept"] += 1
        sink(r)

    keys = ("in", *OUTCOMES, "duplicate_near")
    per_source = {s: {k: c[k] for k in keys} for s, c in counts.items()}
    total = {k: sum(s[k] for s in per_source.values()) for k in keys}
    for s, c in per_source.items():  # the accounting the stats promise
        assert c["in"] == sum(c[k] for k in OUTCOMES), (s, c)
    out.report = {"per_source": per_source, "duplicates": dups, "contaminated": contaminated}
    out.stats = {
        "stage": "collect", "sources": per_source, "total": total,
        "reject_reasons": {s: dict(sorted(c.items())) for s, c in sorted(reasons.items())},
        "cleaned": {s: dict(sorted(c.items())) for s, c in sorted(cleaned.items())},
        "eval_sets": {s: {"items": c["items"], "rejected": c["rejected"]}
                      for s, c in eval_counts.items()},
        "decontamination": dec.stats({s: c["items"] for s, c in eval_counts.items()})}
    if eval_reasons:
        out.stats["eval_reject_reasons"] = {s: dict(sorted(c.items()))
                                            for s, c in sorted(eval_reasons.items())}
    return out


def open_inputs(p: Params, params_path: str, bench_folder: str | Path
                ) -> tuple[Iterator[Question | Reject], Iterator[Question | Reject]]:
    """(every source's records, every benchmark's questions) for `run`. Opens every file now,
    so bad paths fail first; a source with no valid record stops the stage once read
    (before anything is renamed into place)."""
    sources = [require_valid(s, load_source(s, p)) for s in p.sources]
    names = list(read_params(params_path).get("benchmarks") or {})
    trace("benchmarks")
    if not names:
        raise SystemExit(f"{params_path}: `benchmarks` is empty: nothing to decontaminate against")
    evals = [benchmarks.read(bench_folder, n) for n in names]
    return itertools.chain(*sources), itertools.chain(*evals)

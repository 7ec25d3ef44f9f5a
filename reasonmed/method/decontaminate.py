"""Decontamination (part of collect, docs/method.md section 2): a training question that holds
an evaluation benchmark's item is removed. Three tests, each a *form*, tried in this order:

  question          >= `coverage` of the benchmark item's stem word n-grams (`ngram`, 10)
                    are in the training question: II-Medical's first form, the question alone
  question_options  the same for the item's stem + options in the evaluation's `A. text`
                    layout (II-Medical's second form). The options are sorted by text and
                    relettered on both sides, so a copy with its options reordered has the
                    same n-grams; only n-grams holding a stem word count (an options block
                    alone names an options set many questions share -- "A. anaplastic
                    carcinoma B. follicular carcinoma ..." -- not a question)
  overlap           >= `threshold` of the training question's own `overlap_ngram`-grams
                    (context, stem, sorted options; a text shorter than that is one whole
                    gram) are in one benchmark item: the project's earlier test, which also
                    sees a copied PubMedQA abstract and short exact copies

The training side of the first two is everything a reader sees: context, stem and the
options block built the same way. A text shorter than `ngram` words has no n-gram (as in
II-Medical), so a short stem never matches by the first form.

Deviation (docs/deviations.md): II-Medical's evaluation repository removes a question on ANY
one shared 10-gram. Measured on the shipped benchmarks, half of each against the other half
(no item in common), that rule flags 678 of 3,524 items (19%), nearly all by USMLE phrasing
("which of the following is the most appropriate next step in management", 108 MedQA items
hold it); a share of the benchmark item's n-grams (`coverage`, 0.5) flags 96 (2.7%), mostly
MedMCQA's own repeated questions. `coverage: 0` is II-Medical's any-one-n-gram rule.

    python -c "from reasonmed.method.decontaminate import ngrams; print(ngrams('a b c d'.split(), 3))"
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from pydantic import Field, PositiveInt

from reasonmed.core.params import Section
from reasonmed.core.records import LETTERS, Question, Reject, normalise_text
from reasonmed.ingest.sanitize import visible

FORMS = ("question", "question_options", "overlap")


class Decontaminate(Section):
    # against every benchmark of params `benchmarks` (data/benchmarks/, the benchmark stage)
    ngram: PositiveInt  # words per n-gram of the `question` and `question_options` forms
    coverage: float = Field(ge=0, le=1)  # share of a benchmark item's n-grams; 0: any one
    overlap_ngram: PositiveInt  # words per n-gram of the `overlap` form
    threshold: float = Field(ge=0, le=1)  # `overlap`: share of the question's own n-grams


# --- text ------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return re.findall(r"\w+", normalise_text(text))


def item_words(q: Question) -> list[str]:
    """Words of everything a reader sees: context (PubMedQA abstract), stem, options.

    Options go in sorted order, so a copy with shuffled options still matches: with the
    file order only 24% of option-shuffled MedMCQA dev copies reach the 0.5 overlap, sorted
    100%."""
    opts = sorted(normalise_text(o) for o in q.options.values())
    return words(" ".join([q.context or "", q.question, *opts]))


def options_block(q: Question) -> str:
    """The options as the evaluation shows them (`A. text` lines), sorted by text and
    relettered: the same block whatever order a copy lists them in."""
    opts = sorted(q.options.values(), key=lambda t: (normalise_text(t), t))
    return "\n".join(f"{LETTERS[i]}. {t}" for i, t in enumerate(opts))


def ngrams(words: list[str], n: int) -> list[str]:
    """The n-grams of `words`; a shorter text is one whole gram (the `overlap` form)."""
    if len(words) < n:
        return [" ".join(words)] if words else []
    return [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


def _hashes(grams: Iterable[str]) -> np.ndarray:
    # Python's str hash is 64-bit and stable within one process, which is all we need:
    # eval and candidate grams are hashed by the same process.
    return np.unique(np.fromiter((hash(g) for g in grams), dtype=np.int64))


def gram_hashes(words: list[str], n: int) -> np.ndarray:
    return _hashes(ngrams(words, n))


def strict_hashes(words: list[str], n: int, starts: int | None = None) -> np.ndarray:
    """Hashes of the n-grams starting before word `starts` (all when None); none when the
    text is shorter than n (II-Medical's rule)."""
    last = len(words) - n + 1 if starts is None else min(starts, len(words) - n + 1)
    return _hashes(" ".join(words[i:i + n]) for i in range(max(last, 0)))


# --- the indexes -----------------------------------------------------------------------


class EvalIndex:
    """The `overlap` form: hashed word n-grams of the evaluation sets, as a sorted int64 array
    plus the index of the eval item that first owns each gram: 12 bytes a gram (a Python set
    of ints costs ~70), so the four test sets (7,045 items, ~390k grams) take ~5 MB, and a
    lookup is one vectorised searchsorted."""

    def __init__(self, evals: Iterable[Question], n: int):
        self.n, self.items = n, []  # items: (source, source_id, question id)
        hashes, owners = array("q"), array("i")
        for q in evals:
            h = gram_hashes(item_words(q), n)
            hashes.extend(h.tolist())
            owners.extend([len(self.items)] * len(h))
            self.items.append((q.source, q.source_id, q.id))
        h, o = np.frombuffer(hashes, np.int64), np.frombuffer(owners, np.int32)
        order = np.argsort(h, kind="stable")  # stable: the first owner of a gram wins
        h, o = h[order], o[order]
        first = np.ones(len(h), bool)
        first[1:] = h[1:] != h[:-1]
        self.hashes, self.owners = h[first], o[first]

    def match(self, words: list[str]) -> tuple[float, tuple[str, str | None, str] | None]:
        """(fraction of the n-grams of `words` found, the eval item owning most of them)."""
        g = gram_hashes(words, self.n)
        if not len(g) or not len(self.hashes):
            return 0.0, None
        pos = np.minimum(np.searchsorted(self.hashes, g), len(self.hashes) - 1)
        found = self.hashes[pos] == g
        if not found.any():
            return 0.0, None
        best = np.bincount(self.owners[pos[found]]).argmax()  # ties: the earliest eval item
        return float(found.mean()), self.items[best]


class CoverageIndex:
    """One form of every benchmark item: every (n-gram hash, item) pair sorted by hash, and
    each item's number of distinct n-grams, so a lookup gives every item sharing a gram and
    the share of that item's grams the question holds (a phrase many items share counts for
    each, and is a small share of each)."""

    def __init__(self):
        self._h, self._o, self._sizes = array("q"), array("i"), array("i")

    def add(self, hashes: np.ndarray) -> None:
        """The next item's distinct n-gram hashes (items are numbered in the order added)."""
        self._h.extend(hashes.tolist())
        self._o.extend([len(self._sizes)] * len(hashes))
        self._sizes.append(len(hashes))

    def freeze(self) -> CoverageIndex:
        h, o = np.frombuffer(self._h, np.int64), np.frombuffer(self._o, np.int32)
        order = np.argsort(h, kind="stable")
        self.hashes, self.owners = h[order], o[order]
        self.sizes = np.frombuffer(self._sizes, np.int32).astype(np.int64)
        return self

    def match(self, g: np.ndarray) -> tuple[float, int, int] | None:
        """(coverage, shared grams, item) of the item whose grams `g` (distinct hashes) covers
        most; ties: more shared grams, then the earliest item. None when nothing is shared."""
        if not len(g) or not len(self.hashes):
            return None
        lo = np.searchsorted(self.hashes, g, "left")
        n = np.searchsorted(self.hashes, g, "right") - lo
        lo, n = lo[n > 0], n[n > 0]
        if not len(n):
            return None
        run_start = np.cumsum(n) - n  # where each gram's run of owners starts in `pos`
        pos = np.repeat(lo - run_start, n) + np.arange(int(n.sum()))
        items, shared = np.unique(self.owners[pos], return_counts=True)
        cover = shared / self.sizes[items]
        best = np.lexsort((items, -shared, -cover))[0]
        return float(cover[best]), int(shared[best]), int(items[best])


# --- the test ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    form: str  # one of FORMS
    benchmark: str
    eval_source_id: str | None
    eval_id: str
    score: float  # coverage of the item's n-grams, or (overlap) share of the question's
    shared: int | None  # n-grams shared (None for `overlap`)

    def reject(self, q: Question, p: Decontaminate) -> Reject:
        """The removed question as a collect reject naming the benchmark item and the form."""
        what = (f"it holds {self.shared} of the item's {p.ngram}-grams ({self.score:.0%})"
                if self.shared is not None else
                f"{self.score:.0%} of its {p.overlap_ngram}-grams are the item's")
        return Reject(stage="collect", source=q.source, record=q.source_id or q.id,
                      field="question", category="contaminated",
                      reason=f"benchmark '{self.benchmark}' item {self.eval_source_id} (question "
                             f"{self.eval_id}), form {self.form}: {what}",
                      raw=visible(q.question))


class Decontaminator:
    """The three forms' indexes over the benchmark items, built in one pass."""

    def __init__(self, evals: Iterable[Question], p: Decontaminate):
        self.p = p
        self.forms = {"question": CoverageIndex(), "question_options": CoverageIndex()}
        self.tally: dict[str, Counter] = {}  # benchmark -> form -> questions removed

        def feed() -> Iterable[Question]:
            for q in evals:
                stem = words(q.question)
                self.forms["question"].add(strict_hashes(stem, p.ngram))
                joined = words(q.question + "\n" + options_block(q))
                self.forms["question_options"].add(strict_hashes(joined, p.ngram, len(stem)))
                self.tally.setdefault(q.source, Counter())
                yield q
        self.overlap = EvalIndex(feed(), p.overlap_ngram)
        for ix in self.forms.values():
            ix.freeze()

    def match(self, q: Question, item_w: list[str]) -> Hit | None:
        """The first form by which `q` holds a benchmark item (`item_w`: item_words(q))."""
        items = self.overlap.items
        g = strict_hashes(words("\n".join([q.context or "", q.question, options_block(q)])),
                          self.p.ngram)
        hit = None
        for form, ix in self.forms.items():
            m = ix.match(g)
            if m is not None and m[0] >= self.p.coverage:
                src, sid, qid = items[m[2]]
                hit = Hit(form, src, sid, qid, m[0], m[1])
                break
        if hit is None:
            share, item = self.overlap.match(item_w)
            if item is None or share < self.p.threshold:
                return None
            hit = Hit("overlap", item[0], item[1], item[2], share, None)
        self.tally.setdefault(hit.benchmark, Counter())[hit.form] += 1
        return hit

    def stats(self, items: dict[str, int]) -> dict:
        """Per benchmark: its items and the training questions it removed, by form."""
        by = {b: {"items": items.get(b, 0), **{f: c[f] for f in FORMS}, "removed": sum(c.values())}
              for b, c in self.tally.items()}
        return {"ngram": self.p.ngram, "coverage": self.p.coverage,
                "overlap_ngram": self.p.overlap_ngram, "threshold": self.p.threshold,
                "by_form": {f: sum(b[f] for b in by.values()) for f in FORMS},
                "by_benchmark": by,
                "index_ngrams": {"question": len(self.forms["question"].hashes),
                                 "question_options": len(self.forms["question_options"].hashes),
                                 "overlap": len(self.overlap.hashes)}}

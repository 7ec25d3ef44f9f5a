"""Robustness slices of evaluate: the clean run's items asked again, changed one way each,
and compared with the clean answers on the same items (paired bootstrap, McNemar).

Each slice is a params switch under `evaluate.robustness`; it runs on the items of the clean
run (at most `limit` per column: the first of each column's seeded order, so a subset of the
clean items), each request seeded by the item and the slice name and cached like any other.

  permute_<j>    (`permutations: k`, j = 1..k) the item's option texts in the j-th seeded
                 order (never the original one; k distinct orders where the options allow),
                 the gold letter remapped to where its text went. Read by strict. Also
                 `consistency`: the share of items answered with the same option *text* in
                 all k+1 orders (an order strict reads no answer in counts as inconsistent).
  prefill_wrong  (`prefill_wrong: true`) a seeded wrong option's one-sentence justification
                 opens the model's reasoning. The project's LLM layer has no assistant-turn
                 prefill (every backend renders an open assistant turn after the messages), so
                 the sentence goes at the END OF THE USER TURN, as the reasoning the reply must
                 start from: a weaker push than a true prefill (docs/deviations.md). Read by
                 strict; `adopted_wrong`: the share of items answered with the pre-filled letter.
  format_<name>  (`formats: [...]`) the strict closing request replaced by another answer
                 format: `text` (the option's text only, read by content matching), `json`
                 ({"answer": "X"}), `letter` (the letter only). Read by the format's reader,
                 else by strict (`followed`: the share the format's own reader read).

    python -c "from reasonmed.method.robustness import read_format; print(read_format('letter', '(B)', 'AB'))"
"""

from __future__ import annotations

import itertools
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from itertools import islice

import numpy as np

from reasonmed.core.failures import Failures
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.records import Question, Record
from reasonmed.core.seeds import path_seed
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Request
from reasonmed.method import answers
from reasonmed.method.bootstrap import interval, paired, resample_means
from reasonmed.method.evaluate import Item, Params, Prediction, request_for, shuffle_key
from reasonmed.method.judging import ParseError, json_objects

# The closing request of each answer format (in place of the strict prompt's).
FORMATS = {
    "text": "Answer with the option text only, exactly as written, without its letter.",
    "json": 'Reply with JSON only: {"answer": "X"}, where X is the letter of the option you choose.',
    "letter": "Reply with the letter of the option you choose only.",
}
PREFILL = ("Start your reasoning with the sentence below and continue from it.\n\n"
           "{sentence}")
JUSTIFY = "The findings point most directly to {text}, so the answer is {letter}."


class SliceRow(Record):
    """One item asked in one slice (robustness.jsonl)."""

    slice: str
    benchmark: str
    column: str
    question_id: str
    order: str  # the original letters in the slice's option order ("CABD": new A = old C)
    gold: str  # in the slice's letters
    prefill: str | None  # the pre-filled (wrong) letter
    output: str
    finish_reason: str
    answer: str | None  # the letter read (format slices: the format's reader, else strict)
    answer_text: str | None  # the option text of that letter
    followed: bool  # the format's own reader read it (always True outside format slices)
    correct: bool
    seed: int


# --- the slices' items and requests (pure) --------------------------------------------------


def subset(items: Sequence[Item], limit: int | None, seed: int) -> list[Item]:
    """At most `limit` items per column (the first of each column's seeded order, as
    evaluate's sampling orders them), in the items' order."""
    if limit is None:
        return list(items)
    by_col: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_col[it[1]].append(i)
    keep = {i for rows in by_col.values()
            for i in sorted(rows, key=lambda i: (shuffle_key(seed, items[i][2]), i))[:limit]}
    return [it for i, it in enumerate(items) if i in keep]


def orders(q: Question, k: int, run_seed: int) -> list[str]:
    """k seeded orders of the item's letters, none the original; distinct while the option
    count allows (3 options have 5 other orders), then repeated in turn."""
    letters = list(q.options)
    rng = random.Random(path_seed(run_seed, f"evaluate/permute/{q.id}"))
    if len(letters) <= 6:
        others = ["".join(o) for o in itertools.permutations(letters)][1:]
        rng.shuffle(others)
    else:  # 5,040+ orders: draw distinct shuffles
        seen, others = {"".join(letters)}, []
        while len(others) < k:
            o = "".join(rng.sample(letters, len(letters)))
            if o not in seen:
                seen.add(o)
                others.append(o)
    return [others[j % len(others)] for j in range(k)] if others else []


def permute(q: Question, order: str) -> Question:
    """q with its option texts in `order` (the original letters, in the new positions)."""
    opts = {new: q.options[old] for new, old in zip(q.options, order)}
    return q.model_copy(update={"options": opts, "answer": "".join(q.options)[order.index(q.answer)]})


def wrong_letter(q: Question, run_seed: int) -> str:
    rng = random.Random(path_seed(run_seed, f"evaluate/prefill/{q.id}"))
    return rng.choice([x for x in q.options if x != q.answer])


def prefill_request(q: Question, p: Params, seed: int, letter: str) -> Request:
    req = request_for(q, p, seed)
    sentence = JUSTIFY.format(text=q.options[letter], letter=letter)
    user = req.messages[-1][1] + "\n\n" + PREFILL.format(sentence=sentence)
    return Request.chat(None, user, temperature=p.temperature, top_p=p.top_p,
                        max_tokens=p.max_tokens, seed=seed)


def format_request(q: Question, p: Params, seed: int, fmt: str) -> Request:
    _, user = load_prompt(p.prompt).render(question=q.question, context=q.context,
                                           options=format_options(q.options), strict=False)
    return Request.chat(None, user + "\n\n" + FORMATS[fmt], temperature=p.temperature,
                        top_p=p.top_p, max_tokens=p.max_tokens, seed=seed)


# --- reading the format slices (pure) --------------------------------------------------------

_THINK = re.compile(r"</think>|^#+\s*final response\s*$", re.IGNORECASE | re.MULTILINE)


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[*_`\"'“”]", "", s).strip().strip(".:;,!").split()).lower()


def _region(text: str) -> str:
    parts = _THINK.split(text)
    return parts[-1] if len(parts) > 1 else text


def read_format(fmt: str, text: str, options: dict[str, str]) -> str | None:
    """The letter an output gives in format `fmt`, or None when it is not in that format."""
    region = _region(text).strip()
    if fmt == "text":
        by_text = {_norm(v): k for k, v in options.items()}
        if len(by_text) < len(options):
            return None  # two options with the same text: content cannot tell them apart
        lines = [ln for ln in region.splitlines() if ln.strip()]
        for cand in ([region] + lines[-1:]) if lines else []:
            if _norm(cand) in by_text:
                return by_text[_norm(cand)]
        return None
    if fmt == "json":
        try:
            objs = [o for o in json_objects(region) if "answer" in o]
        except ParseError:
            return None
        vals = [o["answer"] for o in objs]
        if not vals or not all(isinstance(v, str) for v in vals):
            return None
        got = {v.strip().strip("()").upper() for v in vals}
        return got.pop() if len(got) == 1 and next(iter(got)) in options else None
    if fmt == "letter":
        m = re.fullmatch(r"[(\[*\s]*([A-Za-z])[)\].:*\s]*", region)
        return m.group(1).upper() if m and m.group(1).upper() in options else None
    raise ValueError(f"unknown answer format {fmt!r} (known: {', '.join(FORMATS)})")


# --- asking ----------------------------------------------------------------------------------


def _plan(items: Sequence[Item], p: Params, run_seed: int) -> list[tuple]:
    """(slice, item, question as asked, order, prefilled letter, request) for every slice."""
    r = p.robustness
    out = []
    for b, col, q in items:
        def seed(name: str, q: Question = q) -> int:
            return path_seed(run_seed, f"evaluate/{name}/{q.id}")

        for j, order in enumerate(orders(q, r.permutations, run_seed), 1):
            qq = permute(q, order)
            out.append((f"permute_{j}", (b, col, q), qq, order, None,
                        request_for(qq, p, seed(f"permute_{j}"))))
        plain = "".join(q.options)
        if r.prefill_wrong:
            w = wrong_letter(q, run_seed)
            out.append(("prefill_wrong", (b, col, q), q, plain, w,
                        prefill_request(q, p, seed("prefill_wrong"), w)))
        for fmt in r.formats:
            out.append((f"format_{fmt}", (b, col, q), q, plain, None,
                        format_request(q, p, seed(f"format_{fmt}"), fmt)))
    return out


def ask(items: Sequence[Item], llm: LLM, p: Params, run_seed: int,
        failures: Failures) -> list[SliceRow]:
    """Every slice's row for `items` (a failed request: to `failures`, no row)."""
    plan, rows = _plan(items, p, run_seed), []
    it = iter(plan)
    while batch := list(islice(it, p.batch_items)):
        comps = llm.generate([x[-1] for x in batch])
        for (name, (b, col, q), qq, order, w, req), c in zip(batch, comps):
            if c.failed:
                failures.add(llm.role, f"{b}/{q.id}/{name}", c)
                continue
            fmt = name.removeprefix("format_") if name.startswith("format_") else None
            own = read_format(fmt, c.text, qq.options) if fmt else None
            letter = own or answers.extract(c.text, qq.options)
            rows.append(SliceRow(
                slice=name, benchmark=b, column=col, question_id=q.id, order=order,
                gold=qq.answer, prefill=w, output=c.text, finish_reason=c.finish_reason,
                answer=letter, answer_text=qq.options.get(letter) if letter else None,
                followed=own is not None if fmt else True, correct=letter == qq.answer,
                seed=req.seed))
    return rows


# --- metrics ----------------------------------------------------------------------------------


def _pct(x: float) -> float:
    return round(100 * float(x), 2)


def metrics(rows: Sequence[SliceRow], clean: Sequence[Prediction],
            questions: dict[tuple[str, str], Question], p: Params, run_seed: int,
            n_items: int) -> dict:
    """results.json's `robustness`: per slice, accuracy against clean on the same items
    (slice - clean: negative is a drop), and the permutations' mean and consistency."""
    r = p.robustness
    base = _keyed(clean)
    by = {name: _keyed(group) for name, group in _groups(rows).items()}
    out: dict = {"limit": r.limit, "items": n_items, "scorer": "strict", "slices": {}}
    for name in [f"permute_{j}" for j in range(1, r.permutations + 1)] + \
            (["prefill_wrong"] if r.prefill_wrong else []) + [f"format_{f}" for f in r.formats]:
        got = by.get(name, {})
        keys = [k for k in got if k in base]
        entry: dict = {"n": len(keys)}
        if keys:
            c = paired(np.array([got[k].correct for k in keys]),
                       np.array([base[k].strict_correct for k in keys]), p.n_resamples,
                       p.confidence, path_seed(run_seed, f"evaluate/robustness/{name}"))
            entry |= {"acc": c["acc_a"], "clean_acc": c["acc_b"], "diff": c["diff"],
                      "ci_lo": c["ci_lo"], "ci_hi": c["ci_hi"], "only_slice": c["only_a"],
                      "only_clean": c["only_b"], "mcnemar_p": c["mcnemar_p"],
                      "unextractable": sum(got[k].answer is None for k in keys)}
            if name == "prefill_wrong":
                entry["adopted_wrong"] = _pct(np.mean([got[k].answer == got[k].prefill for k in keys]))
            if name.startswith("format_"):
                entry["followed"] = _pct(np.mean([got[k].followed for k in keys]))
        out["slices"][name] = entry
    if r.permutations:
        texts = {k: questions[(x.benchmark, x.question_id)].options.get(x.strict) if x.strict
                 else None for k, x in base.items()}
        out["permutations"] = _permutations(by, base, texts, r.permutations, p, run_seed)
    return out


def _groups(rows: Sequence[SliceRow]) -> dict[str, list[SliceRow]]:
    out: dict[str, list[SliceRow]] = defaultdict(list)
    for row in rows:
        out[row.slice].append(row)
    return out


def _keyed(records: Sequence) -> dict[tuple[str, str, int], object]:
    """Records by (column, question id, occurrence): a question can stand in two MMLU
    subjects, or twice in one column (the same request, so the same answer each time)."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    out = {}
    for x in records:
        k = (x.column, x.question_id)
        out[(*k, seen[k])] = x
        seen[k] += 1
    return out


def _permutations(by: dict, base: dict, texts: dict, k: int, p: Params, run_seed: int) -> dict:
    """Mean accuracy over the k orders against clean (paired bootstrap of the per-item mean),
    and consistency over all k+1 orders, on the items every order has a row for."""
    perms = [by.get(f"permute_{j}", {}) for j in range(1, k + 1)]
    keys = [key for key in base if all(key in g for g in perms)]
    if not keys:
        return {"k": k, "n": 0}
    acc = np.array([[g[key].correct for g in perms] for key in keys], dtype=np.float64)
    clean = np.array([base[key].strict_correct for key in keys], dtype=np.float64)
    diff = resample_means((acc.mean(axis=1) - clean)[:, None], p.n_resamples,
                          path_seed(run_seed, "evaluate/robustness/permutations"))[:, 0]
    lo, hi = interval(diff, p.confidence)
    same = [consistent(texts[key], [g[key].answer_text for g in perms]) for key in keys]
    return {"k": k, "n": len(keys), "acc_per_order": [_pct(a) for a in acc.mean(axis=0)],
            "mean_acc": _pct(acc.mean()), "clean_acc": _pct(clean.mean()),
            "diff": _pct(diff[0]), "ci_lo": _pct(lo), "ci_hi": _pct(hi),
            "consistency": _pct(np.mean(same)), "consistent_items": int(sum(same))}


def consistent(first: str | None, others: Sequence[str | None]) -> bool:
    """The same option text in every order (no answer in any order: not consistent)."""
    return first is not None and all(o == first for o in others)

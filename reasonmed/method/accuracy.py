"""Accuracy of one evaluation, each scorer, with percentile-bootstrap confidence intervals.

Per column (a benchmark, or one MMLU subject), per benchmark and in total (micro, macro over
columns, macro over benchmarks), from evaluate's predictions (reasonmed/method/evaluate.py);
the resampling is reasonmed/method/bootstrap.py. Also the DVC metric (`headline`) and the
lm-eval-style table the evaluate stage prints.

    python -c "from reasonmed.method.accuracy import DEFINITIONS; print(DEFINITIONS['micro'])"
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from reasonmed.method.bootstrap import interval, resample_means
from reasonmed.method.evaluate import Prediction


def _pct(v: float) -> float:
    return round(100 * float(v), 2)


SCORERS = ("strict", "strict_judge", "huatuo")  # side by side, never combined


def _block(n: int, *stats: np.ndarray | None, confidence: float) -> dict:
    """n and each scorer's accuracy and interval (None: the scorer did not run, no judge)."""
    out: dict[str, Any] = {"n": n}
    for name, s in zip(SCORERS, stats):
        lo, hi = interval(s, confidence) if s is not None else (None, None)
        out |= {f"{name}_acc": _pct(s[0]) if s is not None else None,
                f"{name}_ci_lo": _pct(lo) if lo is not None else None,
                f"{name}_ci_hi": _pct(hi) if hi is not None else None}
    return out


_COUNTS = ("empty", "unextractable", "huatuo_by_text", "huatuo_by_similarity", "truncated",
           "backend_errors", "completion_tokens")


def _counts(rows: list[Prediction]) -> Counter:
    c: Counter = Counter()
    for r in rows:
        c["empty"] += r.empty
        c["unextractable"] += not r.empty and r.strict is None
        c["huatuo_by_text"] += r.huatuo_type == 2
        c["huatuo_by_similarity"] += r.huatuo_type == 3
        c["truncated"] += r.finish_reason == "length"
        c["backend_errors"] += r.finish_reason == "error"  # empty text: counted wrong too
        c["completion_tokens"] += r.completion_tokens
    return c


def _detail(rows: list[Prediction]) -> dict:
    """Point-only extras: first/last readings, the authors' empty-dropping number, counts."""
    n, c = len(rows), _counts(rows)
    kept = [r for r in rows if not r.empty]
    excl = max(sum(r.huatuo_first_correct for r in kept), sum(r.huatuo_last_correct for r in kept))
    return {"huatuo_first_acc": _pct(sum(r.huatuo_first_correct for r in rows) / n),
            "huatuo_last_acc": _pct(sum(r.huatuo_last_correct for r in rows) / n),
            "huatuo_acc_excl_empty": _pct(excl / len(kept)) if kept else None,
            **{k: c[k] for k in _COUNTS if k != "completion_tokens"},
            "mean_completion_tokens": round(c["completion_tokens"] / n, 1)}


def metrics_of(preds: Iterable[Prediction], n_resamples: int, confidence: float,
               seed: int, judged: bool = False) -> dict:
    """Accuracy (percent) per column, per benchmark and in total, with bootstrap CIs.

    Items are resampled within each column (column sizes are fixed by design); the huatuo
    statistic is max(first, last) per column, as HuatuoGPT-o1's score() takes it per
    source, and pooled figures weight columns by size. Totals: `micro` over all items,
    `macro_columns` the mean over the reported columns (the six MMLU subjects count six
    times), `macro_benchmarks` the mean over benchmarks (MMLU pooled). Which one is the
    paper's "Total Acc" is unverified (docs/method.md 10.2), so all are reported.
    `judged`: the judge ran, so strict+judge is reported (else its fields are None).
    """
    rows: dict[str, list[Prediction]] = defaultdict(list)
    for r in preds:
        rows[r.column].append(r.model_copy(update={"output": ""}))  # flags only: small
    bench_of = {c: rs[0].benchmark for c, rs in rows.items()}
    benches = list(dict.fromkeys(bench_of.values()))  # in order of first appearance
    stats: dict[str, tuple] = {}  # column -> (n, strict, strict+judge or None, huatuo)
    for col, rs in rows.items():
        # strict+judge is resampled with the others (same items per resample): columns 0-3
        x = np.array([[r.strict_correct, r.huatuo_first_correct, r.huatuo_last_correct,
                       r.strict_judge_correct] for r in rs], dtype=np.float64)
        key = int(hashlib.sha256(f"{seed}:{col}".encode()).hexdigest()[:8], 16)
        m = resample_means(x, n_resamples, key)
        stats[col] = (len(rs), m[:, 0], m[:, 3] if judged else None, np.maximum(m[:, 1], m[:, 2]))

    def pooled(cols: list[str]) -> tuple:
        n = sum(stats[c][0] for c in cols)
        return (n, *(None if stats[cols[0]][i] is None else
                     sum(stats[c][0] * stats[c][i] for c in cols) / n for i in (1, 2, 3)))

    def mean(parts: list[tuple]) -> tuple:
        return (sum(p[0] for p in parts), *(None if parts[0][i] is None else
                                            sum(p[i] for p in parts) / len(parts) for i in (1, 2, 3)))

    out: dict[str, Any] = {"unit": "percent", "confidence": confidence,
                           "n_resamples": n_resamples, "columns": {}, "benchmarks": {}}
    for col in sorted(rows, key=lambda c: (benches.index(bench_of[c]), c)):
        out["columns"][col] = {**_block(*stats[col], confidence=confidence), **_detail(rows[col])}
    by_bench = {b: pooled([c for c in rows if bench_of[c] == b]) for b in benches}
    for b in benches:
        members = [r for c in rows if bench_of[c] == b for r in rows[c]]
        out["benchmarks"][b] = {**_block(*by_bench[b], confidence=confidence),
                                **_detail(members),
                                "columns": sum(bench_of[c] == b for c in rows)}
    if rows:
        everything = [r for rs in rows.values() for r in rs]
        out["total"] = {
            "micro": {**_block(*pooled(list(rows)), confidence=confidence),
                      **{k: v for k, v in _detail(everything).items()
                         if k in ("empty", "unextractable")}},
            "macro_columns": _block(*mean([stats[c] for c in rows]), confidence=confidence),
            "macro_benchmarks": _block(*mean(list(by_bench.values())), confidence=confidence)}
    return out


DEFINITIONS = {
    "strict": "letter of an explicit final-answer statement in the final-answer region (after "
              "</think> or ## Final Response); empty, unclosed reasoning, missing or hedged = wrong",
    "huatuo": "HuatuoGPT-o1 eval postprocessing + match_choice; max(first-match, last-match) "
              "accuracy per column (optimistic); outputs the original drops (empty after "
              "removing </s>) counted wrong (huatuo_acc_excl_empty drops them, as the original)",
    "strict_judge": "strict's letter, else (strict read no answer) the letter the judge role "
                    "(evaluate.judge, stages/prompts/judge.md) says the output commits to; "
                    "null when no judge is set. Reported beside strict, never merged into it",
    "ci": "percentile bootstrap over items, resampled within columns",
    "micro": "all items pooled",
    "macro_columns": "mean over reported columns (benchmarks and MMLU subjects)",
    "macro_benchmarks": "mean over benchmarks (MMLU subjects pooled)",
}


def headline(metrics: dict, failed: int) -> dict:
    """The DVC metric: total accuracies (every scorer), the answer rate and failures."""
    t = metrics.get("total") or {}
    micro = t.get("micro") or {}
    return {"n": micro.get("n", 0), "strict_acc": micro.get("strict_acc"),
            "strict_judge_acc": micro.get("strict_judge_acc"),
            "huatuo_acc": micro.get("huatuo_acc"),
            "strict_acc_macro": (t.get("macro_columns") or {}).get("strict_acc"),
            "unextractable": micro.get("unextractable"), "failed": failed}


def results_table(name: str, metrics: dict) -> str:
    """lm-eval-style table of one evaluation: column, n, strict, strict+judge and huatuo
    with CIs ("-" where no judge ran)."""
    def cell(b: dict, k: str) -> str:
        if b.get(k + "_acc") is None:
            return f"{'-':^20}"
        return f"{b[k + '_acc']:5.1f} [{b[k + '_ci_lo']:5.1f}, {b[k + '_ci_hi']:5.1f}]"

    rows = list(metrics["columns"].items())
    rows += [(f"total ({k})", b) for k, b in (metrics.get("total") or {}).items()]
    width = max([len(c) for c, _ in rows] + [6])
    names = {"strict": "strict", "strict_judge": "strict+judge", "huatuo": "huatuo"}
    lines = [f"evaluate {name}: accuracy % [{100 * metrics['confidence']:.0f}% CI]",
             f"| {'column':<{width}} | {'n':>5} | "
             + " | ".join(f"{names[s]:^20}" for s in SCORERS) + " |",
             f"|{'-' * (width + 2)}|{'-' * 7}|" + "|".join("-" * 22 for _ in SCORERS) + "|"]
    lines += [f"| {c:<{width}} | {b['n']:>5} | " + " | ".join(cell(b, s) for s in SCORERS) + " |"
              for c, b in rows]
    return "\n".join(lines)

"""Confidence intervals and paired tests for accuracies (evaluate's CIs, report's ablation).

Percentile bootstrap over items; the paired comparison of two models on the same items gives
the accuracy difference with a paired-bootstrap interval (items resampled together, so the
shared difficulty of an item cancels) and McNemar's exact test on the discordant items
(a binomial test of b vs c; b + c = 0 gives p = 1).

    python -c "from reasonmed.method.bootstrap import mcnemar_exact; print(mcnemar_exact(10, 2))"
"""

from __future__ import annotations

import numpy as np


def resample_means(x: np.ndarray, n_resamples: int, seed: int, chunk: int = 250) -> np.ndarray:
    """Column means of `x` (items x k): row 0 on the data, rows 1.. on R bootstrap resamples
    of its rows (items drawn with replacement). Chunked: memory stays chunk x n x k."""
    rng = np.random.default_rng(seed)
    rows = [x.mean(axis=0, keepdims=True)]
    for lo in range(0, n_resamples, chunk):
        idx = rng.integers(0, len(x), size=(min(chunk, n_resamples - lo), len(x)))
        rows.append(x[idx].mean(axis=1))
    return np.vstack(rows)


def interval(stat: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of the resampled statistic (rows 1..)."""
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(stat[1:], [tail, 100 - tail])
    return float(lo), float(hi)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b items only A got right, c only B."""
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(min(b, c), b + c, 0.5).pvalue)


def paired(a: np.ndarray, b: np.ndarray, n_resamples: int, confidence: float,
           seed: int) -> dict:
    """A vs B on the same items (0/1 arrays, aligned): accuracies and their difference in
    percent, its paired-bootstrap interval, the discordant counts and McNemar's p."""
    if len(a) != len(b) or not len(a):
        raise ValueError(f"paired: need two aligned non-empty arrays (got {len(a)}, {len(b)})")
    a, b = a.astype(np.float64), b.astype(np.float64)
    diff = resample_means((a - b)[:, None], n_resamples, seed)[:, 0]
    lo, hi = interval(diff, confidence)
    only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    return {"n": len(a), "acc_a": round(100 * a.mean(), 2), "acc_b": round(100 * b.mean(), 2),
            "diff": round(100 * diff[0], 2), "ci_lo": round(100 * lo, 2),
            "ci_hi": round(100 * hi, 2), "only_a": only_a, "only_b": only_b,
            "mcnemar_p": round(mcnemar_exact(only_a, only_b), 4)}

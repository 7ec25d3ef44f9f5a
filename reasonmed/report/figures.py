"""The report's figures: PNGs (DVC image plots, so they render offline and `dvc plots diff`
compares them across commits), drawn from the gathered artifacts (reasonmed/report/gather.py).

    python -c "from reasonmed.report.figures import TIER_COLORS; print(TIER_COLORS)"
"""

from __future__ import annotations

from pathlib import Path
from statistics import median

from reasonmed.core.records import atomic_path
from reasonmed.report.gather import Params

TIER_COLORS = {"easy": "#4c9f70", "medium": "#e0a030", "difficult": "#c0504d"}


def _fig(path: Path, fig, dpi: int) -> None:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)


def two_score_note(qs: dict, share: float = 0.9) -> str:
    """The quality caption's warning when the scorer gives (almost) only two scores (a tiny
    scorer answers 1 or 10): a mean and sd then only count the high scores, so two datasets
    with different texts can draw identical bars. Empty when no dataset is so scored."""
    narrow, values = [], set()
    for name, q in qs.items():
        hist = {k: n for k, n in (q.get("score_histogram") or {}).items() if n}
        two = sorted(hist, key=lambda k: -hist[k])[:2]
        if hist and sum(hist[k] for k in two) >= share * sum(hist.values()):
            narrow.append(name)
            values.update(two)
    if not narrow:
        return ""
    scores = " or ".join(sorted(values, key=float))
    return (f" The scorer gave {scores} to at least {share:.0%} of the sample of "
            f"{', '.join(narrow)}: there a mean and sd only count the high scores, so "
            "different datasets can draw identical bars (the score histograms: "
            "`tables/quality.md`).")


def figures(d: dict, out: Path, p: Params) -> list[tuple[str, str]]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    made = []

    # 1. composition by source and tier
    fig, ax = plt.subplots(figsize=(7, 3.6))
    srcs = sorted(d["composition"])
    bottom = np.zeros(len(srcs))
    for tier in ("easy", "medium", "difficult"):
        vals = np.array([d["composition"][s].get(tier, 0) for s in srcs])
        ax.bar(srcs, vals, bottom=bottom, label=tier, color=TIER_COLORS[tier])
        bottom += vals
    ax.set(title="Dataset composition: rows per source and tier", ylabel="rows (per variant)")
    ax.legend(title="tier")
    ax.tick_params(axis="x", rotation=20)
    _fig(out / "figures/composition.png", fig, p.dpi)
    made.append(("composition.png", "Rows of each SFT variant by question source and EMD tier."))

    # 2. error counts 0..n with tier bands
    fig, ax = plt.subplots(figsize=(7, 3.6))
    n_max = max(d["n_paths"], max(map(int, d["error_hist"]), default=0))
    xs = list(range(n_max + 1))
    ys = [d["error_hist"].get(str(x), 0) for x in xs]
    cols = [TIER_COLORS.get(next((t for t, (lo, hi) in d["bands"].items() if lo <= x <= hi),
                                 ""), "#999999") for x in xs]
    from matplotlib.patches import Patch
    ax.bar(xs, ys, color=cols)
    ax.set(title="Error verdicts per question", xlabel=f"Error verdicts of {d['n_paths']} paths",
           ylabel="questions", xticks=xs)
    ax.legend(handles=[Patch(color=TIER_COLORS[t], label=f"{t} ({lo}-{hi}): "
                             f"{d['tiers'].get(t, 0)} questions")
                       for t, (lo, hi) in d["bands"].items()])
    _fig(out / "figures/error_counts.png", fig, p.dpi)
    made.append(("error_counts.png", "Distribution of Error verdicts per question and the tiers."))

    # 3. pass rate per agent x temperature
    agents = sorted(d["pass"])
    temps = sorted({t for a in agents for t in d["pass"][a]}, key=float)
    grid = np.array([[100 * d["pass"][a][t]["Correct"] / max(d["pass"][a][t]["paths"], 1)
                      for t in temps] for a in agents])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set(xticks=range(len(temps)), xticklabels=temps, yticks=range(len(agents)),
           yticklabels=agents, xlabel="temperature", ylabel="agent",
           title="Verifier pass rate (% Correct)")
    for i in range(len(agents)):
        for j in range(len(temps)):
            ax.text(j, i, f"{grid[i, j]:.0f}%", ha="center", va="center",
                    color="white" if grid[i, j] < 60 else "black")
    fig.colorbar(im, ax=ax, label="% Correct")
    _fig(out / "figures/pass_rate.png", fig, p.dpi)
    made.append(("pass_rate.png", "Share of paths the verifier judged Correct, per agent and temperature."))

    # 4. length distributions
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    for ax, key, title in ((axes[0], "path_words", "Generated CoT paths"),
                           (axes[1], "summary_words", "Response summaries")):
        vals = d[key] or [0]
        ax.hist(vals, bins=20, color="#4472c4")
        ax.axvline(median(vals), color="black", ls="--", label=f"median {median(vals):.0f}")
        ax.set(title=title, xlabel="length (whitespace words)", ylabel="count")
        ax.legend()
    _fig(out / "figures/lengths.png", fig, p.dpi)
    made.append(("lengths.png", "Length of every generated path and of every summary."))

    # 5. quality scores per variant and external dataset (no mean: no bar)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    qs = {**d["quality"], **d["quality_external"]}
    names = list(qs)
    means = np.array([qs[v]["mean"] if qs[v]["mean"] is not None else np.nan for v in names])
    stds = np.array([qs[v]["std"] or 0 for v in names])
    ax.bar(names, means, yerr=stds, capsize=4,
           color=["#4472c4" if v in d["quality"] else "#a5a5a5" for v in names])
    ax.set(title="Score evaluator (1-10): variants (blue) and other datasets (grey)",
           ylabel="mean score (± sd)", ylim=(0, 10))
    ax.tick_params(axis="x", rotation=15)
    _fig(out / "figures/quality.png", fig, p.dpi)
    made.append(("quality.png", "Mean 1-10 quality score of a seeded sample of each variant and "
                 "of each external dataset (params `external`)." + two_score_note(qs)))

    # 6. accuracy per benchmark per model, both metrics (strict is the headline)
    cols = d["acc_cols"]
    fig, axes = plt.subplots(2, 1, figsize=(10, 6.4), sharex=True)
    for ax, metric in zip(axes, ("strict", "huatuo")):
        table = d["acc_by_metric"][metric]
        width = 0.8 / max(len(table), 1)
        nan = (np.nan, np.nan, np.nan)  # a missing value draws no bar (never a 0)
        for k, (name, row) in enumerate(table.items()):
            acc = np.array([row.get(c, nan)[0] for c in cols], dtype=float)
            lo = np.array([row.get(c, nan)[1] for c in cols], dtype=float)
            hi = np.array([row.get(c, nan)[2] for c in cols], dtype=float)
            ax.bar(np.arange(len(cols)) + k * width, acc, width,
                   yerr=np.nan_to_num([acc - lo, hi - acc]), capsize=2, label=name)
        ax.set(title=f"{metric} accuracy per benchmark (95% bootstrap CI)",
               ylabel="accuracy (%)", ylim=(0, 100))
        ax.legend(title="model", ncols=min(len(table), 4), fontsize=8)
    axes[1].set_xticks(np.arange(len(cols)) + 0.4 - 0.4 / max(len(d["acc"]), 1))
    axes[1].set_xticklabels(cols, rotation=30, ha="right")
    _fig(out / "figures/accuracy.png", fig, p.dpi)
    made.append(("accuracy.png", "Accuracy of every evaluated model (params evaluate.models) per "
                 "result column and in total (strict: explicit answer only; huatuo: "
                 "HuatuoGPT-o1's lenient scorer); a missing value has no bar."))

    # 7. SFT loss curves
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for v, rows in d["loss"].items():
        ax.plot([r[0] for r in rows], [r[1] for r in rows], label=v)
    ax.set(title="SFT training loss", xlabel="step", ylabel="loss (assistant tokens)")
    ax.legend()
    _fig(out / "figures/sft_loss.png", fig, p.dpi)
    made.append(("sft_loss.png", "Training loss of each SFT variant."))
    return made

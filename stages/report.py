"""report: the paper's tables and figures, regenerated from this run's artifacts.

Reads the stats, ledgers, verdicts, paths, summaries, quality scores, SFT curves and
evaluation metrics and writes `reports/`: `metrics.json` (DVC metrics), PNG figures
(DVC image plots: they render offline), Markdown and LaTeX tables, and `README.md`, the
whole run at a glance. Nothing here is typed in: every number comes from an artifact.

    python -m stages.report --params params.yaml --out reports
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter, defaultdict
from pathlib import Path
from statistics import median
from typing import Literal

import numpy as np

from reasonmed.bootstrap import paired
from reasonmed.params import Section, load, read_params, trace
from reasonmed.records import CoTPath, Summary, Verdict, atomic_path, read_jsonl, write_json
from reasonmed.seeds import path_seed
from reasonmed.stage import StageRun, entry

log = logging.getLogger("reasonmed.report")
TIER_COLORS = {"easy": "#4c9f70", "medium": "#e0a030", "difficult": "#c0504d"}


# Keys of other sections the report reads (dvc.yaml `params:` of the stage lists them).
READS = ("route.bands", "generate.agents", "generate.temperatures",
         "generate.samples_per_temperature", "evaluate.models", "evaluate.n_resamples",
         "evaluate.confidence", "models", "run.seed")
MISSING = "–"  # a value the artifacts do not have: shown as missing, never as 0
TOTALS = {"micro": "total (micro)", "macro_columns": "total (macro)"}


class Params(Section):
    variants: list[str]  # SFT datasets, in table order (the ablation's rows)
    metric: Literal["strict", "huatuo"] = "strict"  # headline accuracy
    dpi: int = 120


def _cell(v) -> str:
    return MISSING if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def md_table(header: list[str], rows: list[list]) -> str:
    fmt = _cell
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def tex_table(header: list[str], rows: list[list], caption: str) -> str:
    esc = lambda v: _cell(v).replace("_", r"\_").replace(  # noqa: E731
        "%", r"\%").replace("±", r"$\pm$").replace(MISSING, "--")
    body = "\n".join(" & ".join(esc(v) for v in r) + r" \\" for r in rows)
    return (f"\\begin{{table}}[t]\n\\centering\n\\caption{{{caption}}}\n"
            f"\\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}\n\\toprule\n"
            f"{' & '.join(esc(h) for h in header)} \\\\\n\\midrule\n{body}\n\\bottomrule\n"
            f"\\end{{tabular}}\n\\end{{table}}\n")


# --- gathering (pure over parsed inputs) -----------------------------------------------


def pass_rates(verdicts) -> dict[str, dict[str, dict[str, int]]]:
    """{agent: {temperature: {"paths", "Correct"}}} from verdict records."""
    out: dict = defaultdict(lambda: defaultdict(Counter))
    for v in verdicts:
        c = out[v.agent][f"{v.temperature:g}"]
        c["paths"] += 1
        c["Correct"] += v.verdict == "Correct"
    return {a: {t: dict(c) for t, c in ts.items()} for a, ts in out.items()}


def words(text: str) -> int:
    return len(text.split())


def accuracy_rows(evals: dict[str, dict | None], metric: str
                  ) -> tuple[list[str], dict[str, dict]]:
    """Column order and {model: {column: (acc, lo, hi)}} for the main results table: the
    result columns in the evaluations' order, then the totals. A model without an
    evaluation, or without a column, has no entry for it (shown as missing)."""
    cols: list[str] = []
    table: dict[str, dict] = {}
    for name, m in evals.items():
        row = {}
        parts = {**(m or {}).get("columns", {}),
                 **{TOTALS[k]: v for k, v in (m or {}).get("total", {}).items() if k in TOTALS}}
        for col, b in parts.items():
            if b.get(f"{metric}_acc") is not None:
                row[col] = (b[f"{metric}_acc"], b[f"{metric}_ci_lo"], b[f"{metric}_ci_hi"])
            if col not in cols and col not in TOTALS.values():
                cols.append(col)
        table[name] = row
    return cols + list(TOTALS.values()), table


def significance(preds: dict[str, dict[tuple[str, str], bool]], n_resamples: int,
                 confidence: float, seed: int) -> list[dict]:
    """Every pair of variants compared on the items both have a prediction for (strict)."""
    out = []
    names = list(preds)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sorted(set(preds[a]) & set(preds[b]))
            if not shared:
                out.append({"a": a, "b": b, "n": 0})
                continue
            x = np.array([preds[a][k] for k in shared])
            y = np.array([preds[b][k] for k in shared])
            out.append({"a": a, "b": b, **paired(x, y, n_resamples, confidence,
                                                 path_seed(seed, f"report/{a}/{b}"))})
    return out


# --- figures -----------------------------------------------------------------------------


def _fig(path: Path, fig, dpi: int) -> None:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)


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
                 "of each external dataset (params `external`)."))

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


# --- the stage --------------------------------------------------------------------------


def gather(root: Path, p: Params, params: dict) -> dict:
    """Read every artifact the report needs (streaming the large ones)."""
    rj = lambda f: json.loads((root / f).read_text())  # noqa: E731
    route, asm = rj("data/route/stats.json"), rj("data/assemble/stats.json")
    comp: dict = defaultdict(Counter)
    import pyarrow.parquet as pq

    # The variants share rows, so one of them gives the composition of all three.
    t = pq.read_table(root / "data/assemble/datasets/reasonmed.parquet", columns=["source", "tier"])
    for s, tier in zip(t.column("source").to_pylist(), t.column("tier").to_pylist()):
        comp[s][tier] += 1
    ev = params["evaluate"]
    evals = {m: rj(f"data/evaluate/{m}/results.json")
             if (root / f"data/evaluate/{m}/results.json").exists() else None
             for m in ev["models"]}
    acc_cols, acc = accuracy_rows(evals, p.metric)
    acc_by_metric = {m: accuracy_rows(evals, m)[1] for m in ("strict", "huatuo")}
    preds = {}
    for v in p.variants:  # the ablation: the variants' per-item strict correctness
        f = root / f"data/evaluate/{v}/predictions.jsonl"
        if v in ev["models"] and f.exists():
            preds[v] = {(r["column"], r["question_id"]): bool(r["strict_correct"])
                        for r in map(json.loads, f.read_text().splitlines()) if r}
    sig = significance(preds, ev.get("n_resamples", 1000), ev.get("confidence", 0.95),
                       params["run"]["seed"])
    score = rj("data/score/stats.json")
    loss = {}
    for v in p.variants:
        lines = (root / f"data/sft/{v}/loss.csv").read_text().splitlines()
        head = lines[0].split(",")
        si, li = head.index("step"), head.index("loss")
        loss[v] = [(int(float(r.split(",")[si])), float(r.split(",")[li])) for r in lines[1:]
                   if r.split(",")[li]]
    n_paths = len(params["generate"]["agents"]) * len(params["generate"]["temperatures"]) * \
        params["generate"].get("samples_per_temperature", 1)
    return {
        "collect": rj("data/collect/stats.json")["total"], "assemble": asm,
        "composition": {s: dict(c) for s, c in comp.items()},
        "tiers": route["tiers"], "error_hist": route["error_count_histogram"],
        "bands": params["route"]["bands"], "n_paths": n_paths,
        "verify": rj("data/verify/stats.json"),
        "pass": pass_rates(read_jsonl(root / "data/verify/verdicts.jsonl", Verdict)),
        "path_words": [words(x.cot) for x in read_jsonl(root / "data/generate/paths.jsonl", CoTPath)],
        "summary_words": [words(s.summary) for s in
                          read_jsonl(root / "data/summarize/summaries.jsonl", Summary)],
        "quality": score["variants"], "quality_external": score.get("external", {}),
        "significance": sig, "confidence": ev.get("confidence", 0.95),
        "tiny": sorted(r for r, s in (params.get("models") or {}).items()
                       if isinstance(s, dict) and s.get("build")),
        "sft": {v: rj(f"data/sft/{v}/metrics.json") for v in p.variants},
        "loss": loss, "acc_cols": acc_cols, "acc": acc, "acc_by_metric": acc_by_metric,
        "evals": evals,
        "costs": rj("data/assemble/costs.json"),
    }


def tables(d: dict, p: Params) -> dict[str, tuple[list[str], list[list], str]]:
    a = d["assemble"]
    t = {
        "composition": (["source", "questions", "in datasets", "dropped", "rows"],
                        [[s, v["questions"], v["in_datasets"], v["dropped"], v["rows"]]
                         for s, v in sorted(a["by_source"].items())],
                        "Dataset composition by source"),
        "tiers": (["tier", "questions", "in datasets", "dropped", "rows"],
                  [[k, v["questions"], v["in_datasets"], v["dropped"], v["rows"]]
                   for k, v in a["by_tier"].items()], "Questions and rows per EMD tier"),
        "pass_rate": (["agent"] + sorted({t for x in d["pass"].values() for t in x}, key=float),
                      [[ag] + [f"{100 * c['Correct'] / max(c['paths'], 1):.1f}%"
                               for _, c in sorted(ts.items(), key=lambda kv: float(kv[0]))]
                       for ag, ts in sorted(d["pass"].items())],
                      "Verifier pass rate per agent and temperature"),
        "quality": (["dataset", "kind", "sampled", "failed", "parsed", "mean", "sd"],
                    [[v, kind, q.get("sampled"), q.get("failed", 0), q.get("parsed"),
                      q.get("mean"), q.get("std")]
                     for kind, group in (("variant", d["quality"]),
                                         ("external", d["quality_external"]))
                     for v, q in group.items()],
                    "Score evaluator (1-10): the variants and other datasets (failed requests "
                    "are left out of the mean and counted)"),
        "accuracy": (["model"] + d["acc_cols"],
                     [[m] + [f"{row[c][0]:.1f} [{row[c][1]:.1f}, {row[c][2]:.1f}]"
                             if c in row else MISSING for c in d["acc_cols"]]
                      for m, row in d["acc"].items()],
                     f"Main results: accuracy (%, {p.metric}) with "
                     f"{100 * d['confidence']:.0f}% bootstrap CIs"),
        "significance": (["A", "B", "items", "A acc", "B acc", "A - B",
                          f"{100 * d['confidence']:.0f}% CI", "only A", "only B", "McNemar p"],
                         [[s["a"], s["b"], s["n"], s.get("acc_a"), s.get("acc_b"),
                           s.get("diff"),
                           f"[{s['ci_lo']:.2f}, {s['ci_hi']:.2f}]" if s["n"] else None,
                           s.get("only_a"), s.get("only_b"), s.get("mcnemar_p")]
                          for s in d["significance"]],
                         "Ablation: paired comparison of the SFT variants on the same items "
                         "(strict accuracy; paired bootstrap CI of the difference, exact "
                         "McNemar test)"),
        "sft": (["variant", "examples", "steps", "train loss", "tokens/s", "peak RSS (MB)"],
                [[v, m.get("examples"), m.get("steps"), m.get("train_loss"),
                  m.get("tokens_per_s"), m.get("peak_rss_mb")]
                 for v, m in d["sft"].items()], "Supervised fine-tuning runs"),
        "cost": (["stage", "requests", "prompt tokens", "completion tokens", "device-hours", "USD"],
                 [[s, c["requests"], c["prompt_tokens"], c["completion_tokens"],
                   c["device_hours"], c["usd"]] for s, c in d["costs"]["by_stage"].items()]
                 + [["total", *(d["costs"]["total"][k] for k in (
                     "requests", "prompt_tokens", "completion_tokens", "device_hours", "usd"))]],
                 "Cost of this run from the token ledgers"),
    }
    return t


def headline(d: dict, p: Params) -> dict:
    ver = d["verify"]
    return {
        "dataset": {"rows": d["assemble"]["rows"], "questions_in": d["assemble"]["questions_in"],
                    "questions_in_datasets": d["assemble"]["questions_in_datasets"],
                    "tiers": d["tiers"]},
        "verify": {"pass_rate": round(ver["verdicts"]["Correct"] / max(ver["paths_in"], 1), 4),
                   "parse_failure_rate": ver["parse_failure_rate"]},
        "quality": {v: q.get("mean") for v, q in {**d["quality"],
                                                   **d["quality_external"]}.items()},
        "ablation": {f"{s['a']}-{s['b']}": {"diff": s.get("diff"), "mcnemar_p": s.get("mcnemar_p")}
                     for s in d["significance"]},
        # the total per model (per column: tables/accuracy.md and data/evaluate/*/results.json)
        "accuracy": {m: row.get(TOTALS["micro"], (None,))[0] for m, row in d["acc"].items()},
        "accuracy_metric": p.metric,
        "sft_train_loss": {v: m.get("train_loss") for v, m in d["sft"].items()},
        "cost_usd": d["costs"]["total"]["usd"],
    }


def readme(d: dict, made: list[tuple[str, str]], tabs: dict, p: Params) -> str:
    h = headline(d, p)
    caveat = ([f"**The numbers in this report come from tiny models trained locally on CPU by "
               f"the `models` stage (roles {', '.join(d['tiny'])}); they exercise every stage, "
               "parser and table and say nothing about medicine.**\n"]
              if d["tiny"] else [])
    parts = [*caveat, "# Run report\n",
             "Generated by `python -m stages.report` from this run's artifacts (`dvc repro`). "
             "Figures are DVC image plots; `dvc plots diff` compares them across commits.\n",
             "- Dataset rows per variant: " + ", ".join(
                 f"{v} {n}" for v, n in h["dataset"]["rows"].items())
             + f" (from {h['dataset']['questions_in_datasets']} of "
             f"{h['dataset']['questions_in']} questions)",
             "- EMD tiers (questions): " + ", ".join(
                 f"{t} {n}" for t, n in h["dataset"]["tiers"].items()),
             f"- Verifier pass rate {100 * h['verify']['pass_rate']:.1f}%, parse failures "
             f"{100 * h['verify']['parse_failure_rate']:.1f}%",
             f"- Cost of this run: ${h['cost_usd']:.4f} (prices in params `cost`)\n"]
    for name, caption in made:
        parts.append(f"## {name.removesuffix('.png').replace('_', ' ').capitalize()}\n\n"
                     f"![{caption}](figures/{name})\n\n{caption}\n")
    for key, (hdr, rows, caption) in tabs.items():
        parts.append(f"## {caption}\n\n{md_table(hdr, rows)}\n(`tables/{key}.md`, `tables/{key}.tex`)\n")
    parts.append("Accuracy metrics: `strict` counts only an explicit final answer (empty or "
                 "unextractable outputs are wrong); `huatuo` reproduces HuatuoGPT-o1's scorer, "
                 "max(first-match, last-match) per benchmark: optimistic, reported for "
                 "comparability only.\n")
    return "\n".join(parts)


def run(d: dict, out: Path, p: Params) -> dict:
    made = figures(d, out, p)
    tabs = tables(d, p)
    for key, (hdr, rows, caption) in tabs.items():
        with atomic_path(out / f"tables/{key}.md") as tmp:
            tmp.write_text(md_table(hdr, rows))
        with atomic_path(out / f"tables/{key}.tex") as tmp:
            tmp.write_text(tex_table(hdr, rows, caption))
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text(readme(d, made, tabs, p))
    return headline(d, p)


def main() -> None:
    ap = argparse.ArgumentParser(description="Regenerate the paper's tables and figures.")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="reports")
    ap.add_argument("--root", default=".", help="folder holding data/")
    a = ap.parse_args()
    st, p = StageRun("report"), load("report", Params, a.params)
    for key in READS:  # read from other sections below (dvc.yaml lists them)
        trace(key)
    d = gather(Path(a.root), p, read_params(a.params))
    metrics = run(d, Path(a.out), p)
    write_json(Path(a.out) / "metrics.json", metrics)  # no timings: keeps metrics diffs clean
    st.finish(None, None)
    log.info("report: open %s (tables/, figures/ beside it); the data explorer is "
             "reports/explorer/index.html", Path(a.out) / "README.md")


if __name__ == "__main__":
    entry(main)

"""The report's tables (Markdown and LaTeX), its headline metrics and README.md, the whole
run at a glance, from the gathered artifacts (reasonmed/report/gather.py); `run` writes them
with the figures (reasonmed/report/figures.py).

    python -c "from reasonmed.report.tables import md_table; print(md_table(['a'], [[1.5]]))"
"""

from __future__ import annotations

from pathlib import Path

from reasonmed.core.records import atomic_path
from reasonmed.report.figures import figures
from reasonmed.report.gather import SCORERS, TOTALS, Params

MISSING = "–"  # a value the artifacts do not have: shown as missing, never as 0


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
        "quality": (["dataset", "kind", "sampled", "failed", "parsed", "mean", "sd",
                     "score:count"],
                    [[v, kind, q.get("sampled"), q.get("failed", 0), q.get("parsed"),
                      q.get("mean"), q.get("std"),
                      ", ".join(f"{s}:{n}" for s, n in (q.get("score_histogram") or {}).items())]
                     for kind, group in (("variant", d["quality"]),
                                         ("external", d["quality_external"]))
                     for v, q in group.items()],
                    "Score evaluator (1-10): the variants and other datasets (failed requests "
                    "are left out of the mean and counted)"),
        "accuracy": (["model", "scorer"] + d["acc_cols"], accuracy_table(d),
                     f"Main results: accuracy (%) with {100 * d['confidence']:.0f}% bootstrap "
                     "CIs, each scorer side by side (strict; strict+judge: the judge reads the "
                     "outputs strict reads as no answer; huatuo: HuatuoGPT-o1's, optimistic)"),
        "judge": (["model", "judge", "no answer", "asked", "letter", "none", "unread",
                   "now right", "agreement n", "agreement %", "kappa"], judge_table(d),
                  "Judge fallback: what the judge read in the outputs strict reads as no "
                  "answer, and its agreement with strict on a seeded sample strict read "
                  "(Cohen's kappa)"),
        **{f"robustness_{kind}": (
            ["model", "slice", "items", "clean", "slice", "slice - clean",
             f"{100 * d['confidence']:.0f}% CI", "McNemar p", "note"],
            robustness_table(d, kind),
            f"Robustness, {title} (strict accuracy, %): against the clean run on the same "
            "items (paired bootstrap CI of the difference, exact McNemar)")
           for kind, title in ROBUSTNESS_TABLES.items()},
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
        "rl": (["model", "after", "items", "model acc", "parent acc", "model - parent",
                f"{100 * d['confidence']:.0f}% CI", "only model", "only parent", "McNemar p"],
               [[s["a"], s["b"], s["n"], s.get("acc_a"), s.get("acc_b"), s.get("diff"),
                 f"[{s['ci_lo']:.2f}, {s['ci_hi']:.2f}]" if s["n"] else None,
                 s.get("only_a"), s.get("only_b"), s.get("mcnemar_p")]
                for s in d["continued"]],
               "RL after SFT: each RL checkpoint against its SFT parent on the same items "
               "(strict accuracy; paired bootstrap CI of the difference, exact McNemar test)"),
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


def accuracy_table(d: dict) -> list[list]:
    """The main table: one row per model and scorer (a scorer a model lacks: missing)."""
    def cell(row: dict, c: str):
        return f"{row[c][0]:.1f} [{row[c][1]:.1f}, {row[c][2]:.1f}]" if c in row else MISSING

    parents = d.get("parents", {})
    return [[f"{m} (RL after {parents[m]})" if m in parents else m, label]
            + [cell(d["acc_by_metric"][s].get(m, {}), c) for c in d["acc_cols"]]
            for m in d["acc"] for s, label in SCORERS.items()]


def judge_table(d: dict) -> list[list]:
    out = []
    for m, ev in d["evals"].items():
        j = (ev or {}).get("judge")
        if not j:
            out.append([m] + [None] * 10)
            continue
        a = j["agreement"]
        out.append([m, j["role"], j["no_answer"], j["asked"], j["letter"], j["none"], j["unread"],
                    j["rescued"], a["n"], a["rate"], a["kappa"]])
    return out


# One table per slice kind (a slice is named by its kind: permute_1, prefill_wrong, format_text).
ROBUSTNESS_TABLES = {"permutation": "option-order permutations",
                     "prefill": "a wrong answer pre-filled", "format": "another answer format"}
_KIND_PREFIX = {"permutation": "permute", "prefill": "prefill", "format": "format"}


def robustness_table(d: dict, kind: str | None = None) -> list[list]:
    """The slices' rows (all, or one kind of ROBUSTNESS_TABLES)."""
    out = []
    for m, ev in d["evals"].items():
        r = (ev or {}).get("robustness") or {}
        for s, e in r.get("slices", {}).items():
            if kind is not None and not s.startswith(_KIND_PREFIX[kind]):
                continue
            note = (f"adopted the pre-filled letter {e['adopted_wrong']:.1f}%"
                    if "adopted_wrong" in e else
                    f"format followed {e['followed']:.1f}%" if "followed" in e else None)
            ci = f"[{e['ci_lo']:.2f}, {e['ci_hi']:.2f}]" if e.get("n") else None
            out.append([m, s, e["n"], e.get("clean_acc"), e.get("acc"), e.get("diff"), ci,
                        e.get("mcnemar_p"), note])
        if (pm := r.get("permutations")) and pm.get("n") and kind in (None, "permutation"):
            out.append([m, f"permutations (mean of {pm['k']})", pm["n"], pm["clean_acc"],
                        pm["mean_acc"], pm["diff"], f"[{pm['ci_lo']:.2f}, {pm['ci_hi']:.2f}]",
                        None, f"consistency {pm['consistency']:.1f}% over {pm['k'] + 1} orders"])
    return out


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
        "rl_vs_parent": {f"{s['a']}-{s['b']}": {"diff": s.get("diff"),
                                                 "mcnemar_p": s.get("mcnemar_p")}
                         for s in d.get("continued", [])},
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
                 "unextractable outputs are wrong); `strict+judge` adds, for the outputs strict "
                 "reads as no answer, the option a judge model says the output commits to; "
                 "`huatuo` reproduces HuatuoGPT-o1's scorer, max(first-match, last-match) per "
                 "benchmark: optimistic, reported for comparability only.\n")
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

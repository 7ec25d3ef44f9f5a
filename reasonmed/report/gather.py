"""What the report reads: every artifact the paper's tables and figures come from (route,
verify, collect and assemble stats, verdicts, paths, summaries, the dataset composition,
quality scores, SFT metrics and loss curves, evaluation results and predictions, costs),
gathered into one dict. Nothing in the report is typed in: every number comes from here.

    python -c "from reasonmed.report.gather import accuracy_rows; print(accuracy_rows({}, 'strict'))"
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Literal

import numpy as np

from reasonmed.core.params import Section
from reasonmed.core.records import CoTPath, Summary, Verdict, read_jsonl
from reasonmed.core.seeds import path_seed
from reasonmed.method.bootstrap import paired

# Keys of other sections the report reads (dvc.yaml `params:` of the stage lists them).
READS = ("route.bands", "generate.agents", "generate.temperatures",
         "generate.samples_per_temperature", "evaluate.models", "evaluate.n_resamples",
         "evaluate.confidence", "models", "run.seed")
TOTALS = {"micro": "total (micro)", "macro_columns": "total (macro)"}
# The main table's scorers, side by side (never their maximum): reasonmed/method/accuracy.py
SCORERS = {"strict": "strict", "strict_judge": "strict+judge", "huatuo": "huatuo"}


class Params(Section):
    variants: list[str]  # SFT datasets, in table order (the ablation's rows)
    metric: Literal["strict", "huatuo"] = "strict"  # headline accuracy
    dpi: int = 120


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
                 confidence: float, seed: int, pairs: list[tuple[str, str]] | None = None
                 ) -> list[dict]:
    """Every pair of variants (or the given pairs) compared on the items both have a
    prediction for (strict)."""
    out = []
    names = list(preds)
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    for a, b in pairs:
        if a in preds and b in preds:
            shared = sorted(set(preds[a]) & set(preds[b]))
            if not shared:
                out.append({"a": a, "b": b, "n": 0})
                continue
            x = np.array([preds[a][k] for k in shared])
            y = np.array([preds[b][k] for k in shared])
            out.append({"a": a, "b": b, **paired(x, y, n_resamples, confidence,
                                                 path_seed(seed, f"report/{a}/{b}"))})
    return out


def strict_correct(f: Path) -> dict[tuple[str, str], bool]:
    """{(column, question id): strict correctness} of one evaluation's predictions."""
    return {(r["column"], r["question_id"]): bool(r["strict_correct"])
            for r in map(json.loads, f.read_text().splitlines()) if r}


def ordered(rows: dict[str, dict]) -> list[str]:
    """The main table's row order: params order, a row with a `parent` (an RL checkpoint)
    right under that row."""
    kids = {m: r.get("parent") for m, r in rows.items() if (r or {}).get("parent") in rows}
    out = []
    for m in rows:
        if m not in kids:
            out += [m] + [k for k, par in kids.items() if par == m]
    return out


def gather(data: Path, p: Params, params: dict) -> dict:
    """Read every artifact the report needs (streaming the large ones)."""
    rj = lambda f: json.loads((data / f).read_text())  # noqa: E731
    route, asm = rj("route/stats.json"), rj("assemble/stats.json")
    comp: dict = defaultdict(Counter)
    import pyarrow.parquet as pq

    # The variants share rows, so one of them gives the composition of all three.
    t = pq.read_table(data / "assemble/datasets/reasonmed.parquet", columns=["source", "tier"])
    for s, tier in zip(t.column("source").to_pylist(), t.column("tier").to_pylist()):
        comp[s][tier] += 1
    ev = params["evaluate"]
    evals = {m: rj(f"evaluate/{m}/results.json")
             if (data / f"evaluate/{m}/results.json").exists() else None
             for m in ordered(ev["models"])}
    acc_cols, acc = accuracy_rows(evals, p.metric)
    acc_by_metric = {m: accuracy_rows(evals, m)[1] for m in SCORERS}
    preds = {}
    for v in p.variants:  # the ablation: the variants' per-item strict correctness
        f = data / f"evaluate/{v}/predictions.jsonl"
        if v in ev["models"] and f.exists():
            preds[v] = strict_correct(f)
    sig = significance(preds, ev.get("n_resamples", 1000), ev.get("confidence", 0.95),
                       params["run"]["seed"])
    # each row with a parent (RL after SFT) against that row, on the same items
    parents = [(m, r["parent"]) for m, r in ev["models"].items() if r.get("parent")]
    fp = {m: data / f"evaluate/{m}/predictions.jsonl" for pair in parents for m in pair}
    cont = significance({m: strict_correct(f) for m, f in fp.items() if f.exists()},
                        ev.get("n_resamples", 1000), ev.get("confidence", 0.95),
                        params["run"]["seed"], pairs=parents)
    score = rj("score/stats.json")
    loss = {}
    for v in p.variants:
        lines = (data / f"sft/{v}/loss.csv").read_text().splitlines()
        head = lines[0].split(",")
        si, li = head.index("step"), head.index("loss")
        loss[v] = [(int(float(r.split(",")[si])), float(r.split(",")[li])) for r in lines[1:]
                   if r.split(",")[li]]
    n_paths = len(params["generate"]["agents"]) * len(params["generate"]["temperatures"]) * \
        params["generate"].get("samples_per_temperature", 1)
    return {
        "collect": rj("collect/stats.json")["total"], "assemble": asm,
        "composition": {s: dict(c) for s, c in comp.items()},
        "tiers": route["tiers"], "error_hist": route["error_count_histogram"],
        "bands": params["route"]["bands"], "n_paths": n_paths,
        "verify": rj("verify/stats.json"),
        "pass": pass_rates(read_jsonl(data / "verify/verdicts.jsonl", Verdict)),
        "path_words": [words(x.cot) for x in read_jsonl(data / "generate/paths.jsonl", CoTPath)],
        "summary_words": [words(s.summary) for s in
                          read_jsonl(data / "summarize/summaries.jsonl", Summary)],
        "quality": score["variants"], "quality_external": score.get("external", {}),
        "significance": sig, "continued": cont,
        "parents": {m: par for m, par in parents}, "confidence": ev.get("confidence", 0.95),
        "tiny": sorted(r for r, s in (params.get("models") or {}).items()
                       if isinstance(s, dict) and s.get("build")),
        "sft": {v: rj(f"sft/{v}/metrics.json") for v in p.variants},
        "loss": loss, "acc_cols": acc_cols, "acc": acc, "acc_by_metric": acc_by_metric,
        "evals": evals,
        "costs": rj("assemble/costs.json"),
    }

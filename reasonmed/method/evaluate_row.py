"""One row of the evaluation, end to end: the clean run, the robustness slices, the judge
fallback, then the results (the evaluate stage's work; stages/evaluate.py is its entry point).

Order: the model under evaluation answers every item (reasonmed/method/evaluate.py), then the
robustness slices on the same items (reasonmed/method/robustness.py); it is released before
the judge role (reasonmed/method/judge.py) loads, so two local models never share a device.
The judge only adds readings: strict and huatuo are computed from the outputs alone.
Writes predictions.jsonl, robustness.jsonl (empty when no slice is on), failures/failures.jsonl and
results.json; returns what the stage tail writes (stats, ledger, the DVC metric).

    python -m stages.evaluate data/benchmarks /tmp/ev --model student --name base
"""

from __future__ import annotations

import sys
from pathlib import Path

from reasonmed.core.failures import Failures
from reasonmed.core.params import load, load_run, model_spec
from reasonmed.core.records import JsonlWriter, write_json
from reasonmed.llm.client import LLM, Ledger
from reasonmed.method import judge, robustness
from reasonmed.method.accuracy import DEFINITIONS, headline, metrics_of
from reasonmed.method.evaluate import Params, load_items, resolve_model, run, stats_of


def evaluate_row(benchmarks: str, out: Path, model: str, name: str, params: str,
                 limit: int | None = None) -> tuple[dict, Ledger, dict]:
    """Evaluate `model` (a role or a checkpoint) as row `name`; write out/ (see the module
    doc) and return (stats, ledger, headline) for StageRun.finish."""
    run_p = load_run(params, job=f"evaluate-{name}")
    p = load("evaluate", Params, params)
    role, spec = resolve_model(model, p, params)
    llm = LLM(role, spec, run_p, stage="evaluate")
    items, sources = load_items(params, benchmarks, run_p.seed, limit)
    questions = {(b, q.id): q for b, _, q in items}
    failures = Failures("evaluate")
    preds = list(run(items, llm, p, run_p.seed, failures))
    r = p.robustness
    sliced = robustness.subset(items, r.limit, run_p.seed)
    rows = robustness.ask(sliced, llm, p, run_p.seed, failures)
    llm.close()
    judged = None
    if p.judge:
        jspec = model_spec(p.judge, params)
        jllm = LLM(p.judge, jspec, run_p, stage="evaluate", cache=llm.cache, ledger=llm.ledger)
        preds = judge.apply(questions, preds, jllm, p, run_p.seed, failures)
        jllm.close()
        judged = judge.summary(preds, p.judge, jspec.model)
    with JsonlWriter(out / "predictions.jsonl") as w, JsonlWriter(out / "robustness.jsonl") as rw:
        w.write_all(preds)
        rw.write_all(rows)
        failures.settle(out, run_p.max_failure_rate, llm.ledger.to_list())
    metrics = metrics_of(preds, p.n_resamples, p.confidence, run_p.seed, judged=judged is not None)
    robust = robustness.metrics(rows, preds, questions, p, run_p.seed, len(sliced)) \
        if r.permutations or r.prefill_wrong or r.formats else None
    write_json(out / "results.json", {"name": name, "model": spec.model, **metrics,
                                      "judge": judged, "robustness": robust,
                                      "definitions": DEFINITIONS})
    # one line on the terminal; the tables are in results.json and the report
    print(summary_line(name, metrics, robust, out), file=sys.stderr)
    micro = (metrics.get("total") or {}).get("micro") or {}
    stats = {**stats_of(name, spec, llm, sources, w.count, failures),
             "accuracy": {s: micro.get(f"{s}_acc") for s in ("strict", "strict_judge", "huatuo")},
             "judge": judged, "robustness_rows": rw.count}
    head = headline(metrics, len(failures))
    if judged:
        head |= {"judge_agreement": judged["agreement"]["rate"],
                 "judge_kappa": judged["agreement"]["kappa"]}
    return stats, llm.ledger, head


def summary_line(name: str, metrics: dict, robust: dict | None, out: Path) -> str:
    """`evaluate base: strict 26.7% [19.2, 35.0], strict+judge 33.3%, huatuo 35.8% of 120
    items; worst slice permute_1 -5.6 (tables: out/results.json, reports/)`."""
    micro = (metrics.get("total") or {}).get("micro") or {}
    parts = []
    for s, label in (("strict", "strict"), ("strict_judge", "strict+judge"), ("huatuo", "huatuo")):
        if micro.get(f"{s}_acc") is not None:
            ci = (f" [{micro[f'{s}_ci_lo']:.1f}, {micro[f'{s}_ci_hi']:.1f}]" if s == "strict" else "")
            parts.append(f"{label} {micro[f'{s}_acc']:.1f}%{ci}")
    line = f"evaluate {name}: {', '.join(parts)} of {micro.get('n', 0)} items"
    slices = {k: e for k, e in ((robust or {}).get("slices") or {}).items() if e.get("n")}
    if slices:
        worst = min(slices, key=lambda k: slices[k]["diff"])
        line += f"; worst slice {worst} {slices[worst]['diff']:+.1f}"
    return line + f" (tables: {out}/results.json, reports/)"

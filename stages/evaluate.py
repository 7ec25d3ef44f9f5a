"""evaluate: accuracy of one row of `evaluate.models` on the benchmarks, scored strict and huatuo.

Asks the model for one answer per benchmark item and scores each output twice (the method:
reasonmed/method/evaluate.py; accuracies with bootstrap CIs: reasonmed/method/accuracy.py).
Writes predictions.jsonl, results.json, metrics.json, stats.json and ledger.json, and prints
the results table.

    python -m stages.evaluate data/benchmarks data/evaluate/base --model student --name base
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reasonmed.core.failures import Failures
from reasonmed.core.params import load, load_run
from reasonmed.core.records import JsonlWriter, read_jsonl, write_json
from reasonmed.core.stage import StageRun, entry
from reasonmed.llm.client import LLM
from reasonmed.method.accuracy import DEFINITIONS, headline, metrics_of, results_table
from reasonmed.method.evaluate import Params, Prediction, load_items, resolve_model, run, stats_of


def main() -> None:
    ap = argparse.ArgumentParser(description="Evaluate one model on the medical QA benchmarks.")
    ap.add_argument("benchmarks", help="the benchmark stage's folder")
    ap.add_argument("out")
    ap.add_argument("--model", required=True, help="role under `models`, or a checkpoint path")
    ap.add_argument("--name", required=True, help="name of this evaluation (e.g. base, reasonmed)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--limit", type=int, help="at most N items per column (smoke runs)")
    a = ap.parse_args()
    run_p = load_run(a.params, job=f"evaluate-{a.name}")
    p, out, st = load("evaluate", Params, a.params), Path(a.out), StageRun(f"evaluate-{a.name}")
    role, spec = resolve_model(a.model, p, a.params)
    llm = LLM(role, spec, run_p, stage="evaluate")
    items, sources = load_items(a.params, a.benchmarks, run_p.seed, a.limit)
    failures = Failures("evaluate")
    with JsonlWriter(out / "predictions.jsonl") as w:
        w.write_all(run(items, llm, p, run_p.seed, failures))
        failures.settle(out, run_p.max_failure_rate, llm.ledger.to_list())
    metrics = metrics_of(read_jsonl(out / "predictions.jsonl", Prediction), p.n_resamples,
                         p.confidence, run_p.seed)
    write_json(out / "results.json", {"name": a.name, "model": spec.model, **metrics,
                                      "definitions": DEFINITIONS})
    print(results_table(a.name, metrics), file=sys.stderr)
    st.finish(out, stats_of(a.name, spec, llm, sources, w.count, failures), llm.ledger,
              headline=headline(metrics, len(failures)))


if __name__ == "__main__":
    entry(main)

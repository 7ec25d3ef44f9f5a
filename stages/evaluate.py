"""evaluate: accuracy of one row of `evaluate.models` on the benchmarks: strict, strict+judge
and huatuo side by side, and the robustness slices against the clean run.

Asks the model for one answer per benchmark item and scores each output (the method:
reasonmed/method/evaluate.py; the judge fallback: reasonmed/method/judge.py; the slices:
reasonmed/method/robustness.py; the row end to end: reasonmed/method/evaluate_row.py;
accuracies with bootstrap CIs: reasonmed/method/accuracy.py). Writes predictions.jsonl,
robustness.jsonl, failures/failures.jsonl, results.json, metrics.json, stats.json and ledger.json,
and prints one summary line (the tables are in results.json and the report).

    python -m stages.evaluate data/benchmarks data/evaluate/base --model student --name base
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reasonmed.core.stage import StageRun, entry
from reasonmed.method.evaluate_row import evaluate_row


def main() -> None:
    ap = argparse.ArgumentParser(description="Evaluate one model on the medical QA benchmarks.")
    ap.add_argument("benchmarks", help="the benchmark stage's folder")
    ap.add_argument("out")
    ap.add_argument("--model", required=True, help="role under `models`, or a checkpoint path")
    ap.add_argument("--name", required=True, help="name of this evaluation (e.g. base, reasonmed)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--limit", type=int, help="at most N items per column (smoke runs)")
    a = ap.parse_args()
    st, out = StageRun(f"evaluate-{a.name}"), Path(a.out)
    stats, ledger, headline = evaluate_row(a.benchmarks, out, a.model, a.name, a.params, a.limit)
    st.finish(out, stats, ledger, headline=headline)


if __name__ == "__main__":
    entry(main)

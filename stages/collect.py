"""collect: raw MCQs from every configured source -> validated, deduplicated, decontaminated.

Method step S0 (reasonmed/method/collect.py): reads the sources in params `collect.sources`,
rejects malformed records, removes questions that hold an item of the normalised benchmarks
(the benchmark stages' folder; reasonmed/method/decontaminate.py: each a reject naming the
item and the form) and duplicates, and writes OUT/questions.jsonl, rejects/rejects.jsonl,
report.json, stats.json (per benchmark, removals by form) and metrics.json.

    python -m stages.collect data/benchmarks data/collect --params params.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reasonmed.core.params import DEFAULT_PARAMS, load, load_run
from reasonmed.core.records import JsonlWriter, Question, write_json
from reasonmed.core.stage import StageRun, entry, pick
from reasonmed.method.collect import HEADLINE, Params, open_inputs, run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("benchmarks", help="the benchmark stages' folder")
    ap.add_argument("out")
    ap.add_argument("--params", default=DEFAULT_PARAMS)
    a = ap.parse_args(argv)
    st = StageRun("collect", load_run(a.params, seed=False).log_level)  # offline env first
    p = load("collect", Params, a.params)
    records, evals = open_inputs(p, a.params, a.benchmarks)
    out = Path(a.out)
    # rejects/ a folder: DVC warns about an empty file out, not about a folder holding one
    with JsonlWriter(out / "questions.jsonl") as qw, JsonlWriter(out / "rejects/rejects.jsonl") as rw:
        res = run(records, evals, p, sink=lambda r: (qw if isinstance(r, Question) else rw).write(r))
    write_json(out / "report.json", res.report)
    st.finish(out, res.stats, headline=pick(res.stats, HEADLINE))
    print("collect: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in res.stats["total"].items())
          + f" -> {out}", file=sys.stderr)


if __name__ == "__main__":
    entry(main)

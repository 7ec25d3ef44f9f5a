"""lmeval: the benchmarks as lm-evaluation-harness tasks, with the evaluate stage's items and prompts.

Writes OUT/<benchmark>/ (the task YAMLs, the items as JSONL, the tasks' utils.py) and, in OUT,
the two groups, README.md and stats.json (reasonmed/report/lmeval.py), so that
`lm_eval --include_path data/lmeval --tasks reasonmed_medqa --apply_chat_template` runs
offline on the items evaluate scores (how the numbers compare: docs/evaluation.md).

    python -m stages.lmeval data/benchmarks data/lmeval --params params.yaml
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonmed.core.params import load, load_run
from reasonmed.core.stage import StageRun, entry
from reasonmed.report.lmeval import Params, write

log = logging.getLogger("reasonmed.lmeval")


def main() -> None:
    ap = argparse.ArgumentParser(description="Write the benchmarks as lm-evaluation-harness tasks.")
    ap.add_argument("benchmarks", help="the benchmark stage's folder")
    ap.add_argument("out")
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    run_p = load_run(a.params, job="lmeval")  # the seed of evaluate's item sample
    st, p, out = StageRun("lmeval"), load("lmeval", Params, a.params), Path(a.out)
    stats = write(a.benchmarks, out, p, a.params, run_p.seed)
    st.finish(out, stats)
    log.info("lmeval: %d items in %d benchmarks -> %s (lm_eval --include_path %s --tasks %s)",
             stats["items"], len(stats["benchmarks"]), out, out,
             ",".join(t for b in stats["benchmarks"].values() for t in b["tasks"][:1]))


if __name__ == "__main__":
    entry(main)

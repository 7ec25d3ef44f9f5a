"""report: the paper's tables and figures, regenerated from this run's artifacts.

Reads the stats, ledgers, verdicts, paths, summaries, quality scores, SFT curves and
evaluation metrics under the data folder (reasonmed/report/gather.py) and writes `reports/`:
`metrics.json` (DVC metrics), PNG figures, Markdown and LaTeX tables, and `README.md`.

    python -m stages.report data reports --params params.yaml
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonmed.core.params import load, read_params, trace
from reasonmed.core.records import write_json
from reasonmed.core.stage import StageRun, entry
from reasonmed.report.gather import READS, Params, gather
from reasonmed.report.tables import run

log = logging.getLogger("reasonmed.report")


def main() -> None:
    ap = argparse.ArgumentParser(description="Regenerate the paper's tables and figures.")
    ap.add_argument("data", nargs="?", default="data", help="the run's artifacts")
    ap.add_argument("out", nargs="?", default="reports")
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    st, p = StageRun("report"), load("report", Params, a.params)
    for key in READS:  # read from other sections below (dvc.yaml lists them)
        trace(key)
    d = gather(Path(a.data), p, read_params(a.params))
    metrics = run(d, Path(a.out), p)
    write_json(Path(a.out) / "metrics.json", metrics)  # no timings: keeps metrics diffs clean
    st.finish(None, None)
    log.info("report: open %s (tables/, figures/ beside it); the data explorer is "
             "reports/explorer/index.html", Path(a.out) / "README.md")


if __name__ == "__main__":
    entry(main)

"""explore: a static, offline site for looking at one run's data without writing code.

Not a method step: a view over the artifacts under --data (reasonmed/report/explorer.py
lists them and the site's layout). Open reports/explorer/index.html in a browser.

    python -m stages.explore data reports/explorer --params params.yaml
"""

from __future__ import annotations

import argparse
import logging
from contextlib import ExitStack
from pathlib import Path

from reasonmed.core.params import load, read_params, trace
from reasonmed.core.stage import StageRun, entry
from reasonmed.report.explorer import Params, open_streams, read_rollouts, run
from reasonmed.report.site import write_site

log = logging.getLogger("reasonmed.explore")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build the static data explorer.")
    ap.add_argument("data", nargs="?", default="data", help="the run's artifacts")
    ap.add_argument("out", nargs="?", default="reports/explorer")
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args(argv)
    job = StageRun("explore")
    p = load("explore", Params, a.params)
    with ExitStack() as stack:
        streams, missing = open_streams(Path(a.data), stack)
        # RL's rollouts, of the variants rl.variants trains (dvc.yaml deps follow the list)
        trace("rl.variants")
        variants = (read_params(a.params).get("rl") or {}).get("variants") or []
        streams["rollouts"] = read_rollouts(Path(a.data), p.max_chars, variants)
        questions = streams.pop("questions")
        written = write_site(run(questions, streams, p, missing), a.out)
    job.finish(None, None, **written)
    log.info("explore: wrote %d files (%.1f MB) to %s; open %s/index.html", written["files"],
             written["bytes"] / 1e6, a.out, a.out)


if __name__ == "__main__":
    entry(main)

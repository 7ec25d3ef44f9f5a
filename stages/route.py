"""route: easy / medium / difficult per question, by the number of Error verdicts (EMD).

Writes routes.jsonl (one Route per question), stats.json and metrics.json; the bands and the
unparsed-verdict policy are reasonmed/method/route.py. Runs no model.

    python -m stages.route data/collect/questions.jsonl data/verify/verdicts.jsonl data/route
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonmed.core.params import load
from reasonmed.core.records import JsonlWriter, Question, Verdict, read_jsonl
from reasonmed.core.stage import StageRun, entry, pick
from reasonmed.method.route import HEADLINE, Params, Tally, run

log = logging.getLogger("reasonmed.route")


def main() -> None:
    ap = argparse.ArgumentParser(description="Route questions into EMD tiers.")
    for name in ("questions", "verdicts", "out"):
        ap.add_argument(name)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    st = StageRun("route")
    p, out, tally = load("route", Params, a.params), Path(a.out), Tally()
    with JsonlWriter(out / "routes.jsonl") as w:
        for r in run(read_jsonl(a.questions, Question), read_jsonl(a.verdicts, Verdict), p):
            w.write(r)
            tally.add(r)
    stats = tally.stats(p)
    st.finish(out, stats, headline=pick(stats, HEADLINE))
    log.info("route: %s", ", ".join(f"{t} {tally.tiers.get(t, 0)}" for t in ("easy", "medium", "difficult")))


if __name__ == "__main__":
    entry(main)

"""assemble: the ReasonMed / CoTMed / ResponseMed datasets, their accounting and data card.

One SFT row per chosen CoT that survived its tier's pipeline and has a summary, in three
variants that differ only in `output` (reasonmed/method/assemble.py); writes datasets/
(JSONL, Parquet, TRL), accounting.jsonl, stats.json, costs.json and DATA_CARD.md.

    python -m stages.assemble data/collect/questions.jsonl data/collect/stats.json \\
        data/generate/paths.jsonl data/verify/verdicts.jsonl data/route/routes.jsonl \\
        data/rank/scores.jsonl data/rank/chosen.jsonl data/refine/chosen.jsonl \\
        data/optimize/chosen.jsonl data/summarize/summaries.jsonl data/assemble \\
        --ledgers data/{generate,verify,rank,refine,optimize,summarize}/ledger.json \\
        --params params.yaml
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonmed.core.params import load
from reasonmed.core.records import Chosen, Question, Route, Score, Summary, Verdict, read_jsonl, write_json
from reasonmed.core.stage import StageRun, entry, pick
from reasonmed.method import cost
from reasonmed.method.assemble import INPUTS, Params, read_collect, read_ledgers, read_paths, run
from reasonmed.method.datacard import Tally, write_card
from reasonmed.method.formats import write_outputs

log = logging.getLogger("reasonmed.assemble")
# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("rows.reasonmed", "questions_in_datasets", "questions_dropped")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Assemble the three SFT datasets and the data card.")
    for name in INPUTS:
        ap.add_argument(name)
    ap.add_argument("out")
    ap.add_argument("--ledgers", nargs="*", default=[], help="every stage's ledger.json (costs)")
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args(argv)
    job = StageRun("assemble")
    p, cp = load("assemble", Params, a.params), load("cost", cost.Params, a.params)
    out, tally = Path(a.out), Tally()
    rows = write_outputs(run(
        read_jsonl(a.questions, Question), read_jsonl(a.routes, Route), read_jsonl(a.verdicts, Verdict),
        read_jsonl(a.scores, Score), *(read_jsonl(f, Chosen) for f in (a.ranked, a.refined, a.optimized)),
        read_jsonl(a.summaries, Summary), read_paths(a.paths, p.path_provenance), p), out, p, tally)
    costs = cost.cost_table(read_ledgers(a.ledgers), cp)
    st = tally.stats(rows)
    write_json(out / "costs.json", costs)
    job.finish(out, st, headline={**pick(st, HEADLINE), "cost_usd": costs["total"]["usd"]})
    write_card(out / "DATA_CARD.md", st, tally, costs, read_collect(a.collect_stats), p)
    log.info("assemble: %d rows per variant from %d of %d questions (%s dropped)",
             rows["reasonmed"], st["questions_in_datasets"], st["questions_in"],
             st["questions_dropped"])


if __name__ == "__main__":
    entry(main)

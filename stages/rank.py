"""rank: score every Correct path of easy and medium questions 0-5 and keep the top k.

Writes scores.jsonl (one Score per scored path), chosen.jsonl (the top k per question),
ledger.json, stats.json and metrics.json; the ranker's request, selection and counts are
reasonmed/method/rank.py.

    python -m stages.rank data/collect/questions.jsonl data/generate/paths.jsonl \
        data/route/routes.jsonl data/rank
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonmed.core.failures import Failures
from reasonmed.core.params import load, load_run, model_spec
from reasonmed.core.records import CoTPath, JsonlWriter, Question, Route, read_jsonl
from reasonmed.core.stage import StageRun, entry, pick
from reasonmed.llm.client import LLM
from reasonmed.method.rank import HEADLINE, Params, Tally, join, run

log = logging.getLogger("reasonmed.rank")


def main() -> None:
    ap = argparse.ArgumentParser(description="Score Correct paths of easy/medium questions; keep the top k.")
    for name in ("questions", "paths", "routes", "out"):
        ap.add_argument(name)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    run_p, p, out = load_run(a.params), load("rank", Params, a.params), Path(a.out)
    st = StageRun("rank", run_p.log_level)
    llm = LLM(p.model, model_spec(p.model, a.params), run_p, stage="rank")
    triples = join(read_jsonl(a.questions, Question), read_jsonl(a.paths, CoTPath),
                   read_jsonl(a.routes, Route))
    tally, failures = Tally(p.k), Failures("rank")
    with JsonlWriter(out / "scores.jsonl") as ws, JsonlWriter(out / "chosen.jsonl") as wc:
        for x in run(triples, llm, p, run_p.seed, failures):
            ws.write_all(x.scores)
            wc.write_all(x.chosen)
            tally.add(x)
        failures.settle(out, run_p.max_failure_rate, llm.ledger.to_list())
    stats = {**tally.to_dict(llm.ledger.to_list()), **failures.summary()}
    st.finish(out, stats, llm.ledger, headline=pick(stats, HEADLINE))
    log.info("rank: %d paths scored, %d chosen", ws.count, wc.count)


if __name__ == "__main__":
    entry(main)

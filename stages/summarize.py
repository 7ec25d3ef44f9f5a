"""summarize: a concise answer summary ("Response") for every chosen CoT that is kept.

Writes summaries.jsonl (one Summary per summarized CoT, in question order), ledger.json,
stats.json and metrics.json; which CoTs, the prompt and the retries are
reasonmed/method/summarize.py.

    python -m stages.summarize data/collect/questions.jsonl data/rank/chosen.jsonl \\
        data/refine/chosen.jsonl data/optimize/chosen.jsonl data/summarize
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from reasonmed.core.failures import Failures
from reasonmed.core.params import load, load_run, model_spec
from reasonmed.core.records import Chosen, JsonlWriter, Question, read_jsonl
from reasonmed.core.stage import StageRun, entry, pick
from reasonmed.core.streams import join_by_question
from reasonmed.llm.client import LLM
from reasonmed.method.summarize import HEADLINE, Params, count, run, stats_of

log = logging.getLogger("reasonmed.summarize")


def main() -> None:
    ap = argparse.ArgumentParser(description="Summarize every kept chosen CoT.")
    for name in ("questions", "ranked", "refined", "optimized", "out"):
        ap.add_argument(name)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    run_p, p, out = load_run(a.params), load("summarize", Params, a.params), Path(a.out)
    st = StageRun("summarize", run_p.log_level)
    llm, counts = LLM(p.model, model_spec(p.model, a.params), run_p, stage="summarize"), Counter()
    failures = Failures("summarize")
    joined = join_by_question(read_jsonl(a.questions, Question), ranked=read_jsonl(a.ranked, Chosen),
                              refined=read_jsonl(a.refined, Chosen),
                              optimized=read_jsonl(a.optimized, Chosen))
    with JsonlWriter(out / "summaries.jsonl") as w:
        for s in run(joined, llm, p, run_p.seed, counts, failures):
            w.write(s)
            count(counts, s)
        failures.settle(out, run_p.max_failure_rate, llm.ledger.to_list())
    stats = {**stats_of(counts, llm.ledger.to_list(), p), **failures.summary()}
    st.finish(out, stats, llm.ledger, headline=pick(stats, HEADLINE))
    log.info("summarize: %d summaries, %d state a letter", counts["summarized"], counts["with_letter"])


if __name__ == "__main__":
    entry(main)

"""verify: one verdict (Correct/Error) and a short reason per path, against the gold answer.

Writes verdicts.jsonl (one Verdict per path), ledger.json, stats.json and metrics.json; the
request, reply parser and retries are reasonmed/method/verification.py.

    python -m stages.verify data/collect/questions.jsonl data/generate/paths.jsonl data/verify
"""

from __future__ import annotations

import argparse
from itertools import islice
from pathlib import Path

from reasonmed.core.failures import Failures
from reasonmed.core.params import load, load_run, model_spec
from reasonmed.core.records import CoTPath, JsonlWriter, Question, read_jsonl
from reasonmed.core.stage import StageRun, entry, pick
from reasonmed.llm.client import LLM
from reasonmed.method.verification import HEADLINE, Params, Tally, pair_paths, run


def main() -> None:
    ap = argparse.ArgumentParser(description="Verify every path against the gold answer.")
    for name in ("questions", "paths", "out"):
        ap.add_argument(name)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    run_p, p, out = load_run(a.params), load("verify", Params, a.params), Path(a.out)
    st = StageRun("verify", run_p.log_level)
    llm = LLM(p.model, model_spec(p.model, a.params), run_p, stage="verify")
    pairs = islice(pair_paths(read_jsonl(a.questions, Question), read_jsonl(a.paths, CoTPath)), a.limit)
    tally, failures = Tally(), Failures("verify")
    with JsonlWriter(out / "verdicts.jsonl") as w:
        for v, errors in run(pairs, llm, p, failures):
            w.write(v)
            tally.add(v, errors)
        failures.settle(out, run_p.max_failure_rate, llm.ledger.to_list())
    stats = tally.stats(failures, llm.ledger.to_list())
    st.finish(out, stats, llm.ledger, headline=pick(stats, HEADLINE))


if __name__ == "__main__":
    entry(main)

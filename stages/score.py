"""score: grade a seeded sample of each dataset variant, and of each external dataset, 1-10.

Reads <datasets>/<variant>.jsonl for every `score.variants` and <external>/<name>.jsonl for
every entry of params `external`; writes scores.jsonl (one Score per sampled row), ledger.json,
stats.json and metrics.json. The sample, prompt and statistics are reasonmed/method/score.py.

    python -m stages.score data/assemble/datasets data/external data/score
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonmed.core.failures import Failures
from reasonmed.core.params import load, load_run, model_spec
from reasonmed.core.records import JsonlWriter
from reasonmed.core.stage import StageRun, entry, token_totals
from reasonmed.llm.client import LLM
from reasonmed.method.score import Params, external_names, headline, score_set

log = logging.getLogger("reasonmed.score")


def main() -> None:
    ap = argparse.ArgumentParser(description="Score a seeded sample of each dataset variant 1-10.")
    ap.add_argument("datasets")
    ap.add_argument("external", help="the external stage's folder")
    ap.add_argument("out")
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    run_p, p, out = load_run(a.params), load("score", Params, a.params), Path(a.out)
    st = StageRun("score", run_p.log_level)
    external = external_names(a.params, p)
    llm = LLM(p.model, model_spec(p.model, a.params), run_p, stage="score")
    stats: dict = {"variants": {}, "external": {}}
    failures = Failures("score")
    sets = [("variants", v, Path(a.datasets) / f"{v}.jsonl") for v in p.variants] + \
        [("external", x, Path(a.external) / f"{x}.jsonl") for x in external]
    with JsonlWriter(out / "scores.jsonl") as w:
        for group, name, path in sets:
            scores, stats[group][name] = score_set(name, path, llm, p, run_p.seed, failures)
            w.write_all(scores)
        failures.settle(out, run_p.max_failure_rate, llm.ledger.to_list())
    stats = {**stats, **token_totals(llm.ledger.to_list()), **failures.summary()}
    st.finish(out, stats, llm.ledger, headline=headline(stats))
    log.info("score: mean 1-10 score %s", ", ".join(
        f"{v} {s['mean']} (n={s['parsed']})" for g in ("variants", "external")
        for v, s in stats[g].items()))


if __name__ == "__main__":
    entry(main)

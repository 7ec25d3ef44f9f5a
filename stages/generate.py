"""generate: 3 agents x 3 temperatures = 9 chain-of-thought paths per question.

DVC runs `fanout`: Snakemake (Snakefile) runs one `shard` job per agent and shard, then
`gather`, which joins the shards in question order into paths.jsonl with its failures,
ledger, stats and metrics (the method: reasonmed/method/generation.py; the fan-out, shard
jobs and gather: reasonmed/ops/fanout.py).

    python -m stages.generate fanout data/collect/questions.jsonl data/generate --params params.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reasonmed.core.params import load, load_run
from reasonmed.core.stage import StageRun, entry
from reasonmed.method.generation import Params, headline
from reasonmed.ops import fanout


def main() -> int | None:
    ap = argparse.ArgumentParser(description="Generate CoT paths: fan out (DVC's cmd), one "
                                 "shard, or join the shards.")
    ap.add_argument("cmd", choices=["fanout", "shard", "gather"])
    ap.add_argument("questions", nargs="?", default=fanout.QUESTIONS)
    ap.add_argument("out", nargs="?", default="data/generate", help="the folder (a shard: its file)")
    ap.add_argument("--agent")
    ap.add_argument("--shard", default="0/1", help="i/N: contiguous slice i of N")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    p, out = load("generate", Params, a.params), Path(a.out)
    i, k = map(int, a.shard.split("/"))
    job = f"generate-{a.agent}-{i}of{k}" if a.cmd == "shard" else "generate"
    run_p = load_run(a.params, job=job if a.cmd == "shard" else None)
    if a.cmd == "fanout":
        return fanout.fan_out(a.questions, a.out, a.params, p, run_p)
    st = StageRun(job, run_p.log_level)
    if a.cmd == "shard":
        ledger = fanout.run_shard(a.questions, out, a.agent, i, k, p, run_p, a.params, a.limit)
        st.finish(None, None, ledger)
        return None
    g = fanout.gather_shards(a.questions, out, a.params, p)
    st.finish(out, g.stats, ledger_rows=g.ledger, run_rows=g.rows, headline=headline(g.stats))
    fanout.drop_failed(g.shards)
    return None


if __name__ == "__main__":
    entry(main)

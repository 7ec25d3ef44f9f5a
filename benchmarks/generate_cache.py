"""Cold vs warm-cache `generate`: the warm run must make zero model calls (and load no model).

    python benchmarks/generate_cache.py --questions 40
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks._tiny import questions, tiny_model
from reasonmed.core.params import ModelSpec, RunParams
from reasonmed.llm.client import LLM
from reasonmed.method.generation import Params, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--max-tokens", type=int, default=64)
    a = ap.parse_args()
    model = tiny_model()
    cache = Path(tempfile.mkdtemp()) / "cache.sqlite"
    p = Params(agents=["agent"], temperatures=[0.7, 0.9, 1.0], top_p=0.9, max_tokens=a.max_tokens,
               prompt="stages/prompts/generate.md")
    qs = questions(a.questions)
    for label in ("cold", "warm"):
        llm = LLM("agent", ModelSpec(backend="hf", model=model, options={"batch_size": 32}),
                  RunParams(cache=str(cache), progress_every_s=1e9), stage="generate")
        t0 = time.perf_counter()
        paths = list(run(qs, llm, "agent", p, run_seed=42))
        dt = time.perf_counter() - t0
        row = llm.ledger.run_list()[0]  # execution facts (calls, hits, load time) included
        print(f"{label}: {len(paths)} paths in {dt:.2f} s | model calls {row['model_calls']} "
              f"| cache hits {row['cache_hits']} | model load {row['load_s']:.2f} s")


if __name__ == "__main__":
    main()

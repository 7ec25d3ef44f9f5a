"""The generate path on the vLLM backend against a bare `vllm.LLM.chat` on the same engine,
prompts, sampling params and seeds, in one run: what the request cache, keys, chunking and
per-request bookkeeping cost. Runs in the vLLM CPU-build venv (scripts/vllm-cpu-venv.sh) on a
random-weight tiny Llama built by the models stage's code; on a GPU machine pass a real
`--model`. Both arms ask identical seeded requests, so they emit the same tokens; the arms
alternate over `--repeats` rounds (which goes first alternates too); the best round of each
and the median of the rounds' ratios are printed. Target: >= 0.95x.

    .venv-vllm/bin/python benchmarks/vllm_throughput.py --prompts 96 --max-tokens 64
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks._paired import paired_rounds  # noqa: E402
from benchmarks._tiny import questions  # noqa: E402
from reasonmed.core.params import ModelSpec, RunParams  # noqa: E402
from reasonmed.llm.client import LLM  # noqa: E402
from reasonmed.method.generation import Params, requests_for  # noqa: E402
from tests.vllm_helpers import CPU_ENGINE_EXEC, CPU_ENGINE_OPTIONS, build_tiny_llama  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=96)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--model", help="a local model folder (default: a tiny random Llama)")
    a = ap.parse_args()
    model = a.model or str(build_tiny_llama(Path(tempfile.mkdtemp()) / "tiny-llama"))
    p = Params(agents=["agent"], temperatures=[0.7, 0.9, 1.0], top_p=0.9,
               max_tokens=a.max_tokens, prompt="stages/prompts/generate.md")
    reqs = [r[-1] for q in questions(a.prompts // 3) for r in requests_for(q, "agent", p, 1)]
    spec = ModelSpec(backend="vllm", model=model, options=CPU_ENGINE_OPTIONS)
    run = RunParams(progress_every_s=1e9, roles={"agent": CPU_ENGINE_EXEC})
    t0 = time.perf_counter()
    llm = LLM("agent", spec, run.model_copy(update={"cache": tempfile.mkdtemp()}), stage="bench0")
    be = llm.backend  # one engine for both arms: its start-up is not what is measured
    print(f"engine up in {time.perf_counter() - t0:.1f} s")

    def stage_arm(k: int) -> tuple[float, int]:
        # a fresh, empty request cache each round: every request reaches the engine
        fresh = LLM("agent", spec, run.model_copy(update={"cache": tempfile.mkdtemp()}),
                    stage=f"bench{k}", backend_factory=lambda *_: be)
        t = time.perf_counter()
        out = fresh.generate(reqs)
        return time.perf_counter() - t, sum(c.completion_tokens for c in out)

    def bare_arm() -> tuple[float, int]:
        t = time.perf_counter()
        outs = be.llm.chat([r.message_dicts() for r in reqs], [be._params(r) for r in reqs],
                           use_tqdm=False)
        return time.perf_counter() - t, sum(len(o.outputs[0].token_ids) for o in outs)

    print(f"{len(reqs)} requests, max_tokens {a.max_tokens}, model {model}")
    paired_rounds(stage_arm, bare_arm, a.repeats, "bare LLM.chat")


if __name__ == "__main__":
    main()

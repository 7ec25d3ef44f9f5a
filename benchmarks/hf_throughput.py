"""Per-request sampling must not cost speed: the generate path (LLM + hf backend, a cold
request cache) against a bare batched `model.generate`, on the same prompts, batch size and
lengths, in one run.

Both arms sort the prompts by length and cut the same batches; both are forced to emit
exactly `--max-tokens` tokens (no EOS) so tokens/s compare like with like; the arms
alternate over `--repeats` rounds (which goes first alternates too); the best round of each
and the median of the rounds' ratios are printed. Target: the generate
path at >= 0.95x the bare loop's tokens/s.

    python benchmarks/hf_throughput.py --prompts 96 --max-tokens 64 --batch-size 32 --repeats 6
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks._paired import paired_rounds
from benchmarks._tiny import questions, tiny_model
from reasonmed.core.params import ModelSpec, RunParams
from reasonmed.llm.client import LLM
from reasonmed.method.generation import Params, requests_for


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=96)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    path = tiny_model(hidden=a.hidden)
    # One temperature, so the bare loop (one temperature per generate call) can batch alike.
    p = Params(agents=["agent"], temperatures=[0.9], top_p=0.9, max_tokens=a.max_tokens,
               prompt="stages/prompts/generate.md")
    reqs = [r[-1] for q in questions(a.prompts) for r in requests_for(q, "agent", p, 1)]
    spec = ModelSpec(backend="hf", model=path, options={"batch_size": a.batch_size})
    run = RunParams(threads=a.threads, progress_every_s=1e9)

    # One loaded model serves both arms: a model loaded afresh each round pays its first
    # forward passes' page faults and allocator warm-up inside the timed region, which the
    # bare arm's warm model does not (measured: about 5 % at hidden 384).
    be = LLM("agent", spec, run.model_copy(update={"cache": tempfile.mkdtemp()}),
             stage="bare").backend
    be.model.generation_config.eos_token_id = None  # full-length outputs

    def stage_arm(k: int) -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as cache:  # cold cache: every request generated
            llm = LLM("agent", spec, run.model_copy(update={"cache": cache}), stage=f"bench{k}",
                      backend_factory=lambda *_: be)
            t0 = time.perf_counter()
            out = llm.generate(reqs)
            return time.perf_counter() - t0, sum(c.completion_tokens for c in out)
    prompts = [be.render(r) for r in reqs]
    order = sorted(range(len(prompts)), key=lambda i: (len(be.tok(prompts[i]).input_ids), i))

    def bare_arm() -> tuple[float, int]:
        t0, n = time.perf_counter(), 0
        for b in range(0, len(order), a.batch_size):
            batch = [prompts[i] for i in order[b:b + a.batch_size]]
            enc = be.tok(batch, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                out = be.model.generate(**enc, do_sample=True, temperature=0.9, top_p=0.9,
                                        max_new_tokens=a.max_tokens,
                                        pad_token_id=be.tok.pad_token_id)
            n += (out.shape[1] - enc.input_ids.shape[1]) * len(batch)
        return time.perf_counter() - t0, n

    print(f"{len(reqs)} prompts x {a.max_tokens} tokens, batch {a.batch_size}, "
          f"hidden {a.hidden}, torch threads {torch.get_num_threads()}")
    paired_rounds(stage_arm, bare_arm, a.repeats, "bare generate")


if __name__ == "__main__":
    main()

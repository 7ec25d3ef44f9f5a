"""Batched hf generation (the backend) vs a plain one-prompt-at-a-time `model.generate` loop.

    python benchmarks/hf_throughput.py --prompts 36 --max-tokens 64
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks._tiny import questions, tiny_model
from reasonmed.backends.hf import HFBackend
from reasonmed.generation import Params, requests_for
from reasonmed.params import ModelSpec, RunParams


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=36)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    a = ap.parse_args()
    import torch

    path = tiny_model()
    p = Params(agents=["agent"], temperatures=[0.7, 0.9, 1.0], top_p=0.9,
               max_tokens=a.max_tokens, prompt="stages/prompts/generate.md")
    reqs = [r[-1] for q in questions((a.prompts + 2) // 3) for r in requests_for(q, "agent", p, 1)]
    reqs = reqs[:a.prompts]
    be = HFBackend(ModelSpec(backend="hf", model=path, options={"batch_size": a.batch_size}),
                   RunParams())
    # Force full-length outputs in both arms so tokens/s compare like with like.
    be.model.generation_config.eos_token_id = None
    tokens = []
    t0 = time.perf_counter()
    be.generate(reqs, lambda i, c: tokens.append(c.completion_tokens))
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_loop = 0
    for r in reqs:
        enc = be.tok(be.render(r), return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = be.model.generate(**enc, do_sample=True, temperature=r.temperature, top_p=r.top_p,
                                    max_new_tokens=r.max_tokens, pad_token_id=be.tok.pad_token_id)
        n_loop += out.shape[1] - enc.input_ids.shape[1]
    loop = time.perf_counter() - t0
    print(f"prompts {len(reqs)} x {a.max_tokens} new tokens, torch threads {torch.get_num_threads()}")
    print(f"batched backend (batch {a.batch_size}): {batched:.2f} s, {sum(tokens) / batched:.0f} tok/s")
    print(f"plain generate loop:          {loop:.2f} s, {n_loop / loop:.0f} tok/s")
    print(f"speed-up: {loop / batched:.1f}x")


if __name__ == "__main__":
    main()

"""transformers backend: batched chat generation, JSON-schema output through outlines.

Requests are grouped by sampling parameters, sorted by prompt length (less padding) and
generated in fixed-size batches with left padding. transformers has one global RNG, so a
batch is seeded from its requests' seeds: outputs are reproducible for a given batch
composition (the vLLM backend seeds each request on its own).

    python -m reasonmed.llm agent1 "A 30-year-old presents with fever." --max-tokens 32
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from itertools import groupby

from reasonmed.llm import Completion, OnDone, Request
from reasonmed.params import ModelSpec, RunParams

# outlines compiles its mask kernel with torch.compile on first use (~25 s per fresh
# machine) for no speed gain at these sizes.
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")


class HFBackend:
    def __init__(self, spec: ModelSpec, run: RunParams):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        opts = dict(spec.options)
        # Per-model threads: parallel shard jobs on a small machine each want one thread.
        threads = int(opts.pop("threads", run.threads))
        if threads:
            torch.set_num_threads(threads)
        self.batch_size = int(opts.pop("batch_size", 16))
        device = opts.pop("device", "cuda" if torch.cuda.is_available() else "cpu")
        dtype = opts.pop("dtype", "auto")
        self.tok = AutoTokenizer.from_pretrained(spec.model, revision=spec.revision)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            spec.model, revision=spec.revision, dtype=dtype, **opts).to(device).eval()
        self.device = device
        self._outlines = None

    def render(self, req: Request) -> str:
        if self.tok.chat_template:
            return self.tok.apply_chat_template(req.message_dicts(), tokenize=False,
                                                add_generation_prompt=True)
        # Base models without a template: plain turns, then an open assistant turn.
        return "\n\n".join(c for _, c in req.messages) + "\n\nAnswer:\n"

    def generate(self, requests: Sequence[Request], on_done: OnDone) -> None:
        prompts = [self.render(r) for r in requests]
        lengths = [len(self.tok(p, add_special_tokens=False).input_ids) for p in prompts]
        order = sorted(range(len(requests)),
                       key=lambda i: (requests[i].sampling_key().__repr__(), lengths[i], i))
        for _, grp in groupby(order, key=lambda i: repr(requests[i].sampling_key())):
            idx = list(grp)
            for b in range(0, len(idx), self.batch_size):
                batch = idx[b:b + self.batch_size]
                texts = self._generate_batch([prompts[i] for i in batch],
                                             [requests[i] for i in batch])
                for i, (text, n_new, hit_eos) in zip(batch, texts):
                    r = requests[i]
                    finish = "stop" if hit_eos or n_new < r.max_tokens else "length"
                    on_done(i, Completion(text, finish, lengths[i], n_new))

    def _generate_batch(self, prompts: list[str], reqs: list[Request]):
        import torch

        r = reqs[0]
        seed = int(hashlib.sha256(repr([q.seed for q in reqs]).encode()).hexdigest()[:8], 16)
        torch.manual_seed(seed)
        kw = dict(max_new_tokens=r.max_tokens, do_sample=r.temperature > 0,
                  pad_token_id=self.tok.pad_token_id)
        if r.temperature > 0:
            kw.update(temperature=r.temperature, top_p=r.top_p)
        if r.schema is not None:
            return self._generate_json(prompts, r.schema, kw)
        enc = self.tok(prompts, return_tensors="pt", padding=True,
                       add_special_tokens=False).to(self.device)
        with torch.no_grad():
            out = self.model.generate(**enc, **kw)
        new = out[:, enc.input_ids.shape[1]:]
        res = []
        for row in new:
            ids = row.tolist()
            eos = self.tok.eos_token_id
            hit = eos in ids
            ids = ids[:ids.index(eos)] if hit else ids
            ids = [t for t in ids if t != self.tok.pad_token_id]
            res.append((self.tok.decode(ids, skip_special_tokens=True), len(ids) + hit, hit))
        return res

    def _generate_json(self, prompts: list[str], schema: dict, kw: dict):
        """Constrained decoding: every sample is schema-valid unless cut by max_new_tokens."""
        import outlines
        from outlines.types import JsonSchema

        if self._outlines is None:
            self._outlines = outlines.from_transformers(self.model, self.tok)
        gen = outlines.Generator(self._outlines, JsonSchema(schema))
        kw = {k: v for k, v in kw.items() if k != "pad_token_id"}
        texts = gen.batch(prompts, **kw)
        res = []
        for t in texts:
            n = len(self.tok(t, add_special_tokens=False).input_ids)
            res.append((t, n, n < kw["max_new_tokens"]))
        return res

    def close(self) -> None:
        del self.model
        self._outlines = None

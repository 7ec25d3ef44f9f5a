"""transformers backend: batched chat generation with per-request sampling; JSON schemas
through outlines' constrained decoding.

Requests are cut into batches by `reasonmed.llm.batching.plan_batches` (grouped by what a batch must
share, max_tokens and schema; sorted by prompt length, less padding; `batch_size` rows) and
generated with left padding. Temperature and top_p are per row, and every row samples from
its own seed (reasonmed/llm/sampling.py), so a request's sample does not depend on its
batch-mates' seeds. Its float arithmetic does depend on its batch (GEMM tiling, padding
width), so the batch plan is a function of hashed inputs only and the request cache keys
each completion on its batch's composition (reasonmed/llm/client.py). Each finished batch is
reported at once, so the request cache commits whole batches.

options (hashed, in every cache key): dtype, device, attn_implementation, trust_remote_code,
  threads (torch CPU threads; default run.threads: a parallel sum's order follows the
  count), batch_size (rows per batch, default 16: which requests share a batch)

    python -m reasonmed.llm.client agent1 "A 30-year-old presents with fever." --max-tokens 32
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from reasonmed.core.params import ModelSpec, RunParams, did_you_mean
from reasonmed.llm.batching import batch_size_of, plan_batches
from reasonmed.llm.types import Completion, OnDone, Request


class _LengthReminder(logging.Filter):
    """transformers warns once per process when a sequence outgrows the model's position
    table; the outputs already carry that (RoPE extrapolates), and a stage's terminal is
    its progress lines. Only this message is dropped; every other warning stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "friendly reminder" not in record.getMessage()


logging.getLogger("transformers.generation.stopping_criteria").addFilter(_LengthReminder())

# outlines compiles its mask kernel with torch.compile on first use (~25 s per fresh
# machine) for no speed gain at these sizes.
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

OPTIONS = {"dtype", "device", "attn_implementation", "trust_remote_code", "threads",
           "batch_size"}
EXEC: set[str] = set()  # nothing about how hf runs leaves its bytes alone


def check_options(spec: ModelSpec, exec_opts: dict[str, Any]) -> None:
    for k in spec.options:
        if k in EXEC:
            raise ValueError(f"hf option '{k}' says how the model runs: move it to "
                             f"exec.roles.<role>.{k}")
        if k not in OPTIONS:
            raise ValueError(f"unknown hf option '{k}'{did_you_mean(k, OPTIONS | EXEC)}")
    for k in exec_opts:
        if k not in EXEC:
            raise ValueError(f"unknown hf exec option '{k}'{did_you_mean(k, EXEC | OPTIONS)}"
                             + (" (it shapes outputs: set it under models.<role>.options)"
                                if k in OPTIONS else ""))


class HFBackend:
    def __init__(self, spec: ModelSpec, run: RunParams, exec_opts: dict[str, Any] | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        exec_opts = dict(exec_opts or {})
        check_options(spec, exec_opts)
        opts = dict(spec.options)
        opts.pop("threads", None)
        opts.pop("batch_size", None)
        # A fixed count (hashed): the same bytes on a 2-core laptop and a 64-core server.
        threads = run.compute_threads(spec.options)
        if threads:
            torch.set_num_threads(threads)
        self.batch_size = batch_size_of(spec)
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
        self._constraints: dict[str, Any] = {}

    def render(self, req: Request) -> str:
        if self.tok.chat_template:
            return self.tok.apply_chat_template(req.message_dicts(), tokenize=False,
                                                add_generation_prompt=True)
        # Base models without a template: plain turns, then an open assistant turn.
        return "\n\n".join(c for _, c in req.messages) + "\n\nAnswer:\n"

    def generate(self, requests: Sequence[Request], on_done: OnDone) -> None:
        prompts = [self.render(r) for r in requests]
        lengths = [len(self.tok(p, add_special_tokens=False).input_ids) for p in prompts]
        # The LLM layer passes one planned batch per call, in its row order; planning it
        # again changes nothing (a batch is one group, already sorted).
        for batch in plan_batches(requests, self.batch_size):
            outs = self._generate_batch([prompts[i] for i in batch], [requests[i] for i in batch])
            done = []
            for i, (text, n_new, hit_eos) in zip(batch, outs):
                finish = "stop" if hit_eos or n_new < requests[i].max_tokens else "length"
                done.append((i, Completion(text, finish, lengths[i], n_new)))
            on_done(done)

    def _constraint(self, schema: dict):
        """outlines' JSON-schema logits processor (built once per schema; reset per batch)."""
        key = json.dumps(schema, sort_keys=True)
        if key not in self._constraints:
            import outlines
            from outlines.backends import get_json_schema_logits_processor

            if self._outlines is None:
                self._outlines = outlines.from_transformers(self.model, self.tok)
                self.tok.padding_side = "left"  # outlines sets it too; keep ours explicit
            self._constraints[key] = get_json_schema_logits_processor(
                "outlines_core", self._outlines, key)
        proc = self._constraints[key]
        proc.reset()
        return proc

    def _generate_batch(self, prompts: list[str], reqs: list[Request]):
        import copy

        import torch
        from transformers import LogitsProcessorList

        from reasonmed.llm.sampling import SeededSampler

        enc = self.tok(prompts, return_tensors="pt", padding=True,
                       add_special_tokens=False).to(self.device)
        width = enc.input_ids.shape[1]
        procs = [self._constraint(reqs[0].schema)] if reqs[0].schema is not None else []
        procs.append(SeededSampler([r.seed for r in reqs], [r.temperature for r in reqs],
                                   [r.top_p for r in reqs], width))
        gc = copy.deepcopy(self.model.generation_config)
        # Greedy over the sampler's perturbed scores: the sampling happens in SeededSampler.
        gc.do_sample, gc.temperature, gc.top_p, gc.top_k = False, None, None, None
        gc.max_new_tokens, gc.pad_token_id = reqs[0].max_tokens, self.tok.pad_token_id
        with torch.no_grad():
            out = self.model.generate(**enc, generation_config=gc,
                                      logits_processor=LogitsProcessorList(procs))
        res = []
        eos = self.tok.eos_token_id
        for row in out[:, width:]:
            ids = row.tolist()
            hit = eos in ids
            ids = ids[:ids.index(eos)] if hit else ids
            ids = [t for t in ids if t != self.tok.pad_token_id]
            res.append((self.tok.decode(ids, skip_special_tokens=True), len(ids) + hit, hit))
        return res

    def close(self) -> None:
        del self.model
        self._outlines = None
        self._constraints.clear()

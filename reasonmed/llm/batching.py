"""Batch plans for backends that batch on the client side (hf).

    python -c "from reasonmed.llm.batching import plan_batches; print(plan_batches([], 4))"
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from reasonmed.core.params import ModelSpec
from reasonmed.llm.types import Request

# --- batch plans (hf) -------------------------------------------------------------------
#
# On a local float backend a completion is a function of its batch too: CPU GEMM kernels
# cut the batch dimension in tiles (a row's logits differ in the last bits between a batch
# of 5 and one of 32) and left padding follows the longest prompt, so a sampled token can
# flip when a request's batch-mates change (measured: one evaluation prediction in the
# default moved with the batch size). The hf backend therefore computes exactly the
# batches `plan_batches` makes from the call's requests and the role's batch size (a hashed
# option), and each completion's cache key carries its batch's composition: a change of
# company (another batch size, another stage chunk, a question added before it) asks again
# instead of replaying a completion computed among other rows, and a resumed run re-asks
# whole batches of the same plan. vLLM and OpenAI-compatible servers batch on their side,
# so their keys are per request.
BATCH_PLANNED = {"hf"}
DEFAULT_BATCH_SIZE = 16


def batch_size_of(spec: ModelSpec) -> int:
    return int(spec.options.get("batch_size", DEFAULT_BATCH_SIZE))


def plan_batches(requests: Sequence[Request], batch_size: int) -> list[list[int]]:
    """Which requests share a batch, and in which row order: requests that can share one
    (same max_tokens and schema: `sampling_key` without the per-row temperature and top_p)
    in order of first appearance, each group sorted by prompt length in characters (less
    padding; ties keep call order), cut into batches of `batch_size`. A pure function of the
    call's requests, so a resumed or repeated call plans the same batches."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(r.sampling_key()[2:], []).append(i)
    size = max(1, int(batch_size))
    out = []
    for idx in groups.values():
        idx.sort(key=lambda i: (sum(len(c) for _, c in requests[i].messages), i))
        out += [idx[b:b + size] for b in range(0, len(idx), size)]
    return out


def batch_keys(keys: Sequence[str], batches: list[list[int]]) -> list[str]:
    """Each request's key extended with the composition of its batch (its members' keys in
    row order)."""
    out = list(keys)
    for b in batches:
        comp = hashlib.sha256("\n".join(keys[i] for i in b).encode()).hexdigest()
        for i in b:
            out[i] = hashlib.sha256(f"{keys[i]}|batch={comp}".encode()).hexdigest()
    return out

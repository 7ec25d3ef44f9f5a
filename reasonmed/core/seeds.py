"""Per-item seeds: every sampler in the pipeline is seeded from the run seed and an item id.

A seed derived from a stable id (not a position) survives resharding, reordering and
resuming, so a rerun asks the request cache for exactly the same requests.

    python -c "from reasonmed.core.seeds import path_seed; print(path_seed(42, 'q1/agent1/t0s0'))"
"""

from __future__ import annotations

import hashlib


def path_seed(run_seed: int, item_id: str) -> int:
    """A 32-bit seed for `item_id` under `run_seed` (stable across runs and machines)."""
    return int(hashlib.sha256(f"{run_seed}:{item_id}".encode()).hexdigest()[:8], 16)

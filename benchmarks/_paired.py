"""Paired rounds for the throughput benchmarks: the project's generate path against the bare
engine it wraps, on one loaded model, so the ratio is the wrapper's overhead alone."""

import statistics
from collections.abc import Callable

Arm = Callable[[], tuple[float, int]]  # one timed run: (seconds, completion tokens)


def paired_rounds(stage_arm: Callable[[int], tuple[float, int]], bare_arm: Arm, repeats: int,
                  bare_name: str) -> None:
    """Run both arms `repeats` times and print each round and the summary line.

    The bare arm warms up untimed first (the first generate call pays one-off allocations).
    Which arm goes first alternates: on a shared machine the speed drifts between rounds,
    and a fixed order would bias every round's ratio the same way."""
    stage_best = bare_best = 0.0
    ratios = []
    bare_arm()
    for k in range(repeats):
        if k % 2:
            b, nb = bare_arm()
            s, ns = stage_arm(k)
        else:
            s, ns = stage_arm(k)
            b, nb = bare_arm()
        stage_best, bare_best = max(stage_best, ns / s), max(bare_best, nb / b)
        ratios.append((ns / s) / (nb / b))
        print(f"round {k}: generate path {ns / s:,.0f} tok/s ({s:.2f} s, {ns} tokens), "
              f"{bare_name} {nb / b:,.0f} tok/s ({b:.2f} s, {nb} tokens), "
              f"ratio {ratios[-1]:.3f}")
    print(f"best: generate path {stage_best:,.0f} tok/s, bare {bare_best:,.0f} tok/s, "
          f"ratio {stage_best / bare_best:.3f}; median round ratio "
          f"{statistics.median(ratios):.3f} (target >= 0.95)")

"""The one head and tail every stage shares: logging, then stats, ledger and run log.

What a stage writes splits in two:

- artifacts: `metrics.json` (the DVC metric: a handful of headline counts and rates a
  change can move, so `dvc exp show` and `dvc metrics diff` read at a glance), `stats.json`
  (every count, a plain DVC out) and `ledger.json` (requests and tokens per role). Pure
  functions of the stage's inputs: a cold run, a warm rerun and a resumed run write the
  same bytes.
- the run log, `work/runs/<job>.json`: wall time, cache hits, model calls, load and
  generation seconds, devices, and the run-environment record (CPU model and flags, pins,
  threads, library versions, GPU: reasonmed/core/environment.py). It describes one execution,
  so it is never a DVC out and nothing reads it as an input.

    python -c "from reasonmed.core.stage import run_log_path; print(run_log_path('verify'))"
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reasonmed.core.records import write_json

RUNS = Path("work/runs")


def run_log_path(job: str) -> Path:
    return RUNS / f"{job}.json"


class StageRun:
    """One invocation of a stage (or one shard of it): `job` names its run log and cache file."""

    def __init__(self, job: str, log_level: str = "INFO"):
        self.job, self.t0 = job, time.monotonic()
        # library progress bars off: the stages print their own lines (reasonmed/core/progress.py)
        from reasonmed.core.progress import quiet_libraries

        quiet_libraries()
        logging.basicConfig(level=getattr(logging, log_level, logging.INFO), format="%(message)s")

    def finish(self, out: Path | None, stats: dict[str, Any] | None, ledgers=None, *,
               headline: dict[str, Any] | None = None, ledger_rows: list[dict] | None = None,
               run_rows: list[dict] | None = None, **run_extra: Any) -> None:
        """Write out/metrics.json (`headline`), out/stats.json and out/ledger.json
        (artifacts) and the run log. `ledgers`: one reasonmed.llm.client.Ledger or several
        (duck-typed: this module stays free of the LLM code, so stages without a model do
        not depend on it)."""
        if hasattr(ledgers, "to_list"):
            ledgers = [ledgers]
        ledgers = list(ledgers or [])
        if ledger_rows is None and ledgers:
            ledger_rows = [r for lg in ledgers for r in lg.to_list()]
        if run_rows is None:
            run_rows = [r for lg in ledgers for r in lg.run_list()]
        if out is not None:
            if headline is not None:
                write_json(out / "metrics.json", headline)
            if stats is not None:
                write_json(out / "stats.json", stats)
            if ledger_rows is not None:
                write_json(out / "ledger.json", ledger_rows)
        from reasonmed.core.environment import record

        write_json(run_log_path(self.job), {
            "job": self.job, "wall_s": round(time.monotonic() - self.t0, 2),
            "model_calls": sum(r.get("model_calls", 0) for r in run_rows),
            "cache_hits": sum(r.get("cache_hits", 0) for r in run_rows),
            "roles": run_rows, **run_extra,
            # what ran it (CPU, pins, threads, versions, GPU): explains two runs that differ
            "environment": record()})


def pick(stats: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The headline: `keys` (dotted paths into `stats`) as a nested dict; a path that is
    absent is left out (a tier with no question, a role that made no request)."""
    out: dict[str, Any] = {}
    for key in keys:
        v: Any = stats
        for part in key.split("."):
            if not isinstance(v, dict) or part not in v:
                break
            v = v[part]
        else:
            node = out
            *parents, last = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = v
    return out


def rate(n: int | float, d: int | float) -> float | None:
    """n / d rounded for a metrics file; None when d is 0 (no rate, not a zero rate)."""
    return round(n / d, 4) if d else None


def token_totals(rows: Iterable[dict]) -> dict[str, int]:
    """prompt/completion tokens over ledger rows (deterministic: for stats.json)."""
    rows = list(rows)
    return {k: sum(r.get(k, 0) for r in rows) for k in ("prompt_tokens", "completion_tokens")}


class Stopped(Exception):
    """SIGTERM (scancel, a job scheduler, `kill`): stop like Ctrl-C."""


def entry(main: Callable[[], object]) -> None:
    """Run a stage's `main` with a clean stop: SIGINT or SIGTERM end it with one line saying
    what is kept and how to resume, no traceback. Artifacts are written atomically, so a
    stopped stage leaves none half-written; completed requests are already in the cache."""
    def on_term(signum, frame):
        raise Stopped()

    signal.signal(signal.SIGTERM, on_term)
    name = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "stage"
    from reasonmed.core.errors import BudgetExceeded, FatalBackendError

    try:
        code = main()
    except (FatalBackendError, BudgetExceeded) as e:
        print(f"{name}: {e}", file=sys.stderr)  # the one line a person needs, no traceback
        sys.exit(2)
    except (KeyboardInterrupt, Stopped) as e:
        sig = "SIGTERM" if isinstance(e, Stopped) else "SIGINT"
        cache = os.environ.get("REASONMED_CACHE_HINT", "the request cache (exec.cache)")
        print(f"{name}: stopped by {sig}; completed requests are kept in {cache}, no "
              "artifact was half-written; `dvc repro` resumes", file=sys.stderr)
        sys.exit(143 if isinstance(e, Stopped) else 130)
    if isinstance(code, int):
        sys.exit(code)

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
    """SIGTERM (scancel, a job scheduler, `kill`, the parent `dvc` going away): stop like Ctrl-C."""


EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
# What an interrupt outside the stage's work finds: set as the process moves along.
_PHASE = {"now": "while starting; nothing was done yet"}


def _name() -> str:
    return Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "stage"


def _exit_now(signum, frame) -> None:
    """Outside a stage's work (interpreter start, imports, exit hooks): nothing is half done,
    so one line and out, before a library's exit hook can print a traceback. Non-zero even
    when the outputs are complete: the stage was interrupted, DVC must not record it."""
    os.write(2, f"{_name()}: stopped by {signal.Signals(signum).name} {_PHASE['now']}; "
                "`dvc repro` resumes\n".encode())
    os._exit(EXIT[signum])


def guard_process() -> None:
    """Install from the first line a stage runs (stages/__init__.py): an interrupt during the
    seconds of imports exits with one line, and the process dies with its parent. DVC runs a
    stage as its child and, killed by SIGTERM, leaves it running: PR_SET_PDEATHSIG asks Linux
    to send this process SIGTERM when the parent goes, so no stage outlives its `dvc repro`."""
    for sig in EXIT:
        if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup / `&` ignore on purpose
            signal.signal(sig, _exit_now)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() == 1:  # the parent was gone before the request took hold
            _exit_now(signal.SIGTERM, None)
        owner = _owner()
        if owner is not None:
            import threading

            threading.Thread(target=_stop_with, args=(owner,), daemon=True,
                             name="stop-with-owner").start()


# Shells a runner puts between itself and the command. DVC runs a stage through `$SHELL -c`
# and Snakemake its jobs through `bash -c "set -euo pipefail; ..."`: bash execs a single
# command, but dash (Debian's /bin/sh, DVC's shell when SHELL is unset) and any multi-command
# line keep the shell as the stage's parent. That shell outlives its killed runner, so the
# parent-death signal never fires; the stage watches the runner itself.
_SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "mksh", "busybox"}


def _proc(pid: int) -> tuple[str, int, list[str]] | None:
    """(command name, parent pid, argv) from /proc; None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    return name, int(stat[stat.rindex(")") + 2:].split()[1]), argv


def _command_shell(argv: list[str]) -> bool:
    """A shell running one command line (`sh -c`, `bash --norc -c`, `bash -euc`), not an
    interactive shell or a script: a person's terminal is never taken for the runner, so
    `nohup sh -c '...' &` still outlives the logout it was meant to."""
    return any(a.startswith("-") and not a.startswith("--") and "c" in a for a in argv[1:-1])


def _owner() -> int | None:
    """The runner behind the command shells between it and this process, when there are
    any (with none between, the parent-death signal already covers it)."""
    pid, hops = os.getppid(), 0
    while pid > 1 and hops < 8:
        info = _proc(pid)
        if info is None:
            return None
        name, parent, argv = info
        if name not in _SHELLS:
            return pid if hops else None
        if not _command_shell(argv):
            return None
        pid, hops = parent, hops + 1
    return None


def _stop_with(pid: int) -> None:
    """Block until process `pid` ends, then stop this process as its SIGTERM would."""
    import select

    try:
        fd = os.pidfd_open(pid)  # Linux 5.3+: readable once the process has ended
    except ProcessLookupError:
        fd = None
    except (OSError, AttributeError):
        while _proc(pid) is not None:  # older kernels: look every second
            time.sleep(1)
        fd = None
    if fd is not None:
        select.select([fd], [], [])
    os.kill(os.getpid(), signal.SIGTERM)


def entry(main: Callable[[], object]) -> None:
    """Run a stage's `main` with a clean stop: SIGINT or SIGTERM end it with one line saying
    what is kept and how to resume, no traceback, and a non-zero exit (DVC records nothing).
    Artifacts are written atomically, so a stopped stage leaves none half-written; completed
    requests are already in the cache."""
    def on_term(signum, frame):
        raise Stopped()

    ignored = {s for s in EXIT if signal.getsignal(s) is signal.SIG_IGN}
    if signal.SIGINT not in ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.SIGTERM not in ignored:
        signal.signal(signal.SIGTERM, on_term)
    name = _name()
    from reasonmed.core.errors import BudgetExceeded, FatalBackendError
    from reasonmed.core.faults import hold

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
        _PHASE["now"] = "while saving; completed requests are kept"
        _quiet_exit(143 if isinstance(e, Stopped) else 130)
    _PHASE["now"] = ("after its outputs were written; not recorded as done, a rerun replays "
                      "them from the request cache")
    # From here on only exit hooks run (thread pools joining, libraries closing): an
    # interrupt now exits at once, with one line, instead of a traceback and exit 0.
    for sig in EXIT:
        if sig not in ignored:
            signal.signal(sig, _exit_now)
    hold("after_main", name)
    if isinstance(code, int):
        sys.exit(code)


def _quiet_exit(code: int) -> None:
    """Exit after an interrupt: a second Ctrl-C during the exit hooks exits at once too."""
    for sig in EXIT:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _exit_now)
    sys.exit(code)

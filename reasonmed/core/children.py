"""Child processes a stage starts (the generate fan-out's Snakemake and its jobs) stop with it.

    python -c "import subprocess as s, reasonmed.core.children as c; \
        print(c.wait_child(s.Popen(['true'])))"
"""

from __future__ import annotations

import signal
import subprocess

from reasonmed.core.stage import Stopped


def wait_child(proc: subprocess.Popen) -> int:
    """`proc.wait()`, stopping `proc` and everything below it when this process is stopped."""
    try:
        return proc.wait()
    except (KeyboardInterrupt, Stopped) as e:
        # Ctrl-C reached the child and its children too (one process group); SIGTERM (or
        # the parent `dvc` dying) reached only this process. A child that stops (Snakemake)
        # need not stop its own jobs, so signal every process below it (they are still its
        # descendants now), let them stop cleanly (each shard's completions are already
        # cached), and kill what is left: no job outlives the stage.
        # A second signal must not cut the clean-up short (`kill <dvc>` can bring two: the
        # one DVC passes on and the one this process gets when its parent dies): the stage
        # is stopping already, so further ones are ignored until its children are gone.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        stop(proc, None if isinstance(e, KeyboardInterrupt) else signal.SIGTERM)
        raise


def stop(proc: subprocess.Popen, sig: int | None, grace_s: float = 20) -> None:
    """Send `sig` to `proc` and all its descendants (None: they have had Ctrl-C's SIGINT
    already, a second one would cut their clean stop short); kill those alive after
    `grace_s`."""
    import psutil

    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in tree if sig is not None else ():
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()

"""One progress line per interval for every long loop: done/total, rate, ETA.

Every stage's terminal shows the same line shape (LLM requests, generate's fan-out, SFT
steps):

    verify[verifier]: 40/144 requests (28%) | 153.2 tok/s | ETA 00:01:12

The ETA comes from a settled rate: the rate over the last `window_s` seconds (a moving
window, so a slow start or a burst of cache hits does not skew it for long), measured from
`start()` on, so a model load before the first batch is not counted as work time. Until the
rate has settled (a window's worth of time, or a tenth of the work done) the line says
`ETA (settling)` rather than guess. The terminal is no artifact: nothing here is written
to a DVC out.

    python -c "from reasonmed.core.progress import Progress as P; \
        p = P('x', 4, clock=iter(range(9)).__next__); p.start(); p.set(2); print(p.line())"
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger("reasonmed.progress")


# Library progress bars (weight loading, dataset maps, hub downloads, vLLM's loaders) are
# noise in a DAG's log: the stages print this module's lines instead. Environment variables,
# set before the libraries make a bar: tqdm reads TQDM_DISABLE per bar, the hub and datasets
# read theirs at import; setdefault, so a person debugging can turn a bar back on.
QUIET = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
         "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "warning"}


def quiet_libraries() -> None:
    for k, v in QUIET.items():
        os.environ.setdefault(k, v)


def hms(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(max(seconds, 0)))


class Progress:
    """Counts `done` of `total` (and tokens); `emit`s a line at most every `every_s`
    seconds and always when the work is done. `clock` is injectable for tests."""

    def __init__(self, label: str, total: int, unit: str = "requests", every_s: float = 10.0,
                 window_s: float = 60.0, emit: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.label, self.total, self.unit = label, total, unit
        self.every_s, self.window_s = every_s, window_s
        self.emit = emit or log.info
        self.clock = clock
        self.done = self.tokens = 0
        self.samples: list[tuple[float, int, int]] = []  # (time, done, tokens)
        self.last: float | None = None
        self.begun: tuple[float, int] = (0.0, 0)  # (time, done) at start()

    def start(self, done: int = 0, tokens: int = 0) -> Progress:
        """Start the clock now (after any model load): `done` is work found finished."""
        self.done, self.tokens = done, tokens
        now = self.clock()
        self.samples, self.last, self.begun = [(now, done, tokens)], now, (now, done)
        return self

    def update(self, n: int = 1, tokens: int = 0, extra: str = "") -> None:
        """`n` more done, `tokens` more generated."""
        self.set(self.done + n, self.tokens + tokens, extra)

    def set(self, done: int, tokens: int | None = None, extra: str = "") -> None:
        """The running totals (a supervisor that reads counts, a trainer's global step)."""
        if not self.samples:
            self.start()
        self.done = min(done, self.total) if self.total else done
        if tokens is not None:
            self.tokens = tokens
        now = self.clock()
        self.samples.append((now, self.done, self.tokens))
        # keep one sample older than the window: the rate spans the whole window
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.pop(0)
        if now - self.last >= self.every_s or self.done >= self.total:
            self.last = now
            self.emit(self.line(extra))

    def rates(self) -> tuple[float, float, bool]:
        """(units/s, tokens/s, settled) over the window."""
        if not self.samples:
            return 0.0, 0.0, False
        t0, d0, k0 = self.samples[0]
        t1, d1, k1 = self.samples[-1]
        span = t1 - t0
        if span <= 0:
            return 0.0, 0.0, False
        bt, bd = self.begun
        settled = t1 - bt >= self.window_s or (self.total > 0 and d1 - bd >= self.total / 10)
        return (d1 - d0) / span, (k1 - k0) / span, settled

    def eta(self) -> str:
        if self.total and self.done >= self.total:
            return "done"
        rate, _, settled = self.rates()
        if not settled or rate <= 0:
            return "ETA (settling)"
        return "ETA " + hms((self.total - self.done) / rate)

    def line(self, extra: str = "") -> str:
        _, tok_s, _ = self.rates()
        pct = 100 * self.done / max(self.total, 1)
        parts = [f"{self.label}: {self.done}/{self.total} {self.unit} ({pct:.0f}%)",
                 f"{tok_s:.1f} tok/s", *([extra] if extra else []), self.eta()]
        return " | ".join(parts)

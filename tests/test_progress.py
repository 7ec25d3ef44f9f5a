"""The shared progress line (reasonmed/core/progress.py): an ETA from a settled rate, on a
fake clock.

    python -m pytest -q tests/test_progress.py
"""

from reasonmed.core.progress import Progress


class Clock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_the_eta_waits_for_a_settled_rate_and_excludes_the_load():
    clock, lines = Clock(), []
    p = Progress("verify[verifier]", 1000, every_s=10, window_s=60, emit=lines.append,
                 clock=clock)
    clock.t = 300.0  # a five-minute model load before start(): not part of any rate
    p.start()
    clock.t = 310.0
    p.update(20, tokens=2000)  # 2/s, but only 2 % done after 10 s: not settled yet
    assert lines == ["verify[verifier]: 20/1000 requests (2%) | 200.0 tok/s | ETA (settling)"]
    for _ in range(5):  # a minute at 2 requests/s
        clock.t += 10
        p.update(20, tokens=2000)
    assert lines[-1] == "verify[verifier]: 120/1000 requests (12%) | 200.0 tok/s | ETA 00:07:20"


def test_the_rate_is_the_last_window_and_lines_come_once_per_interval():
    clock, lines = Clock(), []
    p = Progress("sft", 400, unit="steps", every_s=10, window_s=30, emit=lines.append,
                 clock=clock).start()
    for _ in range(60):  # a slow start: 1 step/s for a minute
        clock.t += 1
        p.update(1)
    assert len(lines) == 6  # one per 10 s, not one per update
    for _ in range(30):  # then 4 steps/s for 30 s: the window has forgotten the slow start
        clock.t += 1
        p.update(4)
    assert p.done == 180 and lines[-1].endswith("| ETA 00:00:55")  # 220 steps at 4/s
    clock.t += 1
    p.set(400, extra="loss 1.25")
    assert lines[-1].startswith("sft: 400/400 steps (100%) | ") and \
        lines[-1].endswith("| loss 1.25 | done")


def test_a_resumed_count_starts_where_it_was():
    clock, lines = Clock(), []
    p = Progress("generate", 90, unit="paths", every_s=1, emit=lines.append, clock=clock)
    p.start(done=45)  # shards a resumed run finds finished are not counted as speed
    clock.t = 10.0
    p.set(54)
    assert lines == ["generate: 54/90 paths (60%) | 0.0 tok/s | ETA 00:00:40"]

"""Named points where a test can hold a process still, to kill it exactly there.

`REASONMED_HOLD=<point>` (optionally `<job>@<point>`) makes the process that reaches that
point write `$REASONMED_HOLD_MARKER` and wait to be killed. Points: `before_commit:<n>` (the
n-th backend batch is generated but not yet in the cache: a kill mid-batch loses it),
`after_commit:<n>`, `before_outputs` (every request answered, no artifact written yet),
`after_main` (a stage's outputs are written; only exit hooks remain).
Without the variable this is a dictionary lookup and nothing else.

    REASONMED_HOLD=before_commit:2 REASONMED_HOLD_MARKER=/tmp/held dvc repro verify
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def hold(point: str, job: str | None = None) -> None:
    want = os.environ.get("REASONMED_HOLD")
    if not want:
        return
    target_job, _, target = want.rpartition("@")
    if target != point or (target_job and target_job != job):
        return
    marker = os.environ.get("REASONMED_HOLD_MARKER")
    if marker:
        Path(marker).write_text(f"{os.getpid()} {job} {point}\n")
    while True:  # until the test kills us
        time.sleep(0.2)

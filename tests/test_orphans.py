"""No stage outlives the runner that started it, whatever shell stands between them.

DVC runs a stage through `$SHELL -c "<cmd>"`: bash execs a lone command, so the stage's
parent is DVC and the parent-death signal covers it; dash (Debian's /bin/sh, what DVC uses
when SHELL is unset, as on many CI runners) keeps itself as the parent and outlives a killed
DVC. Snakemake's `bash -c "set -euo pipefail; ..."` does the same for every shard. Each row
kills a runner standing in for DVC and expects the stage to stop with its one line.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A stage's first line (stages/__init__.py guards the process), then a long wait.
STAGE = """import os, sys, time
open({pidfile!r}, "w").write(str(os.getpid()))
import stages  # noqa: the guard
open({ready!r}, "w").close()
time.sleep(120)
"""
SHELLS = {
    "bash execs the command": ["/bin/bash", "-c", "{py} {stage}"],
    "dash stays the parent": ["/bin/sh", "-c", "{py} {stage}"],
    "a multi-command line": ["/bin/bash", "-c", "set -euo pipefail; {py} {stage}; echo done"],
    "two shells deep": ["/bin/sh", "-c", "/bin/sh -c '{py} {stage}'; echo done"],
}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death is Linux's")
@pytest.mark.parametrize("shell", SHELLS, ids=list(SHELLS))
def test_a_stage_stops_when_its_runner_is_killed(shell, tmp_path):
    ready, pidfile, log = tmp_path / "ready", tmp_path / "stage.pid", tmp_path / "stage.log"
    script = tmp_path / "stage.py"
    script.write_text(STAGE.format(pidfile=str(pidfile), ready=str(ready)))
    cmd = [part.format(py=sys.executable, stage=script) for part in SHELLS[shell]]
    # The runner: a Python process, as DVC is, that waits on the shell (killed by SIGKILL,
    # so nothing of it can pass a signal on).
    runner = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])", *cmd],
        cwd=ROOT, stderr=open(log, "w"), start_new_session=True)
    try:
        deadline = time.time() + 60
        while not ready.exists():
            assert runner.poll() is None and time.time() < deadline, log.read_text()
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        deadline = time.time() + 10
        while alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        assert not alive(pid), f"{shell}: the stage outlived its runner"
        assert "stopped by SIGTERM" in log.read_text(), log.read_text()
    finally:
        subprocess.run(["pkill", "-KILL", "-s", str(runner.pid)], check=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death is Linux's")
def test_a_shell_running_a_script_is_a_person_s_not_a_runner(tmp_path):
    """The converse: behind `sh -c` stands a shell running a script (as a terminal's shell
    would stand), so nothing is watched; the runner above that dies and the stage lives on,
    as `nohup sh -c '...' &` from a terminal means it to."""
    ready, pidfile = tmp_path / "ready", tmp_path / "stage.pid"
    script = tmp_path / "stage.py"
    script.write_text(STAGE.format(pidfile=str(pidfile), ready=str(ready)))
    (tmp_path / "person.sh").write_text(f"/bin/sh -c '{sys.executable} {script}'\n")
    runner = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])",
         "/bin/bash", str(tmp_path / "person.sh")], cwd=ROOT, start_new_session=True,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not ready.exists():
            assert runner.poll() is None and time.time() < deadline
            time.sleep(0.05)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        time.sleep(2)
        assert alive(int(pidfile.read_text()))
    finally:
        subprocess.run(["pkill", "-KILL", "-s", str(runner.pid)], check=False)


@pytest.mark.parametrize("argv, runs_a_command", [
    (["/bin/sh", "-c", "python -m stages.x"], True),
    (["/bin/bash", "--noprofile", "--norc", "-c", "python -m stages.x"], True),
    (["/usr/bin/bash", "-euc", "set -euo pipefail; python"], True),
    (["-bash"], False),                       # a login shell
    (["/bin/bash"], False),                   # an interactive one
    (["/bin/bash", "job.sh"], False),         # a script (a SLURM batch script)
    (["/bin/bash", "--rcfile", "x", "job.sh"], False),
])
def test_which_shells_run_a_command_line(argv, runs_a_command):
    from reasonmed.core.stage import _command_shell

    assert _command_shell(argv) is runs_a_command

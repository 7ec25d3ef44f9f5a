"""CI's "a fresh clone reproduces the committed dvc.lock" check fails when it should.

DVC's core.autostage (on in this project) stages the dvc.lock a repro writes, so a check
comparing the work tree with the index would pass on any lock: the check compares with
HEAD. Each row changes a fresh repo the way a repro would and expects the check's verdict;
the last row lets real DVC write and stage the lock.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo,
                   check=True, capture_output=True)


def check(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["scripts/check-reproduced.sh"], cwd=repo, capture_output=True,
                          text=True)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/check-reproduced.sh", tmp_path / "scripts")
    for f, text in {"dvc.lock": "schema: '2.0'\n", "data/metrics.json": "{\"n\": 1}\n",
                    "reports/metrics.json": "{\"acc\": 0.5}\n", "notes.md": "x\n"}.items():
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text(text)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    return tmp_path


@pytest.mark.parametrize("change, fails", [
    (None, False),
    ("notes.md", False),                 # outside what the check covers
    ("dvc.lock", True),                  # left unstaged
    ("dvc.lock+stage", True),            # staged, as DVC's autostage does
    ("data/metrics.json", True),
    ("reports/metrics.json+stage", True),
])
def test_the_check_sees_every_change_staged_or_not(repo, change, fails):
    if change:
        path, _, stage = change.partition("+")
        (repo / path).write_text((repo / path).read_text() + "changed\n")
        if stage:
            git(repo, "add", path)
    r = check(repo)
    assert (r.returncode != 0) is fails, r.stdout + r.stderr
    if fails:
        assert "did not reproduce" in r.stderr and change.partition("+")[0] in r.stdout


def test_a_lock_dvc_rewrote_and_staged_itself_fails_the_check(tmp_path):
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)}
    run = lambda *cmd: subprocess.run(cmd, cwd=tmp_path, env=env, check=True,  # noqa: E731
                                      capture_output=True, text=True)
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/check-reproduced.sh", tmp_path / "scripts")
    git(tmp_path, "init", "-q")
    run("dvc", "init", "-q")
    run("dvc", "config", "core.autostage", "true")
    run("dvc", "stage", "add", "-q", "-n", "make", "-o", "out.txt", "echo one > out.txt")
    run("dvc", "repro", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "repro")
    assert check(tmp_path).returncode == 0
    text = (tmp_path / "dvc.yaml").read_text().replace("echo one", "echo two")
    (tmp_path / "dvc.yaml").write_text(text)
    git(tmp_path, "commit", "-qam", "an edit whose lock was not committed")
    run("dvc", "repro", "-q")
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=tmp_path,
                            capture_output=True, text=True).stdout.split()
    assert "dvc.lock" in staged  # DVC staged it: a work-tree-vs-index diff is empty
    r = check(tmp_path)
    assert r.returncode == 1 and "dvc.lock" in r.stdout, r.stdout + r.stderr

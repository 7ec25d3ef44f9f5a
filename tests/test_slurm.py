"""The generate fan-out on a real SLURM cluster that the tests start, not only a dry run.

scripts/slurm-cluster.sh brings up a single-node cluster on this machine (munge, MariaDB,
slurmdbd, slurmctld, slurmd) once for the module and stops it at the end. On a small copy
of the default (6 questions, 2 agents x 2 shards, batches of 4 requests) the tests show:

- `dvc repro generate` with `exec.generate.snakemake` pointing at the shipped SLURM profile
  (configs/slurm, with the site values a real cluster would set on the command line)
  submits one sbatch job per agent x shard plus the gather, each job loads its model once,
  and paths.jsonl is byte-identical to the local run's;
- a shard job cancelled mid-run (`scancel`) and one lost to a node failure (its processes
  and slurmd SIGKILLed, slurmd restarted as after a reboot) are finished by a plain
  `dvc repro generate`: same bytes, and the resumed job takes the committed batch from the
  request cache instead of asking the model again;
- a shard that fails on every attempt stops the run with an error naming the rule, the
  shard and its log files;
- a TP-8 vLLM agent's job asks SLURM for `--gpus=8` (or `--gres=gpu:8`): the submission
  command is checked, nothing is scheduled (this cluster has no GPU);
- SFT runs as a SLURM job under `srun accelerate launch --num_processes 1`, and the
  DeepSpeed ZeRO-3 and FSDP configs pass accelerate's own launch-time validation.

Where the cluster cannot run (not root, no apt-get) the tests skip with the script's reason;
under CI (CI=true) they fail instead. Timings are printed (`pytest -s`): cluster start, job
round trip, local vs SLURM fan-out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, clone_like, sh, upstream

SCRIPT = ROOT / "scripts/slurm-cluster.sh"
CANNOT = 77  # the script's "cannot run here"
DAEMONS = ("slurmctld", "slurmd", "slurmdbd", "mariadbd", "munged")
PARTITION = "debug"  # the test cluster's partition (scripts/slurm-cluster.sh)
BIN = Path(sys.executable).parent
OUTS = ["data/generate/paths.jsonl", "data/generate/ledger.json", "data/generate/stats.json"]
AGENTS, SHARDS, BATCH = ["agent1", "agent2"], 2, 4
# The shipped profile plus what a site sets on the command line: its partition, and (for
# a test) quick polling, a short NFS wait and no retries, so a killed job fails the run.
SLURM = (f"--profile configs/slurm --default-resources slurm_partition={PARTITION} "
         "--slurm-init-seconds-before-status-checks 2 --latency-wait 5 --retries 0")
TIMINGS: dict[str, float] = {}


def timing(name: str, seconds: float) -> None:
    TIMINGS[name] = round(seconds, 1)
    print(f"\nslurm timing: {name} = {seconds:.1f} s")


def cannot_run(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"SLURM test cluster cannot run here: {reason} (under CI these tests must run)")
    pytest.skip(f"SLURM test cluster cannot run here: {reason}")


def live(pid: int) -> bool:
    """Running: not gone and not a zombie (a container's init may reap exited daemons late)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def daemon_pids() -> dict[int, str]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                comm = (d / "comm").read_text().strip()
            except OSError:
                continue
            if comm in DAEMONS and live(int(d.name)):
                out[int(d.name)] = comm
    return out


def script(cmd: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), cmd], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def cluster():
    """The single-node cluster, started once for this module and always stopped after it."""
    if shutil.which("bash") is None:
        cannot_run("no bash")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        cannot_run("the Snakemake SLURM executor plugin is not installed (pip install -e '.[slurm]')")
    before = daemon_pids()  # a laptop's own munge/MariaDB stay up; ours must go
    t0 = time.monotonic()
    r = script("start")
    if r.returncode == CANNOT:
        cannot_run(r.stderr.strip().splitlines()[-1])
    try:
        assert r.returncode == 0, f"cluster start failed:\n{r.stdout}\n{r.stderr}"
        timing("cluster start", time.monotonic() - t0)
        yield before
    finally:
        stop = script("stop")
        left = {p: c for p, c in daemon_pids().items() if p not in before}
        assert stop.returncode == 0 and not left, \
            f"cluster stop left {left}:\n{stop.stdout}\n{stop.stderr}"


# --- the small default and its local reference run -----------------------------------


def edit_params(repo: Path, edit) -> None:
    """Round-trip params.yaml (ruamel, YAML 1.2, as DVC and the stages read it)."""
    from ruamel.yaml import YAML

    y = YAML()
    path = repo / "params.yaml"
    p = y.load(path.read_text())
    edit(p)
    with open(path, "w") as f:
        y.dump(p, f)


def small_default(dst: Path) -> None:
    """6 questions, 2 agents x 2 shards, batches of 4 (9 requests per shard: 4 + 4 + 1),
    only the models the fan-out and SFT use (built as the default builds them, so the
    session's build cache serves them); DAG up to generate."""
    import yaml

    lines = (dst / "assets/questions_sample.jsonl").read_text().splitlines()
    (dst / "assets/questions_sample.jsonl").write_text("\n".join(lines[::8][:6]) + "\n")

    def edit(p):
        p["generate"]["agents"] = AGENTS
        p["generate"]["max_tokens"] = 24
        p["generate"]["batch_questions"] = 3  # a window per shard
        p["exec"]["generate"]["shards"] = SHARDS
        p["exec"]["generate"]["snakemake"] = "--cores 2"
        for a in AGENTS:
            p["models"][a]["options"]["batch_size"] = BATCH
        for role in list(p["models"]):
            if role not in (*AGENTS, "student"):
                del p["models"][role]
        p["evaluate"]["judge"] = AGENTS[0]  # a role that stays (the pre-flight checks it)

    edit_params(dst, edit)
    stages = yaml.safe_load((dst / "dvc.yaml").read_text())["stages"]
    g = stages["generate"]  # one models/<agent> dep and param per agent (dvc.yaml indexes them)
    extra = [f"${{generate.agents[{i}]}}" for i in range(len(AGENTS), 3)]
    g["deps"] = [d for d in g["deps"] if d not in [f"models/{r}" for r in extra]]
    g["params"] = [k for k in g["params"] if k not in [f"models.{r}" for r in extra]]
    keep = upstream(stages, "generate")
    (dst / "dvc.yaml").write_text(yaml.safe_dump({"stages": {k: stages[k] for k in keep}},
                                                 sort_keys=False))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh copy of the small default after a local `dvc repro` (the reference bytes)."""
    dst = clone_like(tmp_path_factory.mktemp("slurm"), edit=small_default)
    sh("dvc", "repro", "models", "collect", cwd=dst)  # everything upstream of generate
    t0 = time.monotonic()
    sh("dvc", "repro", "generate", cwd=dst)
    timing("generate fan-out, local --cores 2 (dvc repro generate)", time.monotonic() - t0)
    return dst, md5(dst / "data/generate/paths.jsonl")


def forget_run(repo: Path) -> None:
    """Make the next `dvc repro generate` run the stage: no outputs, no lock entry and no
    run-cache entry to restore them from."""
    import yaml

    for f in OUTS:
        (repo / f).unlink(missing_ok=True)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    lock["stages"].pop("generate", None)
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    shutil.rmtree(repo / ".dvc/cache/runs", ignore_errors=True)


def forget_shards(repo: Path, jobs: list[str] | None = None) -> None:
    """Drop shard files, cache files and run logs (of `jobs`, e.g. "agent1-0of2"; all)."""
    forget_run(repo)
    for job in jobs or [f"{a}-{i}of{SHARDS}" for a in AGENTS for i in range(SHARDS)]:
        agent, rest = job.split("-")
        for f in (repo / "work/generate" / agent).glob(f"*/{rest}.jsonl*"):
            f.unlink()
        (repo / f".cache/llm/generate-{job}.sqlite").unlink(missing_ok=True)
        (repo / f"work/runs/generate-{job}.json").unlink(missing_ok=True)


def use_slurm(repo: Path, options: str = SLURM) -> None:
    edit_params(repo, lambda p: p["exec"]["generate"].__setitem__("snakemake", options))


def run_log(repo: Path, job: str) -> dict:
    return json.loads((repo / f"work/runs/generate-{job}.json").read_text())


def last_jobid() -> int:
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", "now-1days", "-o", "JobID"],
                         capture_output=True, text=True, check=True).stdout.split()
    return max((int(j) for j in out if j.isdigit()), default=0)


def jobs_since(jobid: int) -> list[dict]:
    """Accounting rows of the jobs submitted after `jobid`: id, state, the executor's comment
    (rule and wildcards) and the exit code."""
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", "now-1days",
                          "-o", "JobID,State,Comment,ExitCode"],
                         capture_output=True, text=True, check=True).stdout
    rows = [dict(zip(("id", "state", "comment", "exit"), line.split("|")))
            for line in out.splitlines() if line]
    return [r for r in rows if r["id"].isdigit() and int(r["id"]) > jobid]


def shard_of_comment(comment: str) -> str | None:
    """rule_generate_shard_wildcards_agent1_<key>_0 -> agent1-0of2"""
    m = re.fullmatch(r"rule_generate_shard_wildcards_(\w+?)_[0-9a-f]{12}_(\d+)", comment)
    return f"{m.group(1)}-{m.group(2)}of{SHARDS}" if m else None


def repro(dst: Path, *, check: bool = True, env: dict | None = None,
          timeout: int = 600) -> subprocess.CompletedProcess:
    """`dvc repro generate` in its own process group; on a timeout the group is killed and
    the run's SLURM jobs cancelled (they would outlive it)."""
    before = last_jobid()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})}
    proc = subprocess.Popen(["dvc", "repro", "generate"], cwd=dst, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException as e:
        os.killpg(proc.pid, signal.SIGKILL)
        for j in jobs_since(before):
            subprocess.run(["scancel", j["id"]], check=False)
        if isinstance(e, subprocess.TimeoutExpired):
            out = proc.communicate()[0]
            raise AssertionError(f"dvc repro generate did not finish in {timeout} s:\n"
                                 f"{out[-4000:]}") from None
        raise
    r = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    if check and r.returncode:
        raise AssertionError(f"dvc repro generate failed:\n{out[-4000:]}")
    return r


@pytest.mark.slow
def test_job_round_trip(cluster, tmp_path):
    t0 = time.monotonic()
    jobid = subprocess.run(["sbatch", "--parsable", "-p", PARTITION, "-o", str(tmp_path / "%j.out"),
                            "--wrap", "true"], capture_output=True, text=True, check=True).stdout
    jobid = jobid.strip().split(";")[0]
    state = ""
    while time.monotonic() - t0 < 60:
        state = subprocess.run(["sacct", "-X", "-n", "-P", "-j", jobid, "-o", "State"],
                               capture_output=True, text=True).stdout.strip()
        if state in ("COMPLETED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.1)
    assert state == "COMPLETED", state
    timing("job round trip (sbatch --wrap true to COMPLETED in sacct)", time.monotonic() - t0)


@pytest.mark.slow
def test_generate_on_slurm_matches_local(cluster, repo):
    dst, reference = repo
    forget_shards(dst)
    use_slurm(dst)
    before = last_jobid()
    t0 = time.monotonic()
    repro(dst)
    timing("generate fan-out, SLURM (dvc repro generate)", time.monotonic() - t0)
    assert md5(dst / "data/generate/paths.jsonl") == reference

    jobs = jobs_since(before)
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    shards = sorted(s for j in jobs if (s := shard_of_comment(j["comment"])))
    assert shards == sorted(f"{a}-{i}of{SHARDS}" for a in AGENTS for i in range(SHARDS)), jobs
    assert [j["comment"] for j in jobs].count("rule_generate_gather") == 1, jobs
    for job in shards:  # one model load per job, every request asked once
        log = run_log(dst, job)
        [role] = log["roles"]
        # one role row, its backend built once (library progress bars, which used to be
        # counted here, are off in every stage)
        assert role["load_s"] > 0 and role["model_calls"] == role["requests"] > 0, log


def hold_then(dst: Path, job: str, point: str, act) -> tuple[int, str]:
    """Run `dvc repro generate` with `job` held at `point`; `act(slurm_jobid, worker_pid)`;
    return (the SLURM job id, the run's output) once the run has failed."""
    marker = dst / "held"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}",
           "REASONMED_HOLD": f"generate-{job}@{point}", "REASONMED_HOLD_MARKER": str(marker)}
    before = last_jobid()
    proc = subprocess.Popen(["dvc", "repro", "generate"], cwd=dst, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{job} never reached {point}:\n{proc.communicate()[0][-3000:]}")
            time.sleep(0.2)
        worker = int(marker.read_text().split()[0])
        environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
        slurm_id = next(v.split(b"=", 1)[1].decode() for v in environ
                        if v.startswith(b"SLURM_JOB_ID="))
        act(int(slurm_id), worker)
        out, _ = proc.communicate(timeout=300)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        for j in jobs_since(before):  # the run's jobs outlive it: never leave one behind
            subprocess.run(["scancel", j["id"]], check=False)
        raise
    assert proc.returncode != 0, f"the run with a killed job claims success:\n{out[-3000:]}"
    return int(slurm_id), out


def resumed(dst: Path, reference: str, job: str) -> None:
    """A plain `dvc repro generate` finishes: same bytes, and the job resumed from its cache
    (batch 1 committed before the kill; batch 2 was generated, never committed)."""
    before = last_jobid()
    repro(dst)
    assert md5(dst / "data/generate/paths.jsonl") == reference
    rerun = [s for j in jobs_since(before) if (s := shard_of_comment(j["comment"]))]
    assert rerun == [job], f"only the killed shard runs again, not {rerun}"
    log = run_log(dst, job)
    [role] = log["roles"]
    assert role["cache_hits"] == BATCH, log
    assert role["model_calls"] == role["requests"] - BATCH, log


@pytest.mark.slow
def test_scancel_mid_run_resumes_from_cache(cluster, repo):
    dst, reference = repo
    forget_shards(dst)
    use_slurm(dst)
    job = f"agent1-0of{SHARDS}"
    slurm_id, out = hold_then(dst, job, "before_commit:2",
                              lambda jobid, worker: subprocess.run(["scancel", str(jobid)], check=True))
    state = subprocess.run(["sacct", "-X", "-n", "-P", "-j", str(slurm_id), "-o", "State"],
                           capture_output=True, text=True).stdout.strip()
    assert state.startswith("CANCELLED"), state
    assert f"SLURM-job '{slurm_id}' failed" in out or "CANCELLED" in out, out[-3000:]
    resumed(dst, reference, job)


@pytest.mark.slow
@pytest.mark.exhaustive  # CI runs the round trip, SLURM = local and the scancel test
def test_node_failure_resumes_from_cache(cluster, repo):
    """SIGKILL the job's processes, their slurmstepd and slurmd, mark the node DOWN (as
    slurmctld does when a node stops answering), then start slurmd again: to SLURM a node
    that crashed and rebooted (NODE_FAIL; the profile forbids a requeue behind Snakemake's
    back)."""
    dst, reference = repo
    job = f"agent2-1of{SHARDS}"
    forget_shards(dst, [job])
    use_slurm(dst)

    def node_failure(jobid: int, worker: int) -> None:
        listed = subprocess.run(["scontrol", "listpids", str(jobid)], capture_output=True,
                                text=True, check=True).stdout.splitlines()[1:]
        pids = {int(line.split()[0]) for line in listed if line.split()} | {worker}
        stepds = set()
        for p in pids:
            try:
                parent = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
                if Path(f"/proc/{parent}/comm").read_text().strip() == "slurmstepd":
                    stepds.add(parent)
            except (OSError, ValueError, IndexError):
                pass
        slurmd = int(Path("/run/slurmd.pid").read_text())
        # the node's daemons first, so nothing is left to report the job's end
        doomed = (slurmd, *stepds, *pids)
        for p in doomed:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 30
        while any(live(p) for p in doomed) and time.monotonic() < deadline:
            time.sleep(0.1)
        # What slurmctld itself does once the dead node misses SlurmdTimeout (300 s by
        # default): mark it DOWN, which ends its jobs as NODE_FAIL. A slurmd restarted before
        # that would re-register with the job simply missing, and the job stays RUNNING.
        subprocess.run(["scontrol", "update", f"nodename={socket.gethostname().split('.')[0]}",
                        "state=down", "reason=simulated node failure"], check=True)
        r = script("start")  # the node comes back (the script resumes a DOWN node)
        assert r.returncode == 0, r.stderr

    slurm_id, out = hold_then(dst, job, "before_commit:2", node_failure)
    state = subprocess.run(["sacct", "-X", "-n", "-P", "-j", str(slurm_id), "-o", "State"],
                           capture_output=True, text=True).stdout.strip()
    assert state == "NODE_FAIL", state
    resumed(dst, reference, job)


@pytest.mark.slow
@pytest.mark.exhaustive  # CI runs the round trip, SLURM = local and the scancel test
def test_a_shard_that_keeps_failing_names_itself_and_its_logs(cluster, repo):
    """The shard's cache file is unusable (a folder stands where the SQLite file goes), so
    every attempt exits 1; with one retry the run stops naming rule, shard and logs."""
    dst, _ = repo
    job = f"agent1-1of{SHARDS}"
    forget_shards(dst, [job])
    use_slurm(dst, SLURM.replace("--retries 0", "--retries 1"))
    broken = dst / f".cache/llm/generate-{job}.sqlite"
    broken.mkdir(parents=True)
    try:
        before = last_jobid()
        r = repro(dst, check=False)
    finally:
        broken.rmdir()
    out = r.stdout
    assert r.returncode != 0
    attempts = [j for j in jobs_since(before) if shard_of_comment(j["comment"]) == job]
    assert [j["state"] for j in attempts] == ["FAILED", "FAILED"], attempts
    # Snakemake's error block for each attempt: rule, the shard's output (agent, key,
    # i of N), its log and the attempt's SLURM log; then the fan-out's own summary.
    errors = out.split("Error in rule generate_shard:")[1:]
    assert len(errors) == 2, out[-4000:]
    shard_log = next((dst / "work/generate/logs").glob("agent1_*_1.log"))
    key = shard_log.stem.split("_")[1]
    for a, block in zip(attempts, errors):
        assert f"SLURM-job '{a['id']}' failed" in block, block
        assert f"output: work/generate/agent1/{key}/1of{SHARDS}.jsonl" in block, block
        assert (f"log: work/generate/logs/{shard_log.name}, {dst}/.snakemake/slurm_logs/"
                f"rule_generate_shard/agent1_{key}_1/{a['id']}.log") in block, block
    assert "unable to open database file" in shard_log.read_text()
    assert "generate: the fan-out failed" in out, out[-4000:]


@pytest.mark.slow
@pytest.mark.exhaustive
@pytest.mark.parametrize("request_syntax, expected", [("gpus", "--gpus=8"), ("gres", "--gres=gpu:8")])
def test_a_tp8_agent_asks_slurm_for_8_gpus(cluster, repo, tmp_path, request_syntax, expected):
    """The shipped profile unchanged (partition `gpu`, absent here): sbatch refuses every
    job, and the executor logs the exact submission command, which is what is checked."""
    dst, _ = repo
    params = dst / f"params-tp8-{request_syntax}.yaml"
    shutil.copy(dst / "params.yaml", params)
    from ruamel.yaml import YAML

    y = YAML()
    p = y.load(params.read_text())
    p["models"]["agent1"]["backend"] = "vllm"
    p["exec"]["roles"]["agent1"] = {"tensor_parallel_size": 8}
    p["models"]["agent2"]["backend"] = "vllm"
    p["exec"]["roles"]["agent2"] = {"tensor_parallel_size": 2, "pipeline_parallel_size": 2}
    p["exec"]["slurm"] = {"gpu_request": request_syntax}
    p["exec"]["generate"]["snakemake"] = "--profile configs/slurm --keep-going --retries 0"
    with open(params, "w") as f:
        y.dump(p, f)
    before = last_jobid()
    r = subprocess.run([sys.executable, "-m", "stages.generate", "fanout", "--params", params.name],
                       cwd=dst, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    out = r.stdout + r.stderr
    try:
        assert r.returncode != 0
        calls = [c for c in re.findall(r"sbatch call:\s*\n\s*(sbatch [^\n]+)", out)]
        assert calls, out[-4000:]
        by_agent = {a: [c for c in calls if f"wildcards_{a}_" in c] for a in AGENTS}
        assert len(by_agent["agent1"]) == SHARDS and len(by_agent["agent2"]) == SHARDS, calls
        four = "--gpus=4" if request_syntax == "gpus" else "--gres=gpu:4"
        for c in by_agent["agent1"]:
            assert expected in c and "-p gpu" in c and "--mem 256000" in c, c
            assert "--cpus-per-task=32" in c, c
        for c in by_agent["agent2"]:
            assert four in c and "--mem 128000" in c and "--cpus-per-task=16" in c, c
    finally:
        for j in jobs_since(before):  # nothing should have been queued; never leave one
            subprocess.run(["scancel", j["id"]], check=False)
    assert not jobs_since(before), "a GPU job was queued on a cluster without GPUs"


@pytest.mark.slow
@pytest.mark.exhaustive  # CI runs the round trip, SLURM = local and the scancel test
def test_sft_runs_as_a_slurm_job_under_srun_accelerate_launch(cluster, repo, tmp_path):
    dst, _ = repo
    rows = [{"id": f"r{i}", "question_id": f"q{i}",
             "instruction": "Please answer the following multiple-choice question:",
             "input": f"Case {i}: which organ pumps blood?\nA. heart\nB. lung",
             "output": "## Thinking\n\nThe heart pumps blood.\n\n## Final Response\n\nThe answer is A."}
            for i in range(8)]
    (dst / "sft_tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cmd = ("srun accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no "
           "--dynamo_backend no -m stages.sft sft_tiny.jsonl data/sft/tiny --params params.yaml")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    t0 = time.monotonic()
    jobid = subprocess.run(["sbatch", "--parsable", "-p", PARTITION, "-J", "sft-tiny",
                            "-o", str(tmp_path / "sft-%j.log"), "--ntasks=1", "--cpus-per-task=1",
                            "--mem=3000", "--wrap", cmd], cwd=dst, env=env, capture_output=True,
                           text=True, check=True).stdout.strip().split(";")[0]
    state = ""
    while time.monotonic() - t0 < 300:
        state = subprocess.run(["sacct", "-X", "-n", "-P", "-j", jobid, "-o", "State"],
                               capture_output=True, text=True).stdout.strip()
        if state and state not in ("PENDING", "RUNNING", "COMPLETING"):
            break
        time.sleep(0.5)
    log = (tmp_path / f"sft-{jobid}.log").read_text()
    assert state == "COMPLETED", f"{state}:\n{log[-3000:]}"
    timing("sft job (srun accelerate launch, sbatch to COMPLETED)", time.monotonic() - t0)
    steps = subprocess.run(["sacct", "-n", "-P", "-j", jobid, "-o", "JobID,JobName,State"],
                           capture_output=True, text=True).stdout
    assert f"{jobid}.0|accelerate|COMPLETED" in steps, steps  # the srun step
    metrics = json.loads((dst / "data/sft/tiny/metrics.json").read_text())
    assert metrics, metrics
    assert (dst / "data/sft/tiny/model/config.json").is_file()


@pytest.mark.slow
def test_stop_leaves_no_daemon(cluster):
    """Last: `stop` ends every daemon the script started, whatever the tests left behind
    (munge or MariaDB that ran before the cluster started, a laptop's own, stay)."""
    r = script("stop")
    assert r.returncode == 0, r.stderr
    left = {p: c for p, c in daemon_pids().items() if p not in cluster}
    assert not left, f"daemons still running after stop: {left}"
    status = script("status")
    assert status.returncode != 0 and "running" not in status.stdout, status.stdout
    print("\nslurm timings:", json.dumps(TIMINGS, indent=1))


# --- without a cluster ----------------------------------------------------------------


ACCELERATE = ["configs/accelerate/deepspeed_zero3.yaml", "configs/accelerate/fsdp.yaml"]


@pytest.mark.parametrize("config", ACCELERATE)
def test_accelerate_config_passes_accelerates_launch_validation(config, monkeypatch):
    """What `accelerate launch --config_file X -m stages.sft ...` does before it starts a
    process: load the file into accelerate's config class (unknown keys fail), validate the
    launch arguments against it, build the launcher environment, and from that environment
    the DeepSpeed / FSDP plugin a training process would build. No GPU and no deepspeed
    package needed."""
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    path = str(ROOT / config)
    cfg = load_config_from_file(path)
    assert isinstance(cfg, ClusterConfig) and cfg.num_processes == 8 and cfg.mixed_precision == "bf16"
    args = launch_command_parser().parse_args(
        ["--config_file", path, "-m", "stages.sft", "in.jsonl", "out", "--params", "params.yaml"])
    args, defaults, mp_from_config = _validate_launch_command(args)
    assert args.num_processes == 8 and args.mixed_precision == "bf16"
    if cfg.distributed_type == DistributedType.DEEPSPEED:
        assert args.use_deepspeed and not args.use_fsdp
        args.deepspeed_fields_from_accelerate_config = ",".join(
            [*defaults.deepspeed_config, *(["mixed_precision"] if mp_from_config else [])])
        _, env = prepare_deepspeed_cmd_env(args)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        plugin = DeepSpeedPlugin()
        zero = plugin.deepspeed_config["zero_optimization"]
        assert plugin.zero_stage == 3 and zero["stage3_gather_16bit_weights_on_model_save"] is True
        assert zero["offload_optimizer"]["device"] == "none"
        # batch sizes and clipping come from the Trainer (sft.config), never this file
        assert plugin.deepspeed_config["train_micro_batch_size_per_gpu"] == "auto"
    else:
        assert cfg.distributed_type == DistributedType.FSDP and args.use_fsdp
        env = prepare_multi_gpu_env(args)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        plugin = FullyShardedDataParallelPlugin()
        assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
        assert plugin.state_dict_type.name == "FULL_STATE_DICT"
        assert plugin.auto_wrap_policy.__name__ == "transformer_auto_wrap_policy"
        assert plugin.cpu_ram_efficient_loading is True


def test_job_resources_come_from_the_model_specs():
    from reasonmed.core.params import read_params
    from reasonmed.ops.slurm import JobResources

    p = read_params(ROOT / "params.yaml")
    r = JobResources(p)
    for a in p["generate"]["agents"]:  # the tiny default: hf on CPU, no GPU asked
        res = r.shard(a)
        assert res["gpus"] == 0 and res["gpu"] is None and res["gres"] is None, res
        assert r.threads(a) == (p["models"][a]["options"].get("threads") or p["run"]["threads"])
    paper = read_params(ROOT / "configs/paper.yaml")
    r = JobResources(paper)
    assert r.shard("agent1")["gpu"] == 8 and r.threads("agent1") == 32
    assert r.shard("agent1")["mem_mb"] == 8 * 32000
    paper["exec"]["slurm"] = {"gpu_request": "gres", "gpu_type": "h100",
                              "roles": {"agent2": {"gpus": 4, "runtime": 60}}}
    r = JobResources(paper)
    assert r.shard("agent1")["gres"] == "gpu:h100:8" and r.shard("agent1")["gpu"] is None
    assert r.shard("agent2")["gres"] == "gpu:h100:4" and r.shard("agent2")["runtime"] == 60
    paper["exec"]["slurm"] = {"partiton": "gpu"}
    with pytest.raises(ValueError, match="exec.slurm.partiton"):
        JobResources(paper)


def test_the_script_says_why_it_cannot_run():
    """Not root: exit 77 (cannot run here) with the reason, for the fixture to skip on."""
    if os.geteuid() != 0:
        r = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True,
                           timeout=60, cwd="/")
    else:
        if shutil.which("runuser") is None:
            pytest.skip("root without runuser: cannot try the script as another user")
        # `nobody` must reach the script: the clone may sit under a folder others cannot
        # enter (a 0750 home, a mktemp -d folder), so it runs a copy in a 0755 folder
        # (the script reads no other file of the repository)
        folder = Path(tempfile.mkdtemp(prefix="reasonmed-slurm-"))
        try:
            folder.chmod(0o755)
            if not all(p.stat().st_mode & 0o001 for p in folder.parents):
                pytest.skip(f"{folder.parent}: the temp folder is not reachable by other users")
            script = folder / SCRIPT.name
            shutil.copyfile(SCRIPT, script)
            script.chmod(0o755)
            r = subprocess.run(["runuser", "-u", "nobody", "--", "bash", str(script), "start"],
                               capture_output=True, text=True, timeout=60, cwd="/")
        finally:
            shutil.rmtree(folder)
    assert r.returncode == CANNOT, (r.returncode, r.stderr)
    assert "cannot run here: needs root" in r.stderr.strip().splitlines()[-1]

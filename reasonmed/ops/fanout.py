"""The generate stage's fan-out: the driver, a shard job, the gather, and the shard layout.

Three processes run `python -m stages.generate`: `fanout` (DVC's cmd, `fan_out`) runs
Snakemake over the Snakefile, whose `generate_shard` rule runs one shard job per agent and
shard (`run_shard`: reasonmed/method/generation.py's `run` over a contiguous slice of the
questions) and whose `generate_gather` rule joins the shards in question order
(`gather_shards`). Shard files are Snakemake-private (work/generate/).

A shard file's path carries a digest of everything that shapes it: the generate stage's
code (its import closure), the prompt file, the questions file, `run.seed`, the agent's
model spec and the content of its model folder, and the `generate` section (its execution
knobs excepted). Any change gives new paths, so a stale shard can never be gathered,
whatever Snakemake's metadata remembers (or forgot); an unchanged input gives the same
paths, so a killed run finds its finished shards and resumes the rest from the request
cache. The shard count is part of the path (`3of8`) but not of the digest: resharding
asks the same requests again and the cache answers them. A shard job writes the sha256 of
its file beside it (`<shard>.sha256`); a shard whose bytes no longer match (edited by hand,
torn by a crash between the two writes) is deleted before Snakemake runs, so it is
regenerated (from the request cache), never gathered. FanoutProgress sums what the shard
jobs report (reasonmed.llm.client.report_progress) into one line on the fan-out's terminal.

    python -m reasonmed.ops.fanout params.yaml
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

from reasonmed.core.children import wait_child
from reasonmed.core.closure import ROOT, closure, files_digest
from reasonmed.core.failures import FAILURES, Failure, Failures
from reasonmed.core.params import RunParams, model_spec, read_params
from reasonmed.core.progress import Progress
from reasonmed.core.records import CoTPath, JsonlWriter, Question, read_jsonl, write_json
from reasonmed.core.streams import join_by_question
from reasonmed.llm.cache import folder_digest
from reasonmed.llm.client import LEDGER_FIELDS, LLM, Ledger
from reasonmed.llm.fingerprint import fingerprint
from reasonmed.method.generation import Params, run, shard_of, stats_of

WORK = Path("work/generate")
QUESTIONS = "data/collect/questions.jsonl"
STAGE = "stages.generate"

log = logging.getLogger("reasonmed.generate")


def code_files() -> list[str]:
    """The generate stage's import closure (what every shard job runs)."""
    return closure(STAGE)


def _file_digest(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        return "missing"
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while b := f.read(1 << 22):
            h.update(b)
    return h.hexdigest()[:16]


class Layout:
    """Shard paths for one params dict (Snakemake's `config`, or a loaded params.yaml)."""

    def __init__(self, config: dict[str, Any], root: Path = ROOT, questions: str = QUESTIONS):
        self.config, self.root = config, root
        g = config["generate"]
        ex = ((config.get("exec") or {}).get("generate")) or {}
        self.agents: list[str] = list(g["agents"])
        self.shards: int = int(ex.get("shards", 1))
        self.cache = (config.get("exec") or {}).get("cache", ".cache/llm")
        self._code = files_digest(code_files(), root)
        self._questions = _file_digest(questions)
        from reasonmed.core.params import trace

        trace("run")  # the shard paths hash the whole `run` section (seed, threads)

    def model_digest(self, agent: str) -> str:
        model = self.config["models"][agent]["model"]
        p = Path(model)
        return folder_digest(p, Path(self.cache) / "fingerprints") if p.is_dir() else "remote"

    def key(self, agent: str) -> str:
        g, spec = self.config["generate"], self.config["models"][agent]
        shaping = {"code": self._code, "questions": self._questions,
                   "prompt": _file_digest(g["prompt"]), "run": self.config["run"],
                   "model": spec, "model_files": self.model_digest(agent),
                   # the libraries and pins that compute the completions (request keys
                   # carry them too: an upgrade asks again, and lands in new shard paths)
                   "compute": fingerprint(spec.get("backend", "hf")), "generate": g}
        blob = json.dumps(shaping, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def shard_path(self, agent: str, shard: int) -> str:
        return str(WORK / agent / self.key(agent) / f"{shard}of{self.shards}.jsonl")

    def shard_paths(self) -> dict[str, list[str]]:
        return {a: [self.shard_path(a, s) for s in range(self.shards)] for a in self.agents}

    def drop_mismatched(self) -> list[str]:
        """Delete every existing shard whose bytes do not match the digest its job wrote
        (or that has none), with its sidecars, so Snakemake regenerates it. Returns them."""
        bad = []
        for f in (Path(x) for fs in self.shard_paths().values() for x in fs):
            if f.exists() and not shard_intact(f):
                bad.append(str(f))
                for side in (f, *sidecars(f)):
                    side.unlink(missing_ok=True)
        return bad

    def prune(self) -> None:
        """Drop shard folders of other keys (an older run's), once this run has gathered."""
        for a in self.agents:
            keep = self.key(a)
            for d in (WORK / a).glob("*") if (WORK / a).is_dir() else []:
                if d.is_dir() and d.name != keep:
                    shutil.rmtree(d, ignore_errors=True)


def sidecars(shard: Path) -> list[Path]:
    return [shard.with_suffix(x) for x in (".sha256", ".ledger.json", ".failures.jsonl")]


def seal(shard: Path) -> None:
    """Record the shard's sha256 beside it (written after the shard lands, atomically)."""
    from reasonmed.core.records import atomic_path

    with atomic_path(shard.with_suffix(".sha256")) as tmp:
        tmp.write_text(_sha256(shard) + "\n", encoding="utf-8")


def shard_intact(shard: Path) -> bool:
    seal_file = shard.with_suffix(".sha256")
    return (shard.is_file() and seal_file.is_file()
            and seal_file.read_text(encoding="utf-8").strip() == _sha256(shard))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(1 << 22):
            h.update(b)
    return h.hexdigest()


class FanoutProgress:
    """The fan-out's overall line (reasonmed/core/progress.py): paths done of the total over
    all agents and shards (cache hits count as done), tokens/s and an ETA from a settled
    rate, read from the files the shard jobs append to, once per `every_s`."""

    def __init__(self, label: str, folder: Path, total: int, every_s: float = 10.0,
                 window_s: float = 60.0, out=None, already: int = 0, clock=time.monotonic):
        """`already`: paths in shard files a resumed run finds finished (not rerun)."""
        self.folder, self.total, self.already = Path(folder), total, already
        self.every_s = max(every_s, 0.5)
        self.out = out or sys.stderr
        # the thread paces the lines; the reporter prints on every reading it is given
        self.progress = Progress(label, total, unit="paths", every_s=0, window_s=window_s,
                                 emit=self._print, clock=clock)
        self._last = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def read(self) -> tuple[int, int]:
        done = tokens = 0
        for f in self.folder.glob("*.progress"):
            for line in f.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) == 2 and all(x.isdigit() for x in parts):  # a torn last line waits
                    done += int(parts[0])
                    tokens += int(parts[1])
        return min(self.already + done, self.total), tokens

    def _print(self, line: str) -> None:
        if line != self._last:  # the closing reading repeats a finished run's last line
            self._last = line
            print(line, file=self.out, flush=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            done, tokens = self.read()
            if tokens == 0:  # jobs still loading models (or only cache hits): no rate yet
                self.progress.start(done, tokens)
                self._print(self.progress.line())
            else:
                self.progress.set(done, tokens)

    def __enter__(self) -> FanoutProgress:
        self.folder.mkdir(parents=True, exist_ok=True)
        for f in self.folder.glob("*.progress"):
            f.unlink()
        self.progress.start(done=self.already)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.progress.set(*self.read())


# --- the three processes: the fan-out (DVC's cmd), a shard job, the gather ---------------


# Snakemake's own banners (a block per job, "N of M steps done", the host) would bury the
# overall line: they go to SNAKEMAKE_LOG, printed only when the run fails. Job errors stay
# in it: Snakemake files them under `rules`, which is not silenced.
QUIET = ("--quiet", "progress", "host", "reason")
SNAKEMAKE_LOG = WORK / "logs" / "snakemake.log"


def snakemake_cmd(questions: str, out: str, params: str, p: Params) -> list[str]:
    """--nolock: DVC already holds the repo lock, and a killed run must not leave a lock that
    the next `dvc repro` trips over; --rerun-incomplete: an interrupted job's output is
    redone (its completions come back from the request cache)."""
    return ["snakemake", "--snakefile", "Snakefile", "--configfile", params,
            "--config", f"params_file={params}", f"questions={questions}", f"out={out}",
            "--nolock", "--rerun-incomplete", *QUIET,
            *shlex.split(p.snakemake), "--allowed-rules", "generate_shard", "generate_gather",
            "--", f"{out}/paths.jsonl"]


def fan_out(questions: str, out: str, params: str, p: Params, run_p: RunParams) -> int:
    """Run the {agent} x {shard} jobs and the gather through Snakemake (DVC's cmd)."""
    cmd = snakemake_cmd(questions, out, params, p)
    log.info("generate: %s", " ".join(shlex.quote(c) for c in cmd))
    if code := preflight(params):
        return code
    layout = Layout(read_params(params), questions=questions)
    for f in layout.drop_mismatched():
        log.warning("generate: %s does not match the digest its job wrote: regenerating it", f)
    n = sum(1 for _ in open(questions, encoding="utf-8"))
    total = n * len(p.agents) * len(p.temperatures) * p.samples_per_temperature
    done = sum(sum(1 for _ in open(f, encoding="utf-8"))
               for fs in layout.shard_paths().values() for f in fs
               if Path(f).exists())  # shards a resumed run keeps
    progress = FanoutProgress("generate", WORK / "progress", total, run_p.progress_every_s,
                              already=done)
    SNAKEMAKE_LOG.parent.mkdir(parents=True, exist_ok=True)
    with progress, open(SNAKEMAKE_LOG, "w", encoding="utf-8") as sm_log:
        proc = subprocess.Popen(cmd, stdout=sm_log, stderr=subprocess.STDOUT,
                                env={**os.environ, "REASONMED_PROGRESS_DIR":
                                     str((WORK / "progress").resolve())})
        code = wait_child(proc)
    if code == 0:
        layout.prune()
    else:
        print(failure_report(SNAKEMAKE_LOG.read_text(encoding="utf-8", errors="replace")),
              file=sys.stderr)
        log.error("generate: the fan-out failed (exit %s); shard logs: work/generate/logs/. "
                  "Finished completions are in the request cache (%s): `dvc repro` resumes",
                  code, run_p.cache)
    return code


def failure_report(output: str, tail: int = 20) -> str:
    """Snakemake's output (quieted, so mostly the error blocks), then the last `tail` lines
    of each log a failed job names."""
    logs = []
    for m in re.finditer(r"^\s*log: (.+?)(?: \(check log file\(s\) for error details\))?$",
                         output, re.M):
        logs += [x for x in m.group(1).split(", ") if x not in logs]
    parts = [output.rstrip()]
    for f in (Path(x) for x in logs):
        if f.is_file():
            lines = f.read_text(encoding="utf-8", errors="replace").splitlines()[-tail:]
            parts.append(f"--- {f} (last {len(lines)} lines) ---\n" + "\n".join(lines))
    return "\n".join(parts)


def preflight(params: str) -> int:
    """The pre-flight check (reasonmed/ops/check.py) before days of compute: every section,
    role and the SFTConfig, not only generate's. A subprocess, not an import: it shapes no
    byte of the output, so it is no dependency of this stage. `--once`: a pass is
    remembered for the same params bytes, so a resumed fan-out, or one that `make repro`
    has just checked, does not pay for it again."""
    return subprocess.run([sys.executable, "-m", "reasonmed.ops.check", "--quiet", "--once",
                           "--params", params]).returncode



def run_shard(questions: str, out: Path, agent: str, shard: int, n_shards: int, p: Params,
              run_p: RunParams, params: str, limit: int | None = None) -> Ledger:
    """One shard job: `agent`'s paths for shard `shard` of `n_shards` of the questions into
    `out`, its failures and full ledger beside it, then its seal. Returns the ledger."""
    n = sum(1 for _ in read_jsonl(questions, Question))
    # the k shard jobs of this agent share its concurrency bound (exec.roles.<agent>)
    llm = LLM(agent, model_spec(agent, params), run_p, stage="generate", share=n_shards)
    qs = islice(shard_of(read_jsonl(questions, Question), shard, n_shards, n, p.batch_questions),
                limit)
    failures = Failures("generate")
    with JsonlWriter(out) as w:
        w.write_all(run(qs, llm, agent, p, run_p.seed, failures))
        failures.write(out.with_suffix(".failures.jsonl"))
        # Over budget: no shard file, so the next run asks the failed requests again
        # (the completed ones come back from the cache).
        failures.check(run_p.max_failure_rate, str(out.with_suffix(".failures.jsonl")),
                       llm.ledger.to_list())
        # The shard's full ledger (execution facts too) sits beside it for gather to
        # merge; written before the shard file lands, so a shard never lacks one.
        write_json(out.with_suffix(".ledger.json"), llm.ledger.run_list())
    seal(out)  # after the shard lands: a shard without its digest is regenerated
    return llm.ledger


def gather(questions: Iterable[Question], shard_files: dict[str, list[Path]],
           agents: list[str]) -> Iterator[CoTPath]:
    """Join per-agent shard files into one stream: question by question, agents in order."""
    streams = {a: (p for f in shard_files[a] for p in read_jsonl(f, CoTPath)) for a in agents}
    for _, *per_agent in join_by_question(questions, **streams):
        for paths in per_agent:
            yield from paths


class Gathered(NamedTuple):
    stats: dict[str, Any]
    ledger: list[dict]  # the artifact's rows (LEDGER_FIELDS)
    rows: list[dict]  # the run log's rows (execution facts too)
    shards: list[Path]


def gather_shards(questions: str, out: Path, params: str, p: Params) -> Gathered:
    """Join the shards into out/paths.jsonl and their failures into out/failures/;
    merge their ledgers. Stops on a shard that does not match its seal."""
    n = sum(1 for _ in read_jsonl(questions, Question))
    layout = Layout(read_params(params), questions=questions)
    files = {ag: [Path(f) for f in fs] for ag, fs in layout.shard_paths().items()}
    failures = Failures("generate")
    for f in (f for fs in files.values() for f in fs):
        if not shard_intact(f):  # the fan-out drops such shards first; a direct gather stops
            raise SystemExit(f"generate: {f} does not match the digest its job wrote "
                             "(edited or torn): rerun the fan-out to regenerate it")
        failures.extend(list(read_jsonl(f.with_suffix(".failures.jsonl"), Failure)))
    with JsonlWriter(out / "paths.jsonl") as w:
        w.write_all(gather(read_jsonl(questions, Question), files, p.agents))
    rows = Ledger.merge([json.loads(f.with_suffix(".ledger.json").read_text())
                         for fs in files.values() for f in fs])
    ledger = [{k: v for k, v in r.items() if k in LEDGER_FIELDS} for r in rows]
    failures.write(out / FAILURES)
    stats = {**stats_of(out / "paths.jsonl", ledger, n), **failures.summary()}
    return Gathered(stats, ledger, rows, [f for fs in files.values() for f in fs])


def drop_failed(shards: list[Path]) -> None:
    """A shard that finished with failures (within the budget) is dropped once gathered:
    `dvc repro -f -s generate` then asks exactly its failed requests again."""
    for f in shards:
        if f.with_suffix(".failures.jsonl").stat().st_size:
            f.unlink()

if __name__ == "__main__":
    from reasonmed.core.params import read_params

    for agent, paths in Layout(read_params(sys.argv[1] if len(sys.argv) > 1 else "params.yaml"))\
            .shard_paths().items():
        print(agent, *paths)

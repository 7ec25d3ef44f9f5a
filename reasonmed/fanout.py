"""The generate fan-out's shard layout, shared by the Snakefile and the generate stage.

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
jobs report (reasonmed.llm.report_progress) into one line on the fan-out's terminal.

    python -m reasonmed.fanout params.yaml
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from reasonmed.cache import folder_digest
from reasonmed.fingerprint import fingerprint
from reasonmed.wiring import ROOT, closure, files_digest

WORK = Path("work/generate")
QUESTIONS = "data/collect/questions.jsonl"
STAGE = "stages.generate"


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

    def __init__(self, config: dict[str, Any], root: Path = ROOT):
        self.config, self.root = config, root
        g = config["generate"]
        ex = ((config.get("exec") or {}).get("generate")) or {}
        self.agents: list[str] = list(g["agents"])
        self.shards: int = int(ex.get("shards", 1))
        self.cache = (config.get("exec") or {}).get("cache", ".cache/llm")
        self._code = files_digest(code_files(), root)
        self._questions = _file_digest(QUESTIONS)
        from reasonmed.params import trace

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
    from reasonmed.records import atomic_path

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
    """The fan-out's overall line: paths done of the total (cache hits count as done),
    tokens/s and an ETA from the rate over the last `window_s` seconds, shown only once the
    rate has settled (a minute of generation, or a tenth of the work)."""

    def __init__(self, label: str, folder: Path, total: int, every_s: float = 10.0,
                 window_s: float = 60.0, out=None, already: int = 0):
        """`already`: paths in shard files a resumed run finds finished (not rerun)."""
        self.label, self.folder, self.total, self.already = label, Path(folder), total, already
        self.every_s, self.window_s = max(every_s, 0.5), window_s
        self.out = out or sys.stderr
        self.samples: list[tuple[float, int, int]] = []  # (time, done, tokens)
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

    def line(self, now: float, done: int, tokens: int) -> str:
        self.samples.append((now, done, tokens))
        t0, d0, k0 = next(((t, d, k) for t, d, k in self.samples if now - t <= self.window_s),
                          self.samples[0])
        span = max(now - t0, 1e-9)
        first = self.samples[0]
        settled = now - first[0] >= self.window_s or done - first[1] >= self.total / 10
        rate = (done - d0) / span
        if done >= self.total:
            eta = "done"
        elif settled and rate > 0:
            eta = "ETA " + time.strftime("%H:%M:%S", time.gmtime((self.total - done) / rate))
        else:
            eta = "ETA (settling)"
        return (f"{self.label}: {done}/{self.total} paths ({100 * done / max(self.total, 1):.0f}%)"
                f" | {(tokens - k0) / span:.1f} tok/s | {eta}")

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            print(self.line(time.monotonic(), *self.read()), file=self.out, flush=True)

    def __enter__(self) -> FanoutProgress:
        self.folder.mkdir(parents=True, exist_ok=True)
        for f in self.folder.glob("*.progress"):
            f.unlink()
        self.samples = [(time.monotonic(), self.already, 0)]
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        print(self.line(time.monotonic(), *self.read()), file=self.out, flush=True)


if __name__ == "__main__":
    from reasonmed.params import read_params

    for agent, paths in Layout(read_params(sys.argv[1] if len(sys.argv) > 1 else "params.yaml"))\
            .shard_paths().items():
        print(agent, *paths)

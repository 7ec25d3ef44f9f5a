"""The generate fan-out's shard layout, shared by the Snakefile and the generate stage.

A shard file's path carries a digest of everything that shapes it: the generate stage's
code (its import closure), the prompt file, the questions file, `run.seed`, the agent's
model spec and the content of its model folder, and the `generate` section (its execution
knobs excepted). Any change gives new paths, so a stale shard can never be gathered,
whatever Snakemake's metadata remembers (or forgot); an unchanged input gives the same
paths, so a killed run finds its finished shards and resumes the rest from the request
cache. The shard count is part of the path (`3of8`) but not of the digest: resharding
asks the same requests again and the cache answers them.

    python -m reasonmed.fanout params.yaml
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from reasonmed.cache import folder_digest
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

    def model_digest(self, agent: str) -> str:
        model = self.config["models"][agent]["model"]
        p = Path(model)
        return folder_digest(p, Path(self.cache) / "fingerprints") if p.is_dir() else "remote"

    def key(self, agent: str) -> str:
        g = self.config["generate"]
        shaping = {"code": self._code, "questions": self._questions,
                   "prompt": _file_digest(g["prompt"]), "seed": self.config["run"]["seed"],
                   "model": self.config["models"][agent], "model_files": self.model_digest(agent),
                   "generate": g}
        blob = json.dumps(shaping, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def shard_path(self, agent: str, shard: int) -> str:
        return str(WORK / agent / self.key(agent) / f"{shard}of{self.shards}.jsonl")

    def shard_paths(self) -> dict[str, list[str]]:
        return {a: [self.shard_path(a, s) for s in range(self.shards)] for a in self.agents}

    def prune(self) -> None:
        """Drop shard folders of other keys (an older run's), once this run has gathered."""
        for a in self.agents:
            keep = self.key(a)
            for d in (WORK / a).glob("*") if (WORK / a).is_dir() else []:
                if d.is_dir() and d.name != keep:
                    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    from reasonmed.params import read_params

    for agent, paths in Layout(read_params(sys.argv[1] if len(sys.argv) > 1 else "params.yaml"))\
            .shard_paths().items():
        print(agent, *paths)

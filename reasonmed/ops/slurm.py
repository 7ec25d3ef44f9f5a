"""What one generate fan-out job asks a scheduler for, derived from the model it serves.

The Snakefile's `generate_shard` and `generate_gather` rules take their `threads:` and
`resources:` from here, so a SLURM job (configs/slurm, the executor plugin) or a local run
(`--resources gpus=8`) reserves what the agent's model needs:

- GPUs: a `vllm` agent holds `tensor_parallel_size x pipeline_parallel_size` of
  `exec.roles.<agent>` (vLLM's default: 1); `hf` and `openai` agents hold none (the tiny
  default runs on CPU). `exec.slurm.roles.<agent>.gpus` overrides. The request goes out as
  resource `gpu` (the plugin writes `--gpus=N`, or `--gpus=<type>:N` with
  `exec.slurm.gpu_type`) or, with `exec.slurm.gpu_request: gres`, as `--gres=gpu:[<type>:]N`;
  `gpus` carries the same number for a local run's `--resources gpus=N`.
- CPUs (`threads`, which the plugin turns into `--cpus-per-task`): `cpus_per_gpu` per GPU, or
  the role's torch threads (`models.<agent>.options.threads`, else `run.threads`, at least
  1: the count is hashed, so the job reserves what the computation uses).
- memory (`mem_mb`) and wall time (`runtime`, minutes): `mem_mb_per_gpu` per GPU (at least
  `mem_mb`) and `runtime`; the gather job has its own small figures.
- no partition, account or QoS: those are site facts and live in the profile
  (configs/slurm: `default-resources`, and `set-resources` per rule, which also overrides any
  size computed here). A resource a rule sets, even to nothing, hides the profile's default
  for it, so the rules set only the sizes.

Every knob is optional, under `exec.slurm` (how the run executes: never hashed):

    exec:
      slurm:
        gpu_request: gpus        # gpus (--gpus=N) | gres (--gres=gpu:N)
        gpu_type: null           # e.g. a100: --gpus=a100:8
        cpus_per_gpu: 4
        mem_mb_per_gpu: 32000
        mem_mb: 2000             # a CPU job, and the floor of a GPU job
        runtime: 720             # minutes per shard job
        gather: {mem_mb: 2000, runtime: 60, threads: 1}
        roles: {agent1: {gpus: 8, mem_mb: 400000, runtime: 1440}}   # per-agent overrides

    python -m reasonmed.ops.slurm params.yaml      # the resources of every job
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

DEFAULTS: dict[str, Any] = {
    "gpu_request": "gpus", "gpu_type": None, "cpus_per_gpu": 4, "mem_mb_per_gpu": 32000,
    "mem_mb": 2000, "runtime": 720,
    "gather": {"mem_mb": 2000, "runtime": 60, "threads": 1}, "roles": {},
}
ROLE_KEYS = {"gpus", "cpus", "mem_mb", "runtime"}


class JobResources:
    """Scheduler requests of the fan-out's jobs for one params dict (Snakemake's `config`)."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        ex = config.get("exec") or {}
        given = dict(ex.get("slurm") or {})
        unknown = set(given) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"exec.slurm.{sorted(unknown)[0]} is not a SLURM knob "
                             f"(known: {', '.join(sorted(DEFAULTS))})")
        self.s = {**DEFAULTS, **given}
        self.s["gather"] = {**DEFAULTS["gather"], **(given.get("gather") or {})}
        if self.s["gpu_request"] not in ("gpus", "gres"):
            raise ValueError(f"exec.slurm.gpu_request must be gpus or gres, not "
                             f"{self.s['gpu_request']!r}")
        for role, over in (self.s["roles"] or {}).items():
            bad = set(over or {}) - ROLE_KEYS
            if bad:
                raise ValueError(f"exec.slurm.roles.{role}.{sorted(bad)[0]} is not a per-role "
                                 f"SLURM knob (known: {', '.join(sorted(ROLE_KEYS))})")
        self.threads_default = int((config.get("run") or {}).get("threads", 2) or 0)
        self.roles_exec = ex.get("roles") or {}

    def _over(self, agent: str) -> dict[str, Any]:
        return dict((self.s["roles"] or {}).get(agent) or {})

    def gpus(self, agent: str) -> int:
        over = self._over(agent)
        if "gpus" in over:
            return int(over["gpus"])
        spec = (self.config.get("models") or {}).get(agent) or {}
        if spec.get("backend") != "vllm":
            return 0
        ex = self.roles_exec.get(agent) or {}
        return int(ex.get("tensor_parallel_size", 1)) * int(ex.get("pipeline_parallel_size", 1))

    def threads(self, agent: str) -> int:
        over, n = self._over(agent), self.gpus(agent)
        if "cpus" in over:
            return max(1, int(over["cpus"]))
        if n:
            return max(1, int(self.s["cpus_per_gpu"]) * n)
        spec = (self.config.get("models") or {}).get(agent) or {}
        role_threads = (spec.get("options") or {}).get("threads")
        return max(1, int(role_threads if role_threads is not None else self.threads_default))

    def shard(self, agent: str) -> dict[str, int | str | None]:
        """The `resources:` of one shard job of `agent` (None: not requested)."""
        over, n = self._over(agent), self.gpus(agent)
        typed = f"{self.s['gpu_type']}:" if self.s["gpu_type"] else ""
        gres = self.s["gpu_request"] == "gres"
        return {
            "gpu": n if n and not gres else None,
            "gpu_model": self.s["gpu_type"] if n and not gres else None,
            "gres": f"gpu:{typed}{n}" if n and gres else None,
            "gpus": n,
            "mem_mb": int(over.get("mem_mb") or max(int(self.s["mem_mb"]),
                                                     n * int(self.s["mem_mb_per_gpu"]))),
            "runtime": int(over.get("runtime") or self.s["runtime"]),
        }

    def gather(self) -> dict[str, int | str | None]:
        g = self.s["gather"]
        return {"gpus": 0, "mem_mb": int(g["mem_mb"]), "runtime": int(g["runtime"])}

    def gather_threads(self) -> int:
        return max(1, int(self.s["gather"]["threads"]))

    def shard_rule(self) -> dict[str, Callable[[Any], int | str | None]]:
        """`resources:` of the shard rule: one function of the job's wildcards per name."""
        return {k: (lambda w, k=k: self.shard(w.agent)[k]) for k in self.shard("")}


if __name__ == "__main__":
    from reasonmed.core.params import read_params

    cfg = read_params(sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
    r = JobResources(cfg)
    out = {a: {"threads": r.threads(a), **r.shard(a)} for a in cfg["generate"]["agents"]}
    out["gather"] = {"threads": r.gather_threads(), **r.gather()}
    print(json.dumps(out, indent=2))

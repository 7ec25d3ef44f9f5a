"""Load one section of params.yaml into a frozen, validated object.

params.yaml owns every knob. Two kinds:

- what a run *makes*: `run.seed`, `run.threads`, `models.<role>` and each stage's own
  section. DVC tracks exactly the keys a stage reads (dvc.yaml `params:`) and the request
  cache keys on them, so changing one reruns the stages that read it.
- how a run *executes*: everything under `exec` (cache folder, worker processes, progress
  interval, per-role batch sizes and concurrency, per-stage batch sizes, shards, Snakemake
  options). No DVC stage and no cache key sees `exec`, so changing it reruns nothing; a
  test proves each knob by bytes (tests/test_exec_knobs.py). The torch thread count is not
  one of them: the order of a parallel sum depends on it, so it changes output bytes and
  lives in `run.threads` (and a role's `options.threads`). A stage's execution knobs live
  under `exec.<stage>` and are merged into its Params here; writing one in the stage's own
  section (or a shaping knob under `exec`) is an error.

Unknown or missing keys fail at start-up with the key's name.

    python -c "from reasonmed.core.params import load_run; print(load_run())"
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_PARAMS = "params.yaml"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Fields that only say how the stage runs (batch sizes, shards): read from
    # `exec.<section>`, never from the hashed section itself.
    EXEC: ClassVar[frozenset[str]] = frozenset()


class Sampling(Section):
    """How a section samples every request it sends. A section subclasses it, so the keys
    stay flat in params.yaml; pydantic puts these fields before the subclass's own (nothing
    dumps a section, so the order shows only in the order of validation errors)."""

    temperature: float
    top_p: float
    max_tokens: int


class RunParams(Section):
    """The runtime view of `run` (seed, threads) plus the `exec` section (how the run
    executes)."""

    seed: int = 42
    # torch CPU threads of every computation that writes an artifact (builds, hf backends,
    # SFT). Hashed: a parallel sum's order follows the thread count, so 1 and 2 threads give
    # other bytes; a fixed count gives the same bytes on any machine, whatever its cores.
    # 0: torch's default (the machine's cores: outputs then differ between machines).
    threads: int = Field(2, ge=0)
    cache: str = ".cache/llm"  # request cache folder: one SQLite file per job, read-through
    offline: bool = True  # set HF_HUB_OFFLINE/HF_DATASETS_OFFLINE for every stage
    # processes a stage may run side by side (the models stage's builds, each on one
    # thread, so the count never changes a byte)
    workers: int = Field(1, ge=1)
    progress_every_s: float = 10.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # failed requests a stage may finish with, as a fraction of a role's requests (0: any
    # failure fails the stage; reasonmed/core/failures.py)
    max_failure_rate: float = Field(0.0, ge=0.0, le=1.0)
    # role -> backend execution options (batch_size, max_concurrency, timeout_s,
    # tensor_parallel_size, ...): how a role runs, never part of a cache key
    roles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    job: str | None = None  # this process's cache file name (a stage or shard), set by stages

    def role_exec(self, role: str) -> dict[str, Any]:
        return dict(self.roles.get(role) or {})

    def compute_threads(self, options: dict[str, Any] | None = None) -> int:
        """The torch thread count of a computation: a role's `options.threads`, else
        `run.threads` (traced: the caller's outputs depend on it)."""
        if options and options.get("threads") is not None:
            return int(options["threads"])
        trace("run.threads")
        return self.threads


EXEC_GLOBAL = {"cache", "offline", "workers", "progress_every_s", "log_level", "roles",
               "max_failure_rate"}
RUN_KEYS = {"seed", "threads"}


class ModelSpec(Section):
    """One role's model: which backend serves it and how it shapes outputs.

    `options` go to the backend one-for-one and are part of every cache key (vLLM engine
    kwargs such as dtype or max_model_len, OpenAI `base_url`, hf `dtype`); how the role
    *runs* (batch size, concurrency, timeouts, tensor parallelism) lives under
    `exec.roles.<role>`. `build` asks the `models` stage to build a tiny local model at
    `model` (embedded default only).
    """

    backend: Literal["hf", "vllm", "openai", "fake"]  # fake: no model (reasonmed/llm/backends/fake.py)
    model: str
    revision: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    build: dict[str, Any] | None = None


S = TypeVar("S", bound=Section)


def trace(key: str) -> None:
    """Record a params key this process read (tests compare them with dvc.yaml `params:`)."""
    f = os.environ.get("REASONMED_TRACE_PARAMS")
    if f:
        with open(f, "a", encoding="utf-8") as fh:
            fh.write(f"{Path(sys.argv[0]).resolve()}\t{key}\n")


def read_params(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, Any]:
    """params.yaml as DVC reads it: YAML 1.2 (ruamel), where `no`/`yes`/`on`/`off` are
    strings. PyYAML reads YAML 1.1, where they are booleans: after `dvc exp run -S` rewrites
    `save_strategy: "no"` as a bare `no`, the two would disagree."""
    import copy

    data = Path(path).read_bytes()
    if data not in _PARSED:
        _PARSED.clear()  # one params file per process in practice
        _PARSED[data] = _parse_yaml(data)
    return copy.deepcopy(_PARSED[data])


# Keyed by the file's bytes, so an edit is always seen: ruamel's pure-Python parser takes
# ~0.2 s on params.yaml and a stage reads it once per section it loads.
_PARSED: dict[bytes, dict[str, Any]] = {}


def _parse_yaml(data: bytes) -> dict[str, Any]:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(data.decode("utf-8")) or {}


def did_you_mean(word: str, choices: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _invalid(path, where: str, e: ValidationError, known: set[str]) -> SystemExit:
    lines = [f"{path}: {where} is invalid:"]
    for err in e.errors():
        key = ".".join(str(p) for p in (where, *err["loc"]))
        hint = did_you_mean(str(err["loc"][-1]), known) if err["type"] == "extra_forbidden" else ""
        lines.append(f"  {key}: {err['msg']}{hint}")
    return SystemExit("\n".join(lines))


def load(section: str, model: type[S], path: str | os.PathLike = DEFAULT_PARAMS) -> S:
    """Validate `params[section]` (+ its `exec.<section>` knobs) against `model`."""
    params = read_params(path)
    if section not in params:
        raise SystemExit(f"{path}: missing section '{section}'{did_you_mean(section, params)}")
    trace(section)
    body = dict(params[section] or {})
    knobs = dict(((params.get("exec") or {}).get(section)) or {})
    fields = set(model.model_fields)
    for k in body:
        if k in model.EXEC:
            raise SystemExit(f"{path}: {section}.{k} says how the stage runs, not what it makes: "
                             f"move it to exec.{section}.{k}")
    for k in knobs:
        if k not in model.EXEC:
            raise SystemExit(f"{path}: exec.{section}.{k} is not an execution knob of {section}"
                             + (f" (it shapes outputs: set {section}.{k})" if k in fields else
                                did_you_mean(k, model.EXEC)))
    try:
        return model.model_validate({**body, **knobs})
    except ValidationError as e:
        raise _invalid(path, section, e, fields) from None


def load_entry(section: str, name: str, model: type[S], path: str | os.PathLike = DEFAULT_PARAMS) -> S:
    """One named entry of a section of entries (`benchmarks`, `external`), validated with
    `source: <name>`; an unknown name gets a did-you-mean."""
    specs = read_params(path).get(section) or {}
    if name not in specs:
        raise SystemExit(f"{path}: no entry '{name}' under `{section}`{did_you_mean(name, set(specs))}")
    trace(f"{section}.{name}")
    try:
        return model.model_validate({"source": name, **(specs[name] or {})})
    except ValidationError as e:
        raise SystemExit(f"{path}: {section}.{name} is invalid: {e}") from None


def load_run(path: str | os.PathLike = DEFAULT_PARAMS, job: str | None = None, *,
             seed: bool = True) -> RunParams:
    """`run` (seed, threads) + the global `exec` knobs; sets the offline env vars.
    `seed=False`: the caller does not use the seed (it is not one of the params keys it
    reads). A caller that computes with torch traces `run.threads` where it does
    (`RunParams.compute_threads`)."""
    params = read_params(path)
    run = dict(params.get("run") or {})
    ex = {k: v for k, v in (params.get("exec") or {}).items() if k in EXEC_GLOBAL}
    if set(run) - RUN_KEYS:
        extra = sorted(set(run) - RUN_KEYS)
        raise SystemExit(f"{path}: run.{extra[0]} is not a run key (run holds `seed` and "
                         f"`threads`; execution knobs live under `exec`)"
                         f"{did_you_mean(extra[0], RUN_KEYS)}")
    if "threads" in (params.get("exec") or {}):
        raise SystemExit(f"{path}: exec.threads changes output bytes (a parallel sum's order "
                         "follows the thread count): set run.threads instead")
    if seed:
        trace("run.seed")
    try:
        rp = RunParams.model_validate({**run, **ex, "job": job})
    except ValidationError as e:
        raise _invalid(path, "exec", e, set(RunParams.model_fields)) from None
    if rp.offline:
        # The embedded default never touches a hub; failing fast beats 23 s of DNS retries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    return rp


def load_models(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, ModelSpec]:
    """Every role's spec, validated (no trace: a stage names the roles it uses via model_spec)."""
    params = read_params(path)
    out = {}
    for role, spec in (params.get("models") or {}).items():
        try:
            out[role] = ModelSpec.model_validate(spec)
        except ValidationError as e:
            raise _invalid(path, f"models.{role}", e, set(ModelSpec.model_fields)) from None
    return out


def model_spec(role: str, path: str | os.PathLike = DEFAULT_PARAMS) -> ModelSpec:
    specs = load_models(path)
    if role not in specs:
        raise SystemExit(f"{path}: no model spec for role '{role}' under 'models'"
                         f"{did_you_mean(role, set(specs))}")
    trace(f"models.{role}")
    return specs[role]


def looks_local(model: str) -> bool:
    """A model path the user meant as a folder on disk (so a typo is reported as a missing
    path), not a hub id or an API model name."""
    return model.startswith((".", "/", "~")) or Path(model.split("/")[0]).is_dir()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]

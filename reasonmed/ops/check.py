"""Pre-flight check: every params section, model spec and library config, one line per problem.

Validates what a stage would validate at its start, all at once and before any model loads:
every section against its stage's schema (with did-you-mean), every role's spec (a local
model path exists or the models stage builds it; a hub id is pinned to a revision and, when
offline, in the local cache; an `openai` role's key variable is set and, with --reach, its
endpoint answers), the `exec` knobs of every role against its backend, `sft.config` by
building trl.SFTConfig, and vLLM options against vllm.EngineArgs where vLLM is installed.
The generate fan-out (the point where days of compute begin) runs it first; so does
`make repro`.

    python -m reasonmed.ops.check --params params.yaml
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reasonmed.core.params import EXEC_GLOBAL, ModelSpec, RunParams, did_you_mean, load, read_params

# section -> "module:attribute" of the schema its stage validates it with: the library module
# of the method step that owns the section (a stage imports its Params from there). Looked up
# by name so `--help` and a params-only check stay fast; tests/test_check.py imports each.
SECTIONS = {
    "models_build": "reasonmed.method.tinymodels:Params",
    "collect": "reasonmed.method.collect:Params",
    "generate": "reasonmed.method.generation:Params",
    "verify": "reasonmed.method.verification:Params",
    "route": "reasonmed.method.route:Params",
    "rank": "reasonmed.method.rank:Params",
    "refine": "reasonmed.method.refine:Params",
    "optimize": "reasonmed.method.optimize:Params",
    "summarize": "reasonmed.method.summarize:Params",
    "assemble": "reasonmed.method.assemble:Params",
    "cost": "reasonmed.method.cost:Params",
    "score": "reasonmed.method.score:Params",
    "sft": "reasonmed.method.sft:Params",
    "rl": "reasonmed.method.rl:Params",
    "evaluate": "reasonmed.method.evaluate:Params",
    "report": "reasonmed.report.gather:Params",
    "explore": "reasonmed.report.explorer:Params",
    "lmeval": "reasonmed.report.lmeval:Params",
}
ENTRIES = {"benchmarks": "reasonmed.ingest.benchmarks:Benchmark",
           "external": "reasonmed.ingest.external:External"}
TOP = {"run", "exec", "models", *SECTIONS, *ENTRIES}
# (not HF_HUB_OFFLINE & co.: a stage sets them for itself, and the generate stage's own
# call of the check must find the pass the preflight stage left)
RELEVANT = re.compile(r"KEY|TOKEN|SECRET|^OPENAI_|^AZURE_|^HF_HOME$|^HF_HUB_CACHE$|"
                      r"^HUGGINGFACE_HUB_CACHE$|^CUDA_VISIBLE_DEVICES$|^NVIDIA_VISIBLE_DEVICES$")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _attr(ref: str):
    mod, name = ref.split(":")
    return getattr(importlib.import_module(mod), name)


def _lines(msg: str, path: str) -> list[str]:
    """A stage's SystemExit message as one line per problem (`load` lists keys indented)."""
    head, *rest = str(msg).splitlines()
    if head.endswith("is invalid:") and rest:
        return [f"{path}: {r.strip()}" for r in rest]
    return [" ".join(x.strip() for x in (head, *rest))]


def _guard(fn: Callable[[], Any], path: str) -> list[str]:
    try:
        fn()
    except SystemExit as e:
        return _lines(str(e.code), path)
    except (ValueError, TypeError) as e:
        return [f"{path}: {e}"]
    return []


def sections(path: str, raw: dict) -> Iterator[str]:
    for key in raw:
        if key not in TOP:
            yield f"{path}: unknown section '{key}'{did_you_mean(key, TOP)}"
    for section, ref in SECTIONS.items():
        if section in raw:
            yield from _guard(lambda s=section, r=ref: load(s, _attr(r), path), path)
    for section, ref in ENTRIES.items():
        model = _attr(ref)
        for name, body in (raw.get(section) or {}).items():
            try:
                model.model_validate({"source": name, **(body or {})})
            except ValidationError as e:
                for err in e.errors():
                    loc = ".".join(str(x) for x in (section, name, *err["loc"]))
                    hint = (did_you_mean(str(err["loc"][-1]), set(model.model_fields))
                            if err["type"] == "extra_forbidden" else "")
                    yield f"{path}: {loc}: {err['msg']}{hint}"
    ex = raw.get("exec") or {}
    for k in ex:
        if k == "threads":
            yield (f"{path}: exec.threads changes output bytes (a parallel sum's order follows "
                   "the thread count): set run.threads instead")
        elif k not in EXEC_GLOBAL and k not in SECTIONS and k not in ("generate", "slurm"):
            yield (f"{path}: exec.{k} is neither a global knob nor a stage's"
                   f"{did_you_mean(k, EXEC_GLOBAL | set(SECTIONS))}")
    try:
        RunParams.model_validate({**(raw.get("run") or {}),
                                  **{k: v for k, v in ex.items() if k in EXEC_GLOBAL}})
    except ValidationError as e:
        for err in e.errors():
            yield f"{path}: run/exec.{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"


def roles(path: str, raw: dict) -> Iterator[str]:
    models = raw.get("models") or {}
    ex = raw.get("exec") or {}
    offline = bool(ex.get("offline", True))
    role_exec = ex.get("roles") or {}
    named = [*(raw.get("generate") or {}).get("agents", [])]
    if (sft := raw.get("sft")) and sft.get("base_model"):
        named.append(sft["base_model"])
    if (ev := raw.get("evaluate")) and ev.get("judge"):
        named.append(ev["judge"])  # the judge fallback's role
    for role in named:
        if role not in models:
            yield (f"{path}: role '{role}' is used but not defined under `models`"
                   f"{did_you_mean(role, set(models))}")
    # folders the models stage builds (a role with `build:`), which other roles may share
    built = {b.get("model") for b in models.values() if isinstance(b, dict) and b.get("build")}
    for role, body in models.items():
        where = f"{path}: models.{role}"
        try:
            spec = ModelSpec.model_validate(body)
        except ValidationError as e:
            for err in e.errors():
                hint = (did_you_mean(str(err["loc"][-1]), set(ModelSpec.model_fields))
                        if err["type"] == "extra_forbidden" else "")
                yield f"{where}.{'.'.join(str(x) for x in err['loc'])}: {err['msg']}{hint}"
            continue
        opts = dict(role_exec.get(role) or {})
        yield from (f"{where}: {m}" for m in _backend_options(spec, opts))
        if spec.backend == "openai":
            from reasonmed.ops.runtime import key_env

            env = key_env(spec, opts)
            if not os.environ.get(env) and not opts.get("keyless"):
                yield (f"{where}: the API key variable {env} is not set (exec.roles.{role}."
                       "api_key_env names it; a server that needs no key: "
                       f"exec.roles.{role}.keyless: true)")
            continue
        if spec.backend == "fake":  # no weights to look for
            continue
        yield from (f"{where}.model: {m}" for m in _weights(spec, offline, built))


def _backend_options(spec: ModelSpec, opts: dict) -> list[str]:
    if spec.backend == "hf":
        from reasonmed.llm.backends.hf import check_options
        return _guard(lambda: check_options(spec, opts), "options")
    if spec.backend == "fake":
        from reasonmed.llm.backends.fake import check_options as check_fake
        return _guard(lambda: check_fake(spec, opts), "options")
    if spec.backend == "openai":
        from reasonmed.llm.backends.openai_api import EXEC, OPTIONS
        known = OPTIONS | EXEC
    else:
        from reasonmed.llm.backends.vllm_engine import EXEC
        try:
            from vllm import EngineArgs
        except ImportError:
            return []  # vLLM not installed here (a CPU machine): its options are checked where it is
        OPTIONS = {f.name for f in dataclasses.fields(EngineArgs)}
        known = OPTIONS | EXEC
    out = []
    for k in spec.options:
        if k in EXEC:
            out.append(f"options.{k} says how the role runs: move it to exec.roles.<role>.{k}")
        elif k not in OPTIONS:
            out.append(f"unknown {spec.backend} option '{k}'{did_you_mean(k, known)}")
    for k in opts:
        if k not in EXEC:
            out.append(f"unknown {spec.backend} exec option '{k}'{did_you_mean(k, known)}")
    return out


def _weights(spec: ModelSpec, offline: bool, built: set) -> list[str]:
    """hf/vllm: a local folder that exists (or that the models stage builds), or a pinned hub id.

    A folder beside the built ones (models/<role>) counts only when a role builds it: that
    folder is the models stage's DVC output, which DVC empties before the stage runs, so a
    leftover from an earlier build would be gone by the time a stage loads it."""
    p = Path(spec.model).expanduser()
    if spec.build is not None or spec.model in built:
        return []
    beside_built = any(p.parent == Path(m).parent for m in built if m)
    if beside_built:
        near = did_you_mean(p.name, {Path(m).name for m in built if m})
        return [f"no such model folder '{spec.model}': no role builds it (a `build:` block "
                f"under `models`){near}"]
    if p.exists():
        return []
    if HUB_ID.match(spec.model) and not spec.model.startswith((".", "/", "~")) and not p.parent.exists():
        out = []
        if spec.revision is None:
            out.append(f"hub id '{spec.model}' has no `revision`: pin a commit (the cache key names it)")
        if offline:
            from huggingface_hub import try_to_load_from_cache

            if not isinstance(try_to_load_from_cache(spec.model, "config.json",
                                                     revision=spec.revision), str):
                out.append(f"hub id '{spec.model}' is not in the local Hugging Face cache and "
                           "exec.offline is true (download it first, or set exec.offline: false)")
        return out
    parent = p.parent if p.parent.exists() else None
    near = did_you_mean(p.name, {c.name for c in parent.iterdir()}) if parent else ""
    return [f"no such model folder '{spec.model}'{near}"]


def sft_config(path: str, raw: dict) -> list[str]:
    """Build trl.SFTConfig from `sft.config` the way the sft stage does (CPU switches on)."""
    sft = raw.get("sft") or {}
    if "config" not in sft:
        return []
    mod = importlib.import_module("reasonmed.method.sft")
    # the stage's "no CUDA device; forcing ..." notice is about a run, not the params
    mod.log.setLevel(logging.ERROR)
    seed = int((raw.get("run") or {}).get("seed", 42))
    from trl import SFTConfig

    # the types as written, before the stage's CPU switches overwrite bf16 & co. here
    wrong = mod.type_errors(SFTConfig, dict(sft["config"] or {}))
    if wrong:
        return [f"{path}: sft.config.{k}: {m}" for k, m in wrong]
    with tempfile.TemporaryDirectory() as tmp:
        return _guard(lambda: mod.make_config(mod.config_kwargs(dict(sft["config"] or {}), tmp,
                                                                 seed, has_cuda=False)), path)


def files_read(raw: dict) -> list[str]:
    """Files the sft stage reads must lie where dvc.yaml hashes them (every file a stage
    reads is a dep): the chat template under configs/chat_templates/, an accelerate or
    DeepSpeed config under configs/accelerate/."""
    sft = raw.get("sft") or {}
    out = []
    tpl = sft.get("chat_template")
    if tpl and Path("configs/chat_templates").resolve() not in Path(tpl).resolve().parents:
        out.append(f"sft.chat_template: {tpl} must live under configs/chat_templates/ "
                   "(a dep of the sft stage)")
    for flag in ("--config_file", "--config-file", "--deepspeed_config_file"):
        for m in re.finditer(rf"{flag}[ =](\S+)", str(sft.get("launcher") or "")):
            if Path("configs/accelerate").resolve() not in Path(m.group(1)).resolve().parents:
                out.append(f"sft.launcher: {m.group(1)} must live under configs/accelerate/ "
                           "(a dep of the sft stage)")
            elif not Path(m.group(1)).is_file():
                out.append(f"sft.launcher: no such config file {m.group(1)}")
    return out


def deps(raw: dict, dvc_yaml: str = "dvc.yaml") -> list[str]:
    """dvc.yaml rendered with these params depends on every role and local model folder the
    stages will use (reasonmed/ops/wiring.py: dep_problems)."""
    import yaml

    from reasonmed.ops.wiring import dep_problems

    try:
        dvc = yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8"))
    except OSError:
        return []  # not in a project checkout: nothing to compare
    return dep_problems(dvc, raw, root=Path(dvc_yaml).parent)


def problems(path: str = "params.yaml", reach: bool | str = False, static: bool = True) -> list[str]:
    """Every problem in the params file, one line each ([] when it is ready to run).
    `reach`: True or "all" asks every openai endpoint, "remote" those off this machine;
    `static=False` asks only the endpoints (what --once cannot remember)."""
    from reasonmed.ops import runtime

    reach = {True: "all", False: "none"}.get(reach, reach)
    try:
        raw = read_params(path)
    except FileNotFoundError:
        return [f"{path}: no such params file"]
    except Exception as e:  # a YAML syntax error: the parser's own line and column
        return [f"{path}: not readable YAML: {' '.join(str(e).split())}"]
    if not isinstance(raw, dict):
        return [f"{path}: the top level must be a mapping of sections"]
    out = []
    if static:
        # building SFTConfig/GRPOConfig makes transformers warn about its own deprecations:
        # not a problem in the params, and the check's output is one line per problem
        warnings.filterwarnings("ignore", category=FutureWarning)
        out = [*sections(path, raw), *roles(path, raw), *files_read(raw), *deps(raw)]
        if not any(".sft." in m or m.split(": ", 1)[-1].startswith("sft") for m in out):
            out += sft_config(path, raw)
        if not any(".rl." in m or m.split(": ", 1)[-1].startswith("rl") for m in out):
            out += importlib.import_module("reasonmed.method.rl").config_problems(path, raw)
        out += runtime.machine(path, raw)
    return list(dict.fromkeys(out + runtime.endpoints(path, raw, reach)))


def resolve(params: str) -> str:
    """A params file, or a profile's name (`paper` -> configs/paper.yaml): `make check P=...`
    takes either, as `make profile P=...` takes a name."""
    if Path(params).is_file() or "/" in params or params.endswith((".yaml", ".yml")):
        return params
    named = Path("configs") / f"{params}.yaml"
    return str(named) if named.is_file() else params


def _pass_marker(params: str) -> Path | None:
    """work/check/<digest of what the answer rests on>: the params and dvc.yaml bytes, the
    code the check runs (this module's import closure plus reasonmed.method.sft, which
    `sft_config` imports by name), which key, endpoint, hub and GPU variables are set (an
    API key variable set or unset changes the answer), and the machine: interpreter, host,
    GPUs visible, which of vLLM / DeepSpeed / accelerate are installed. None without the
    file."""
    import importlib.util

    from reasonmed.core.closure import closure, files_digest

    try:
        data = Path(params).read_bytes()
    except OSError:
        return None
    if Path("dvc.yaml").is_file():  # deps() compares the two
        data += b"\0" + Path("dvc.yaml").read_bytes()
    # the variables the answer can rest on (keys, endpoints, hub cache, GPUs), by name: a
    # shell's own (PS1, OLDPWD) or DVC's (DVC_*) must not make the same check look new
    env = sorted(k for k in os.environ if RELEVANT.search(k))
    code = files_digest(closure("reasonmed.ops.check", "reasonmed.method.sft"))
    here = [sys.executable, os.uname().nodename, os.environ.get("CUDA_VISIBLE_DEVICES", "-"),
            str(sorted(Path("/dev").glob("nvidia[0-9]*"))),
            *(str(importlib.util.find_spec(m) is not None) for m in ("vllm", "deepspeed", "accelerate"))]
    h = hashlib.sha256(data + code.encode() + "\0".join(env + here).encode())
    return Path("work/check") / h.hexdigest()[:16]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Pre-flight check of a params file: one line per problem.")
    ap.add_argument("--params", default="params.yaml",
                    help="a params file or a profile's name under configs/ (paper, api, default)")
    ap.add_argument("--reach", nargs="?", const="all", default="remote",
                    choices=("all", "remote", "none"),
                    help="ask openai endpoints for their models: all of them (the flag alone), "
                         "those off this machine (default), or none")
    ap.add_argument("--quiet", action="store_true", help="print nothing when all is well")
    ap.add_argument("--once", action="store_true",
                    help="skip what passed before for these params bytes, check code, "
                         "environment variable names and machine (work/check/); endpoints "
                         "are asked every time")
    a = ap.parse_args(argv)
    params = resolve(a.params)
    passed = _pass_marker(params) if a.once else None
    static = not (passed and passed.exists())
    found = problems(params, a.reach, static=static)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        raise SystemExit(f"check: {len(found)} problem(s) in {params}")
    if passed and static:
        passed.parent.mkdir(parents=True, exist_ok=True)
        passed.touch()
    if not a.quiet:
        print(f"check: {params} is ready to run", file=sys.stderr)


if __name__ == "__main__":
    main()

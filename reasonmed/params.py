"""Load one section of params.yaml into a frozen, validated object.

params.yaml owns every knob; a stage reads only its own section plus the shared `run` and
`models` sections. Unknown or missing keys fail at start-up with the key's name.

    python -c "from reasonmed.params import load_run; print(load_run())"
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_PARAMS = "params.yaml"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunParams(Section):
    """The shared `run` section."""

    seed: int = 42
    cache: str = ".cache/llm.sqlite"  # content-addressed request cache (resume + reuse)
    offline: bool = True  # set HF_HUB_OFFLINE/HF_DATASETS_OFFLINE for every stage
    threads: int = 0  # torch CPU threads; 0 = torch's default
    progress_every_s: float = 10.0


class ModelSpec(Section):
    """One role's model: which backend serves it and how.

    `options` go to the backend one-for-one (vLLM `LLM(...)` kwargs, OpenAI `base_url`,
    `api_key_env`, `max_concurrency`, hf `dtype`/`batch_size`). `build` asks the `models`
    stage to build a tiny local model at `model` (embedded default only).
    """

    backend: Literal["hf", "vllm", "openai"]
    model: str
    revision: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    build: dict[str, Any] | None = None


S = TypeVar("S", bound=Section)


def read_params(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def load(section: str, model: type[S], path: str | os.PathLike = DEFAULT_PARAMS) -> S:
    """Validate `params[section]` against `model`; errors name the section and the key."""
    params = read_params(path)
    if section not in params:
        raise SystemExit(f"{path}: missing section '{section}'")
    try:
        return model.model_validate(params[section])
    except ValidationError as e:
        lines = [f"{path}: section '{section}' is invalid:"]
        for err in e.errors():
            key = ".".join(str(p) for p in (section, *err["loc"]))
            lines.append(f"  {key}: {err['msg']}")
        raise SystemExit("\n".join(lines)) from None


def load_run(path: str | os.PathLike = DEFAULT_PARAMS) -> RunParams:
    run = load("run", RunParams, path)
    if run.offline:
        # The embedded default never touches a hub; failing fast beats 23 s of DNS retries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    return run


def load_models(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, ModelSpec]:
    params = read_params(path)
    out = {}
    for role, spec in (params.get("models") or {}).items():
        try:
            out[role] = ModelSpec.model_validate(spec)
        except ValidationError as e:
            keys = ", ".join(".".join(map(str, er["loc"])) + f" ({er['msg']})" for er in e.errors())
            raise SystemExit(f"{path}: models.{role} is invalid: {keys}") from None
    return out


def model_spec(role: str, path: str | os.PathLike = DEFAULT_PARAMS) -> ModelSpec:
    specs = load_models(path)
    if role not in specs:
        raise SystemExit(f"{path}: no model spec for role '{role}' under 'models'")
    return specs[role]


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent

"""The compute fingerprint: what a completion, a model build or a fine-tune is a function of
besides its inputs.

The digest of the code that computes it (its import closure in the project, derived the
way dvc.yaml's code deps are), the versions of the libraries that do the float work and the
tokenisation, the Python version and the CPU math-library pins in effect
(reasonmed/__init__.py). The request cache and the models build cache put it in every key
(and the generate fan-out in its shard paths), so new code, an upgraded library or other
pins never replay a completion or a model computed by the old ones.

    python -m reasonmed.llm.fingerprint          # this machine's record and fingerprints (make doctor)
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from functools import cache

from reasonmed import cpu_pins
from reasonmed.core.environment import record, version

# The libraries whose float arithmetic or tokenisation shapes each kind of computation.
# `openai`: the server computes; what identifies it (model, revision, base_url) is already in
# the key, and the client library only carries the request, so an upgrade of it does not
# re-ask (re-buy) every cached completion.
LIBRARIES = {
    "hf": ("torch", "transformers", "tokenizers", "safetensors", "outlines", "outlines_core",
           "numpy"),
    "vllm": ("vllm", "torch", "transformers", "tokenizers", "xgrammar", "llguidance"),
    "openai": (),
    "fake": (),
    "build": ("torch", "transformers", "tokenizers", "safetensors", "numpy"),
    "sft": ("torch", "transformers", "trl", "accelerate", "peft", "datasets", "tokenizers",
            "safetensors", "numpy", "deepspeed"),
}
# The modules whose import closure computes each kind: for a backend, the client (which
# plans, asks and records every request) and the backend itself; the client imports every
# backend lazily, so its closure is the whole LLM layer. A build or a fine-tune: its stage
# (what it runs with) and the library module that holds its code.
CLIENT = "reasonmed.llm.client"
MODULES = {"hf": (CLIENT, "reasonmed.llm.backends.hf"),
           "vllm": (CLIENT, "reasonmed.llm.backends.vllm_engine"),
           "openai": (CLIENT, "reasonmed.llm.backends.openai_api"),
           "fake": (CLIENT, "reasonmed.llm.backends.fake"),
           "build": ("stages.models", "reasonmed.method.build"),
           "sft": ("stages.sft", "reasonmed.method.sft")}


@cache
def code_digest(*modules: str) -> str:
    """sha256 (16 hex) over the files of the modules' import closure (names and bytes)."""
    from reasonmed.core.closure import closure, files_digest

    return files_digest(closure(*modules))


@cache
def _fingerprint(kind: str, pins: tuple) -> str:
    blob = json.dumps({"code": code_digest(*MODULES[kind]),
                       "libraries": {d: version(d) for d in LIBRARIES[kind]},
                       "python": platform.python_version(), "pins": dict(pins)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fingerprint(kind: str) -> str:
    """One value that changes when the code, a computing library, Python or a pin that a
    `kind` of computation (hf, vllm, openai, build, sft) runs with changes."""
    return _fingerprint(kind, tuple(sorted(cpu_pins().items())))


def main() -> None:
    """Print this machine's record; with torch loaded, so its view is part of it."""
    try:
        import torch  # noqa: F401  (after reasonmed: the pins are set)
    except ImportError:
        pass
    rec = {**record(), "fingerprints": {k: fingerprint(k) for k in MODULES}}
    cpu = rec["cpu"]
    print(f"cpu        {cpu.get('model_name')} ({cpu.get('vendor')}, family {cpu.get('family')} "
          f"model {cpu.get('model')}), {cpu.get('logical_cpus')} logical CPUs")
    print(f"isa        {' '.join(cpu.get('isa', []))}")
    print("pins       " + " ".join(f"{k}={v or '(unset)'}" for k, v in rec["pins"].items()))
    if rec["pins_overridden"]:
        print(f"           overridden here: {', '.join(rec['pins_overridden'])}: other bytes "
              "than a pinned machine (dvc.lock will not reproduce)")
    if "torch" in rec:
        print("torch      " + " ".join(f"{k}={v}" for k, v in rec["torch"].items()))
    if rec["threads_env"]:
        print("threads    " + " ".join(f"{k}={v}" for k, v in rec["threads_env"].items()))
    print(f"python     {rec['python']}")
    print("libraries  " + " ".join(f"{k}={v}" for k, v in rec["libraries"].items()))
    print("compute    " + " ".join(f"{k}={v}" for k, v in rec["fingerprints"].items()))
    if "nvidia_driver" in rec:
        print(f"driver     {rec['nvidia_driver']}")
    if "--json" in sys.argv:
        print(json.dumps(rec, indent=2))


if __name__ == "__main__":
    main()

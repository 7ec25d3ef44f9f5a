"""What ran a stage: the run-environment record, written into each run log.

CPU model and instruction sets, the math-library pins in effect (reasonmed/__init__.py),
thread counts, Python and library versions, GPU model and driver. It describes one
execution, so two runs that differ can be explained in one look; it goes into the run log
under work/runs/ and never into an artifact or a key (an Intel and an AMD machine must write
the same bytes). What *is* hashed about the environment, the compute fingerprint, lives in
reasonmed/llm/fingerprint.py.

    python -m reasonmed.llm.fingerprint          # this machine's record and fingerprints (make doctor)
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

from reasonmed import CPU_PINS, cpu_pins

# Everything the record reports, in this order.
RECORD_LIBRARIES = ("torch", "transformers", "tokenizers", "trl", "accelerate", "peft",
                    "datasets", "safetensors", "outlines", "outlines_core", "numpy", "vllm",
                    "deepspeed", "openai", "dvc", "snakemake")
# Thread and dispatch variables worth seeing next to the pins.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "TORCH_NUM_THREADS", "CUDA_VISIBLE_DEVICES")


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def _cpu() -> dict:
    info: dict = {"machine": platform.machine(), "logical_cpus": os.cpu_count()}
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return info
    first = text.split("\n\n", 1)[0]
    fields = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    info.update(
        vendor=fields.get("vendor_id"), model_name=fields.get("model name"),
        family=fields.get("cpu family"), model=fields.get("model"),
        # the instruction sets that decide which kernels a library would pick unpinned
        isa=sorted(f for f in flags if f in {"sse4_2", "avx", "avx2", "fma", "f16c",
                                              "avx512f", "avx512bw", "avx512_vnni",
                                              "avx512_bf16", "avx512_fp16", "amx_tile",
                                              "amx_bf16", "amx_int8", "avx_vnni"}))
    return info


def _torch() -> dict:
    """torch's view, only when torch is already loaded (the record never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    out = {"cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "intra_op_threads": torch.get_num_threads(),
           "interop_threads": torch.get_num_interop_threads()}
    if torch.cuda.is_available():
        out["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        out["cuda"] = torch.version.cuda
    return out


def _driver() -> str | None:
    try:
        return open("/proc/driver/nvidia/version", encoding="utf-8").readline().strip() or None
    except OSError:
        return None


def record() -> dict:
    """The run-environment record (never hashed): what ran this, to explain two runs that
    differ. Cheap: no library is imported for it."""
    rec = {"cpu": _cpu(), "pins": cpu_pins(),
           "pins_overridden": sorted(v for v, x in CPU_PINS.items() if os.environ.get(v) != x),
           "threads_env": {v: os.environ[v] for v in THREAD_VARS if v in os.environ},
           "python": platform.python_version(),
           "libraries": {d: v for d in RECORD_LIBRARIES if (v := version(d)) != "absent"}}
    if (t := _torch()):
        rec["torch"] = t
    if (d := _driver()):
        rec["nvidia_driver"] = d
    return rec

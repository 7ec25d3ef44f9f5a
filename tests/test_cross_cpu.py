"""The same bytes on every x86-64 CPU: the project's float work, natively and under user-mode
emulation of other CPU models, gives identical digests.

`qemu-x86_64 -cpu <model>` runs this machine's own Python and libraries on an emulated CPU
that reports another vendor string and other instruction-set flags, so MKL and torch
dispatch as they would on that CPU: an AMD EPYC (Zen 2, AVX2, no AVX-512) and an Intel
Haswell (AVX2, no AVX-512), whatever this machine is. What they compute
(tests/cross_cpu_probe.py): a tiny model build, a sampled and a JSON-constrained generation
batch through the hf backend, and SFT steps through the sft stage. Any kernel that picks its
summation order or its approximation by CPU (reasonmed/__init__.py lists the pins) shows up
as a differing digest. Emulation is ~50x slower, hence the toy sizes; qemu-user is
installed by scripts/install-tool.sh. Not part of `make test`: `make test-cross-cpu` (CI
runs it).

    python -m pytest -m crosscpu tests/test_cross_cpu.py
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests/cross_cpu_probe.py"
CPUS = ("EPYC-Rome", "Haswell-v4")


def qemu() -> str:
    r = subprocess.run([str(ROOT / "scripts/install-tool.sh"), "qemu-x86_64", "qemu-user"],
                       capture_output=True, text=True)
    if r.returncode:
        if os.environ.get("CI") == "true":
            pytest.fail(f"qemu-user missing and not installable: {r.stderr[-500:]}")
        pytest.skip(f"qemu-user missing: {r.stderr[-300:]}")
    return r.stdout.strip().splitlines()[-1]


def probe(tmp: Path, prefix: list[str], *args: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCHDYNAMO_DISABLE": "1",
           "PYTHONPATH": str(ROOT)}
    r = subprocess.run([*prefix, sys.executable, str(PROBE), str(tmp), *args], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, f"{prefix or 'native'}: {r.stderr[-3000:]}"
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out.pop("wall_s")
    return out


@pytest.mark.slow
@pytest.mark.crosscpu
def test_emulated_cpus_compute_the_same_bytes(tmp_path):
    exe = qemu()
    native = probe(tmp_path / "native", [])
    with ThreadPoolExecutor(len(CPUS)) as ex:  # one core each
        emulated = dict(zip(CPUS, ex.map(
            lambda cpu: probe(tmp_path / cpu, [exe, "-cpu", cpu]), CPUS)))
    for cpu, got in emulated.items():
        diff = {k: (native[k], got.get(k)) for k in native if got.get(k) != native[k]}
        assert not diff, f"{cpu} under emulation computes other bytes: {diff}"


@pytest.mark.slow
@pytest.mark.crosscpu
def test_the_probe_notices_an_unpinned_kernel(tmp_path):
    # the converse: the probe's digests do see a kernel change (MKL's other GEMM code path),
    # so agreement above is not agreement of digests that could never differ
    base = probe(tmp_path / "a", [], "--no-sft")
    other = probe(tmp_path / "b", ["env", "MKL_CBWR=AUTO"], "--no-sft")
    assert other["build"] != base["build"]

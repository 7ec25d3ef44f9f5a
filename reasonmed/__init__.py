"""The ReasonMed library: everything the stages share (a stage imports this, never another
stage).

    python -c "import reasonmed, torch; print(torch.backends.cpu.get_cpu_capability())"
"""

import os

# One instruction set for every CPU float kernel, so an AVX-512 machine writes the bytes an
# AVX2 one does. Measured: unpinned, an AVX-512 EPYC built tiny models 2 bytes longer than the
# AVX2 machine that wrote dvc.lock (other weights), so every artifact downstream differed;
# with ATen pinned to AVX2 it reproduced dvc.lock byte for byte. MKL's and oneDNN's dispatch
# are capped the same way (an Intel AVX-512 machine would otherwise pick AVX-512 GEMMs); both
# caps leave this machine's bytes unchanged. Not MKL_CBWR: its reproducibility mode is
# another GEMM algorithm (one verifier token of 18,618 changed) and on non-Intel CPUs it
# falls back to the automatic branch anyway. Each library reads these at load time, so this
# runs before torch is imported: the library is imported first by every stage, worker and
# test. setdefault: a user who exports other values (a GPU machine, a benchmark) keeps them.
CPU_PINS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
            "ONEDNN_MAX_CPU_ISA": "AVX2"}
for _var, _value in CPU_PINS.items():
    os.environ.setdefault(_var, _value)


def cpu_pins() -> dict[str, str]:
    """The pins in effect (a user's own values where set): part of what a CPU-computed
    artifact is a function of, so memo keys include them."""
    return {v: os.environ.get(v, "") for v in CPU_PINS}

"""The ReasonMed library: everything the stages share (a stage imports this, never another
stage).

    python -c "import reasonmed, torch; print(torch.backends.cpu.get_cpu_capability())"
"""

import os

# CPU float kernels that give the same bytes on every x86-64 machine with AVX2 (Intel or AMD,
# AVX2 or AVX-512/AMX), set before torch loads (each library reads them at load time; the
# library is imported first by every stage, worker and test). Measured with a kernel probe
# run natively on an Intel Xeon (AVX-512, AMX) and under user-mode emulation of an AMD
# EPYC-Rome and an Intel Haswell (tests/test_cross_cpu.py does it with the project's code):
# - ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA: torch's own kernels and oneDNN's take the
#   AVX2 code on every machine (unpinned, AVX-512 kernels sum in another order).
# - MKL_CBWR=COMPATIBLE: MKL's conditional numerical reproducibility. Without it MKL picks
#   GEMM and vector-math kernels by CPU vendor even under MKL_ENABLE_INSTRUCTIONS=AVX2, so
#   the same GEMM gave other bytes on Intel and AMD; with it every GEMM, exp and log agreed.
#   Costs speed (the README gives the figures).
# - MKL_DYNAMIC / OMP_DYNAMIC: no thread count chosen by the library at run time. The count
#   itself is a hashed param (run.threads): a 2-thread GEMM sums in another order than a
#   1-thread one even under MKL_CBWR.
# Not pinnable: MKL's vector sqrt (torch.sqrt on CPU) is approximate even under
# MKL_CBWR=COMPATIBLE (15 % of results off the correctly rounded value, and other bytes under
# emulation), so nothing hashed may call it: optimizers run fused (torch's own exact sqrt).
# setdefault: a user who exports other values (a GPU machine, a benchmark) keeps them; the
# pins in effect are part of every build and request key (reasonmed/core/environment.py).
CPU_PINS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
            "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE", "MKL_DYNAMIC": "FALSE",
            "OMP_DYNAMIC": "FALSE"}
for _var, _value in CPU_PINS.items():
    os.environ.setdefault(_var, _value)


def cpu_pins() -> dict[str, str]:
    """The pins in effect (a user's own values where set): part of what a CPU-computed
    artifact is a function of, so memo keys include them."""
    return {v: os.environ.get(v, "") for v in CPU_PINS}

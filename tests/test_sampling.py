"""Per-request sampling: exact distribution, independent of batch company and order."""

import pytest

torch = pytest.importorskip("torch")

from reasonmed.llm.sampling import SeededSampler, uniforms  # noqa: E402


def sample(logits, seeds, temps, top_ps, step=0):
    s = SeededSampler(seeds, temps, top_ps, prompt_len=5)
    out = s(torch.zeros((len(seeds), 5 + step), dtype=torch.long), logits.clone())
    return out.argmax(dim=-1).tolist()


def test_uniforms_are_a_function_of_seed_and_step_alone():
    u = uniforms(torch.tensor([1, 2, 3]), 7)
    assert torch.equal(u, uniforms(torch.tensor([1, 2, 3]), 7))
    assert torch.equal(u[1:2], uniforms(torch.tensor([2]), 7))
    assert not torch.equal(u, uniforms(torch.tensor([1, 2, 3]), 8))
    assert bool(((u > 0) & (u < 1)).all())


def test_samples_follow_the_temperature_and_top_p_distribution():
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0, -3.0])
    n = 20000
    toks = sample(logits.repeat(n, 1), list(range(n)), [1.0] * n, [0.9] * n)
    p = torch.softmax(logits, 0)
    # top-p 0.9 keeps the smallest top set with mass >= 0.9: tokens 0, 1, 2 (renormalised)
    keep = p[:3] / p[:3].sum()
    freq = torch.bincount(torch.tensor(toks), minlength=5).float() / n
    assert freq[3:].sum() == 0
    assert torch.allclose(freq[:3], keep, atol=0.015), (freq, keep)


def test_temperature_zero_is_greedy_and_rows_are_independent():
    logits = torch.randn(6, 50, generator=torch.Generator().manual_seed(0))
    seeds, temps = [11, 12, 13, 14, 15, 16], [0.0, 0.7, 1.0, 0.0, 1.3, 0.9]
    ps = [1.0, 0.9, 0.95, 1.0, 1.0, 0.5]
    whole = sample(logits, seeds, temps, ps, step=3)
    assert whole[0] == int(logits[0].argmax()) and whole[3] == int(logits[3].argmax())
    for i in range(6):  # each row alone, and the batch reversed
        assert sample(logits[i:i + 1], seeds[i:i + 1], temps[i:i + 1], ps[i:i + 1], step=3) == [whole[i]]
    assert sample(logits.flip(0), seeds[::-1], temps[::-1], ps[::-1], step=3) == whole[::-1]


def test_masked_tokens_are_never_sampled():
    logits = torch.zeros(2000, 10)
    logits[:, ::2] = float("-inf")  # a constraint (outlines) masked the even ids
    toks = sample(logits, list(range(2000)), [1.0] * 2000, [1.0] * 2000)
    assert all(t % 2 == 1 for t in toks) and len(set(toks)) == 5


PINNED = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


def _capability(**env):
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if k not in PINNED}
    r = subprocess.run([sys.executable, "-c", "import reasonmed, torch; "
                        "print(torch.backends.cpu.get_cpu_capability())"],
                       env={**clean, **env}, capture_output=True, text=True, check=True)
    return r.stdout.strip()


def test_cpu_kernels_run_one_instruction_set_on_every_x86_machine():
    # AVX-512 kernels reduce in another order than AVX2 ones: unpinned, an AVX-512 machine
    # trained different tiny models than the machine that wrote dvc.lock.
    cap = _capability()
    assert cap in ("AVX2", "DEFAULT", "NO AVX", "ZVECTOR", "SVE256", "SVE"), cap
    assert "AVX512" not in cap


def test_a_users_own_pin_wins():
    assert _capability(ATEN_CPU_CAPABILITY="default") == "DEFAULT"


def test_no_library_or_stage_module_imports_torch_before_the_pin():
    # The pin is set when `reasonmed` is imported; a module-level torch import that could
    # run first (a stage importing torch before the library) would load unpinned kernels.
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    heavy = {"torch", "transformers", "trl", "accelerate", "vllm", "peft"}
    bad = []
    for f in [*root.glob("stages/*.py"), *root.glob("reasonmed/**/*.py")]:
        for node in ast.parse(f.read_text()).body:  # module level only
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{f.relative_to(root)}: {n}" for n in names if n.split(".")[0] in heavy]
    assert not bad, bad

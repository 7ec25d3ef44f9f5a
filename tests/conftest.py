"""Shared fixtures: offline env, a session-wide set of tiny models, the real benchmark files."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

ROOT = Path(__file__).resolve().parents[1]


def benchmarks_dir() -> Path | None:
    """../shared/data/benchmarks (or $REASONMED_BENCHMARKS); None when absent outside CI."""
    p = Path(os.environ.get("REASONMED_BENCHMARKS", ROOT.parent / "shared/data/benchmarks"))
    if p.is_dir():
        return p
    if os.environ.get("CI") == "true" and not os.environ.get("REASONMED_BENCHMARKS_OPTIONAL"):
        pytest.fail(f"real benchmark data missing at {p}: under CI these tests must run")
    return None


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    p = benchmarks_dir()
    if p is None:
        pytest.skip("real benchmark data not found (set REASONMED_BENCHMARKS or place ../shared)")
    return p


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """Two tiny Llama models built by the `models` stage code (no warm-up: speed)."""
    from reasonmed.params import ModelSpec
    from stages.models import Params, run

    out = tmp_path_factory.mktemp("models")
    specs = {r: ModelSpec(backend="hf", model=str(out / r),
                          build={"seed": s, "hidden_size": 64, "num_attention_heads": 2})
             for r, s in (("agent", 1), ("judge", 2))}
    p = Params(corpus=str(ROOT / "assets/corpus.txt"), vocab_size=512, pretrain_steps=0)
    built = run(specs, p, (ROOT / "assets/corpus.txt").read_text()[:40000])
    for role, (model, tok, _) in built.items():
        model.save_pretrained(specs[role].model)
        tok.save_pretrained(specs[role].model)
    return {r: s.model for r, s in specs.items()}

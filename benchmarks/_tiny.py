"""Shared set-up for benchmarks: a tiny agent model and synthetic questions in a temp dir."""

import tempfile
from pathlib import Path

from reasonmed.core.records import Question, question_id
from reasonmed.method.tinymodels import Params, build_tiny

ROOT = Path(__file__).resolve().parents[1]


def tiny_model(hidden: int = 128, steps: int = 0) -> str:
    out = Path(tempfile.mkdtemp(prefix="bench-model-")) / "agent"
    p = Params(corpus=str(ROOT / "assets/corpus.txt"), pretrain_steps=steps)
    build_tiny(out, {"seed": 1, "hidden_size": hidden}, p, (ROOT / "assets/corpus.txt").read_text())
    return str(out)


def questions(n: int) -> list[Question]:
    qs = []
    for i in range(n):
        opts = {"A": "cystitis", "B": "gout", "C": "asthma", "D": f"heart failure type {i}"}
        stem = f"A {20 + i % 60}-year-old presents with dyspnoea and leg swelling ({i}). Diagnosis?"
        qs.append(Question(id=question_id(stem, opts), source="bench", split="train",
                           question=stem, options=opts, answer="D", answer_text=opts["D"]))
    return qs

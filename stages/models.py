"""Build the embedded default's tiny local models, one per role that asks for one.

Nothing is downloaded: a byte-level BPE tokenizer is trained on `assets/corpus.txt`, and
each role with a `build:` block under `models` in params.yaml gets a small randomly
initialised Llama (its own seed and size, so the three agents differ), warmed up for a few
optimizer steps on the same corpus so its samples read like text rather than noise. Roles
that name a hub id or an existing path (no `build:`) are left alone.

    python -m stages.models --params params.yaml --out models
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from reasonmed.params import ModelSpec, load, load_models, load_run
from reasonmed.records import write_json
from reasonmed.tinymodels import Build, Params, build_model, chat_documents, train_tokenizer

log = logging.getLogger("reasonmed.models")

def run(specs: dict[str, ModelSpec], p: Params, corpus: str) -> dict[str, Any]:
    """Build every role that has a `build:` block; returns {role: (model, tokenizer, info)}."""
    wanted = {r: s for r, s in specs.items() if s.build is not None}
    if not wanted:
        return {}
    tokenizer = train_tokenizer(corpus, p.vocab_size)
    docs = chat_documents(corpus, tokenizer)
    built = {}
    for role, spec in wanted.items():
        t0 = time.monotonic()
        b = Build.model_validate(spec.build)
        model, losses = build_model(b, p, tokenizer, docs)
        info = {"path": spec.model, "params": sum(x.numel() for x in model.parameters()),
                "config": {k: v for k, v in b.model_dump().items()},
                "loss_first": losses[0] if losses else None,
                "loss_last": losses[-1] if losses else None,
                "build_s": round(time.monotonic() - t0, 2)}
        log.info("models: built %s (%d params, loss %s -> %s)", role, info["params"],
                 info["loss_first"], info["loss_last"])
        built[role] = (model, tokenizer, info)
    return built


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="models")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load_run(a.params)  # offline env vars
    p = load("models_build", Params, a.params)
    specs = load_models(a.params)
    out = Path(a.out).resolve()
    for role, s in specs.items():
        if s.build is not None and out not in Path(s.model).resolve().parents:
            raise SystemExit(f"models.{role}.model must lie under {a.out}/ to be built")
    built = run(specs, p, Path(p.corpus).read_text(encoding="utf-8"))
    for role, (model, tok, _) in built.items():
        model.save_pretrained(specs[role].model)
        tok.save_pretrained(specs[role].model)
    write_json(out / "manifest.json", {r: info for r, (_, _, info) in built.items()})


if __name__ == "__main__":
    main()

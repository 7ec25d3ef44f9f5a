"""Build the embedded default's tiny local models, one per role that asks for one.

Nothing is downloaded: a byte-level BPE tokenizer is trained on `assets/corpus.txt`, and
each role with a `build:` block under `models` in params.yaml gets a small randomly
initialised Llama (its own seed and size, so the three agents differ), warmed up for a few
optimizer steps on the same corpus so its samples read like text rather than noise.

Every other role gets `models/<role>/reference.json` (backend, model and resolved revision:
a pinned hub commit, the content digest of a local folder, or the API model name), so each
stage depends on exactly the `models/<role>` folders of the roles it uses. Builds are
memoised by content (.cache/models/<key>): rerunning the stage after an unrelated role
change copies the unchanged models instead of retraining them.

    python -m stages.models --params params.yaml --out models
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from reasonmed.cache import resolve_revision
from reasonmed.params import ModelSpec, load, load_models, load_run, trace
from reasonmed.records import write_json
from reasonmed.stage import StageRun, entry
from reasonmed.tinymodels import Build, Params, build_model, chat_documents, train_tokenizer
from reasonmed.wiring import closure, files_digest

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
        b = Build.model_validate(spec.build)
        model, losses = build_model(b, p, tokenizer, docs)
        # No timings here: build.json is part of the DVC out (and of the model's digest).
        info = {"role": role, "params": sum(x.numel() for x in model.parameters()),
                "config": b.model_dump(), "loss_first": losses[0] if losses else None,
                "loss_last": losses[-1] if losses else None}
        log.info("models: built %s (%d params, loss %s -> %s)", role, info["params"],
                 info["loss_first"], info["loss_last"])
        built[role] = (model, tokenizer, info)
    return built


def build_key(spec: ModelSpec, p: Params, corpus: str) -> str:
    """Everything a tiny model is a function of: its build block, models_build, the corpus
    and the builder's code. Equal keys give equal folders, so a rebuild can be copied."""
    blob = json.dumps([spec.build, p.model_dump(), corpus, files_digest(closure("stages.models"))],
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def reference(spec: ModelSpec, memo: Path) -> dict:
    """models/<role>/reference.json for a role that is not built here: what serves it, at
    which revision. A DVC dep on models/<role> then reruns the stages that use the role when
    the referenced folder's content, the pinned commit or the API model changes."""
    return {"backend": spec.backend, "model": spec.model, "revision": resolve_revision(spec, memo)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="models")
    a = ap.parse_args()
    run_p = load_run(a.params, seed=False)
    st = StageRun("models", run_p.log_level)
    if run_p.threads:
        import torch

        torch.set_num_threads(run_p.threads)
    p = load("models_build", Params, a.params)
    specs = load_models(a.params)
    trace("models")  # every role: the stage resolves them all
    out = Path(a.out)
    for role, s in specs.items():
        if s.build is not None and Path(s.model).resolve() != (out / role).resolve():
            raise SystemExit(f"models.{role}.model must be {out}/{role} to be built (got {s.model})")
    corpus = Path(p.corpus).read_text(encoding="utf-8")
    cache = Path(run_p.cache).parent / "models"
    todo = {r: s for r, s in specs.items() if s.build is not None
            and not (cache / build_key(s, p, corpus)).is_dir()}
    for role, (model, tok, info) in run(todo, p, corpus).items():
        tmp = cache / f".{build_key(specs[role], p, corpus)}.{os.getpid()}"
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_json(tmp / "build.json", info)
        os.replace(tmp, cache / build_key(specs[role], p, corpus))
    for role, s in specs.items():  # built roles first: references may point at them
        if s.build is not None:
            shutil.rmtree(out / role, ignore_errors=True)
            shutil.copytree(cache / build_key(s, p, corpus), out / role)
    memo = Path(run_p.cache) / "fingerprints"
    for role, s in specs.items():
        if s.build is None:
            write_json(out / role / "reference.json", reference(s, memo))
    st.finish(None, None, built=sorted(todo), copied=sorted(set(r for r, s in specs.items()
                                                                if s.build) - set(todo)))


if __name__ == "__main__":
    entry(main)

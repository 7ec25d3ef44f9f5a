"""The models stage's work: build the embedded default's tiny local models, one per role that
asks for one, and a reference for every other role.

Nothing is downloaded: a byte-level BPE tokenizer is trained on `assets/corpus.txt` (and
learns the words of `assets/vocabulary.txt`, a snapshot of the prompts' English), and
each role with a `build:` block under `models` in params.yaml gets a small randomly
initialised Llama (its own seed and size, so the three agents differ), warmed up for a few
optimizer steps on the same corpus so its samples read like text rather than noise
(reasonmed/method/tinymodels.py).

Every other role gets `models/<role>/reference.json` (backend, model and resolved revision:
a pinned hub commit, the content digest of a local folder, or the API model name), so each
stage depends on exactly the `models/<role>` folders of the roles it uses. Builds are
memoised by content (<cache>/models/<key>): rerunning the stage after an unrelated role
change copies the unchanged models instead of retraining them.

    python -c "from reasonmed.method.build import contracts; print(contracts({}))"
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from reasonmed.core.params import ModelSpec
from reasonmed.core.records import write_json
from reasonmed.llm.cache import resolve_revision
from reasonmed.llm.fingerprint import fingerprint
from reasonmed.method.tinymodels import (
    Build,
    Params,
    build_cost,
    build_model,
    chat_documents,
    read_vocabulary,
    train_tokenizer,
)

log = logging.getLogger("reasonmed.models")

# Every build computes on one torch thread, whatever exec.workers says (how many builds run
# side by side), so the worker count never changes a byte.
BUILD_THREADS = 1


def build_one(role: str, spec: ModelSpec, p: Params, tokenizer, docs: list[str],
              prompts: dict[str, str], dest: Path) -> str:
    """Build one role's model into `dest` (in a worker process when builds run side by side)."""
    import torch

    torch.set_num_threads(BUILD_THREADS)
    b = Build.model_validate(spec.build)
    model, losses = build_model(b, p, tokenizer, docs, prompts)
    # No timings here: build.json is part of the DVC out (and of the model's digest).
    info = {"role": role, "params": sum(x.numel() for x in model.parameters()),
            "config": b.model_dump(), "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None}
    tmp = dest.parent / f".{dest.name}.{os.getpid()}"
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    write_json(tmp / "build.json", info)
    os.replace(tmp, dest)
    log.info("models: built %s (%d params, loss %s -> %s)", role, info["params"],
             info["loss_first"], info["loss_last"])
    return role


def run(specs: dict[str, ModelSpec], p: Params, corpus: str, vocabulary: str,
        prompts: dict[str, str], dests: dict[str, Path], workers: int = 1) -> list[str]:
    """Build every role of `specs` (all have a `build:` block) into `dests[role]`."""
    if not specs:
        return []
    tokenizer = train_tokenizer(corpus, p.vocab_size, vocabulary)
    docs = chat_documents(corpus, tokenizer)
    # Longest first: the pool takes jobs in submission order, so no long build starts last.
    # One torch thread per build whatever the order, so the order never changes the bytes.
    order = sorted(specs, key=lambda r: -build_cost(Build.model_validate(specs[r].build), p, prompts))
    jobs = [(r, specs[r], p, tokenizer, docs, prompts, dests[r]) for r in order]
    if workers <= 1 or len(jobs) == 1:
        return [build_one(*j) for j in jobs]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as ex:
        return [f.result() for f in [ex.submit(build_one, *j) for j in jobs]]


def build_key(spec: ModelSpec, p: Params, corpus: str, vocabulary: str,
              prompts: dict[str, str]) -> str:
    """Everything a tiny model is a function of: its build block, models_build, the corpus
    and vocabulary texts, the prompt files of its contracts, and what computes it (the
    builder's code closure, the versions of torch/transformers/tokenizers, Python, the CPU
    pins and the build thread count: reasonmed/core/environment.py). Equal keys give equal
    folders, so a rebuild can be copied from the build cache; an upgraded library or an
    edited builder never gets a model the old one built."""
    used = {c: Path(prompts[c]).read_text(encoding="utf-8")
            for c in (spec.build or {}).get("contracts", []) if c in prompts}
    blob = json.dumps([spec.build, p.model_dump(), corpus, vocabulary, used,
                       fingerprint("build"), BUILD_THREADS], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def reference(spec: ModelSpec, memo: Path) -> dict:
    """models/<role>/reference.json for a role that is not built here: what serves it, at
    which revision. A DVC dep on models/<role> then reruns the stages that use the role when
    the referenced folder's content, the pinned commit or the API model changes."""
    return {"backend": spec.backend, "model": spec.model, "revision": resolve_revision(spec, memo)}




def contracts(specs: dict[str, ModelSpec]) -> list[str]:
    """The stages whose output contracts the built roles are trained to (their prompt files
    shape the builds)."""
    return sorted({c for s in specs.values() if s.build for c in s.build.get("contracts", [])})


def materialize(specs: dict[str, ModelSpec], p: Params, prompts: dict[str, str], out: Path,
                cache_dir: Path, workers: int = 1) -> tuple[list[str], list[str]]:
    """models/<role> for every role: a built role from the build cache (built there first
    when its key is new), any other role's reference.json. Returns (built, copied) roles."""
    for role, s in specs.items():
        if s.build is not None and Path(s.model).resolve() != (out / role).resolve():
            raise SystemExit(f"models.{role}.model must be {out}/{role} to be built (got {s.model})")
    corpus = Path(p.corpus).read_text(encoding="utf-8")
    vocabulary = read_vocabulary(p)
    cache = cache_dir.parent / "models"
    cache.mkdir(parents=True, exist_ok=True)
    keys = {r: build_key(s, p, corpus, vocabulary, prompts) for r, s in specs.items() if s.build is not None}
    todo = {r: specs[r] for r, k in keys.items() if not (cache / k).is_dir()}
    run(todo, p, corpus, vocabulary, prompts, {r: cache / keys[r] for r in todo}, workers=workers)
    for role, s in specs.items():  # built roles first: references may point at them
        if s.build is not None:
            shutil.rmtree(out / role, ignore_errors=True)
            shutil.copytree(cache / keys[role], out / role)
    memo = cache_dir / "fingerprints"
    for role, s in specs.items():
        if s.build is None:
            write_json(out / role / "reference.json", reference(s, memo))
    return sorted(todo), sorted(set(r for r, s in specs.items() if s.build) - set(todo))

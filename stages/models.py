"""models: build the embedded default's tiny local models, one per role that asks for one.

Each role with a `build:` block under `models` gets a small Llama trained here on
assets/corpus.txt, memoised by content; every other role gets models/<role>/reference.json
(what serves it, at which revision). See reasonmed/method/build.py.

    python -m stages.models models --params params.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reasonmed.core.params import load, load_models, load_run, read_params, trace
from reasonmed.core.stage import StageRun, entry
from reasonmed.method.build import contracts, materialize
from reasonmed.method.tinymodels import Params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="models")
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    run_p = load_run(a.params, seed=False)
    st = StageRun("models", run_p.log_level)
    p = load("models_build", Params, a.params)
    specs = load_models(a.params)
    trace("models")  # every role: the stage resolves them all
    params = read_params(a.params)
    for c in contracts(specs):
        trace(f"{c}.prompt")  # the contract's prompt file is a dep of this stage
    prompts = {c: params[c]["prompt"] for c in contracts(specs) if "prompt" in (params.get(c) or {})}
    built, copied = materialize(specs, p, prompts, Path(a.out), Path(run_p.cache), run_p.workers)
    st.finish(None, None, built=built, copied=copied)


if __name__ == "__main__":
    entry(main)

"""How well a tiny role model follows its output contracts, and what its build costs.

Builds one role of params `models` exactly as the `models` stage does (optionally with other
contracts or steps), then asks it the stage's real prompt over the shipped sample questions
at the stage's own temperatures and max_tokens, and prints per contract the share of replies
the stage can use (a stated answer for generate/refine/optimize/evaluate, a letter for
summarize), the truncation rate and the build time. The default is honest when every agent
clears 90% on generate (issue: "an honest default").

    python benchmarks/contracts.py --role agent1
    python benchmarks/contracts.py --role agent1 --contracts generate summarize --steps 300
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from reasonmed.core.params import ModelSpec, RunParams, read_params
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.records import Question
from reasonmed.ingest.load import load_source
from reasonmed.ingest.specs import SourceSpec
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Request
from reasonmed.method import answers
from reasonmed.method.tinymodels import (
    Build,
    Params,
    build_model,
    chat_documents,
    read_vocabulary,
    train_tokenizer,
)

ROOT = Path(__file__).resolve().parents[1]


def sample_questions(params: dict) -> list[Question]:
    spec = SourceSpec.model_validate(params["collect"]["sources"][0])
    return [q for q in load_source(spec) if isinstance(q, Question)]


def requests_for(contract: str, qs: list[Question], params: dict) -> list[tuple[Request, Question]]:
    sec = params[contract]
    prompt = load_prompt(sec["prompt"])
    temps = params["generate"]["temperatures"] if contract == "generate" else [sec["temperature"]]
    out = []
    for t in temps:
        for i, q in enumerate(qs):
            cot = f"The findings point to {q.options[q.answer]}.\nFinal answer: {q.answer}"
            system, user = prompt.render(
                question=q.question, context=q.context, options=format_options(q.options),
                answer=q.answer, answer_text=q.answer_text, cot=cot, response=cot,
                reasons=["The reasoning misses a key finding."], strict=True)
            out.append((Request.chat(system, user, temperature=t, top_p=sec.get("top_p", 0.9),
                                     max_tokens=sec["max_tokens"], seed=1000 * i + int(100 * t)),
                        q))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", default="agent1")
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--contracts", nargs="*", help="override the role's build.contracts")
    ap.add_argument("--steps", type=int, help="override models_build.contract_steps")
    ap.add_argument("--models-build", default="{}", help="JSON merged into models_build")
    ap.add_argument("--build", default="{}", help='JSON merged into the role\'s build block, '
                    'e.g. \'{"num_hidden_layers": 3}\'')
    ap.add_argument("--show", type=int, default=0, help="print this many unusable replies per contract")
    a = ap.parse_args()
    params = read_params(a.params)
    spec = params["models"][a.role]
    build = {**spec["build"], **json.loads(a.build)}
    if a.contracts is not None:
        build["contracts"] = a.contracts
    p = Params.model_validate({**params["models_build"], **json.loads(a.models_build),
                               **({"contract_steps": a.steps} if a.steps else {})})
    corpus = (ROOT / p.corpus).read_text()
    prompts = {c: params[c]["prompt"] for c in build.get("contracts", [])}
    t0 = time.monotonic()
    tok = train_tokenizer(corpus, p.vocab_size, read_vocabulary(p))
    import torch

    torch.set_num_threads(1)  # as the models stage builds: one thread, the same numerics
    model, losses = build_model(Build.model_validate(build), p, tok, chat_documents(corpus, tok),
                                prompts)
    built_s = time.monotonic() - t0
    dest = Path(tempfile.mkdtemp(prefix="contracts-")) / a.role
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    print(f"{a.role}: contracts {build.get('contracts')} steps {p.contract_steps} "
          f"built in {built_s:.1f} s, final loss {losses[-1] if losses else None}")
    llm = LLM(a.role, ModelSpec(backend="hf", model=str(dest)),
              RunParams(cache=str(dest.parent / "cache")), stage="contracts")
    qs = sample_questions(params)
    for contract in build.get("contracts", []):
        reqs = requests_for(contract, qs, params)
        comps = llm.generate([r for r, _ in reqs])
        bad = [c.text for c, (_, q) in zip(comps, reqs)
               if answers.extract(c.text, q.options, "strict") is None]
        ok = len(comps) - len(bad)
        cut = sum(c.finish_reason == "length" for c in comps)
        print(f"  {contract:10s} usable {ok}/{len(comps)} = {100 * ok / len(comps):5.1f}%   "
              f"truncated {100 * cut / len(comps):5.1f}%")
        for text in bad[:a.show]:
            print(f"    unusable: {text!r}")


if __name__ == "__main__":
    main()

"""estimate: the requests, tokens and cost a profile would spend, without calling a model.

Prompts are rendered from the real prompt files (generate and verify through their own
request builders) and counted with the role's tokenizer when it is a local folder, else as
characters / 4; completions are max_tokens x a fill factor (params `cost.estimate`).
Prices come from reasonmed/method/cost.py, the same table a real run's ledgers are priced with.

    python -m reasonmed.ops.estimate --params configs/paper.yaml \
        --questions data/collect/questions.jsonl --scale-to 194925
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterable
from functools import cache
from itertools import islice
from pathlib import Path

import jinja2

from reasonmed.core.params import ModelSpec, load, load_models, read_params
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.records import Question, read_jsonl, write_json
from reasonmed.method.cost import TIERS, Estimate, Params, cost_table, table_markdown

# --- estimating a run (no model calls) -----------------------------------------------

_LENIENT = jinja2.Environment(undefined=jinja2.Undefined, autoescape=False)


def render_template(path: str, **vars) -> str:
    """System + user text of a prompt file; variables a stage adds that we do not know
    render empty (the estimate adds their expected token counts separately)."""
    pr = load_prompt(path)
    return "\n".join(_LENIENT.from_string(t).render(**vars) for t in (pr.system, pr.user) if t)


def question_vars(q: Question) -> dict:
    return {"question": q.question, "context": q.context, "options": format_options(q.options),
            "answer": q.answer, "answer_text": q.answer_text, "cot": "", "reasons": [],
            "response": "", "instruction": "", "input": ""}


@cache
def _tokenizer(model: str):
    # The fast tokenizer file alone: no transformers import (seconds), no chat-template
    # tokens (the embedded default's real prompts are ~4-7% longer than counted).
    f = Path(model) / "tokenizer.json"
    if not f.exists():
        return None
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(f))


def counter_for(spec: ModelSpec):
    """(count(system+user text) -> tokens, method) for a role: its tokenizer or chars / 4."""
    tok = _tokenizer(spec.model)
    if tok is None:
        return (lambda text: len(text) / 4), "chars/4"
    return (lambda text: len(tok.encode(text).ids)), f"tokenizer {spec.model}"


def fill(est: Estimate, stage: str) -> float:
    return est.completion_fill.get(stage, est.completion_fill["default"])


def plan(params: dict, specs: dict[str, ModelSpec], sample: list[Question], n: float,
         shares: dict[str, float], est: Estimate) -> list[dict]:
    """Ledger-shaped rows (stage, role, backend, model, devices, requests, tokens) for `n`
    questions whose prompts look like `sample`. Counts per question:

      generate   agents x temperatures x samples
      verify     one per path
      rank       Correct paths of easy + medium questions
      refine     k per medium question, + one re-verification each when `reverify`
      optimize   n_per_question per difficult question, + re-verification
      summarize  one per chosen CoT (upper bound: assumes every chosen CoT is kept)
      score      sample_size rows per variant (a fixed sample, not scaled)
    """
    from reasonmed.method import generation, verification

    rows: list[dict] = []
    counted: set[str] = set()

    def add(stage: str, role: str, requests: float, prompt_tok: float, completion_tok: float):
        spec = specs[role]
        devices = 1
        if spec.backend == "vllm":
            devices = int(spec.options.get("tensor_parallel_size", 1)) * int(
                spec.options.get("pipeline_parallel_size", 1))
        rows.append({"stage": stage, "role": role, "backend": spec.backend, "model": spec.model,
                     "devices": devices, "requests": round(requests),
                     "prompt_tokens": round(requests * prompt_tok),
                     "completion_tokens": round(requests * completion_tok),
                     "prompt_tokens_per_request": round(prompt_tok, 1),
                     "completion_tokens_per_request": round(completion_tok, 1)})

    def mean_tokens(role: str, texts: Iterable[str]) -> float:
        count, how = counter_for(specs[role])
        counted.add(f"{role}: {how}")
        return statistics.fmean(count(t) for t in texts) if sample else 0.0

    sec = {k: params.get(k) or {} for k in ("generate", "verify", "rank", "refine", "optimize",
                                             "summarize", "score")}
    # generate: the real request builder (chat messages) per agent
    gp = generation.Params.model_validate(sec["generate"])
    per_q = len(gp.temperatures) * gp.samples_per_temperature
    cot_tok = gp.max_tokens * fill(est, "generate")
    for agent in gp.agents:
        pt = mean_tokens(agent, ("\n".join(c for _, c in r[-1].messages)
                                 for q in sample for r in generation.requests_for(q, agent, gp, 0)[:1]))
        add("generate", agent, n * per_q, pt, cot_tok)
    n_paths = len(gp.agents) * per_q
    # verify: the real request builder with an empty CoT, plus the expected CoT length
    vp = verification.Params.model_validate(sec["verify"])
    reason_tok = vp.max_tokens * fill(est, "verify")

    def verify_prompt(extra_tok: float) -> float:
        return mean_tokens(vp.model, ("\n".join(c for _, c in verification.request_for(
            q, "", 0, vp, 0).messages) for q in sample)) + extra_tok

    add("verify", vp.model, n * n_paths, verify_prompt(cot_tok), reason_tok)

    def stage_prompt(stage: str, extra_tok: float) -> tuple[str, float]:
        role = sec[stage].get("model", stage)
        path = sec[stage].get("prompt", f"stages/prompts/{stage}.md")
        return role, mean_tokens(role, (render_template(path, **question_vars(q))
                                        for q in sample)) + extra_tok

    k = int(sec["rank"].get("k", 2))
    n_opt = int(sec["optimize"].get("n_per_question", 1))
    if sec["rank"]:
        role, pt = stage_prompt("rank", cot_tok)
        ranked = n * sum(shares[t] * est.correct_per_question[t] for t in ("easy", "medium"))
        add("rank", role, ranked, pt, sec["rank"]["max_tokens"] * fill(est, "rank"))
    chosen_tok = {"easy": cot_tok}  # completion tokens of the CoT each tier ends with
    for stage, tier, per in (("refine", "medium", k), ("optimize", "difficult", n_opt)):
        if not sec[stage]:
            continue
        out_tok = sec[stage]["max_tokens"] * fill(est, stage)
        chosen_tok[tier] = out_tok
        role, pt = stage_prompt(stage, cot_tok + est.reasons_per_cot * reason_tok)
        add(stage, role, n * shares[tier] * per, pt, out_tok)
        if sec[stage].get("reverify", True):
            add(stage, vp.model, n * shares[tier] * per, verify_prompt(out_tok), reason_tok)
    if sec["summarize"]:
        cots = {"easy": k, "medium": k, "difficult": n_opt}
        reqs = n * sum(shares[t] * cots[t] for t in TIERS)
        mean_cot = sum(shares[t] * cots[t] * chosen_tok.get(t, cot_tok) for t in TIERS) * n / max(reqs, 1)
        role, pt = stage_prompt("summarize", mean_cot)
        resp_tok = sec["summarize"]["max_tokens"] * fill(est, "summarize")
        add("summarize", role, reqs, pt, resp_tok)
    if sec["score"]:
        rows_n = sec["score"].get("sample_size", 0) * len(sec["score"].get("variants", [None]))
        role, pt = stage_prompt("score", cot_tok + resp_tok if sec["summarize"] else cot_tok)
        add("score", role, rows_n, pt, sec["score"]["max_tokens"] * fill(est, "score"))
    for r in rows:
        r["token_count"] = next(c.split(": ", 1)[1] for c in counted if c.startswith(r["role"] + ":"))
    return rows


def shares_from_route_stats(path: Path) -> dict[str, float]:
    tiers = json.loads(path.read_text())["tiers"]
    n = sum(tiers.get(t, 0) for t in TIERS)
    return {t: tiers.get(t, 0) / n for t in TIERS} if n else {}


def estimate(params_path: str, questions: str, scale_to: int | None,
             route_stats: str | None) -> dict:
    params, p = read_params(params_path), load("cost", Params, params_path)
    est = p.estimate
    sample = list(islice(read_jsonl(questions, Question), est.sample_questions))
    n_file = sum(1 for _ in read_jsonl(questions, Question))
    n = scale_to or n_file
    shares, shares_from = dict(est.tier_shares), "params cost.estimate.tier_shares"
    if route_stats and Path(route_stats).exists() and shares_from_route_stats(Path(route_stats)):
        shares, shares_from = shares_from_route_stats(Path(route_stats)), route_stats
    rows = plan(params, load_models(params_path), sample, n, shares, est)
    table = cost_table(rows, p)
    return {"questions": n, "questions_in_file": n_file, "sampled": len(sample),
            "tier_shares": shares, "tier_shares_from": shares_from,
            "plan": rows, "cost": table}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Estimate a run's requests, tokens and cost "
                                 "without calling any model.")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--questions", default="data/collect/questions.jsonl")
    ap.add_argument("--scale-to", type=int, help="questions to plan for (default: the file's)")
    ap.add_argument("--route-stats", help="take tier shares from a route stats.json")
    ap.add_argument("--out", help="write the estimate as JSON")
    a = ap.parse_args(argv)
    e = estimate(a.params, a.questions, a.scale_to, a.route_stats)
    print(f"{e['questions']:,} questions; tier shares {e['tier_shares']} "
          f"(from {e['tier_shares_from']}); prompt lengths from {e['sampled']} questions\n")
    print(table_markdown(e["cost"]))
    print("\ntoken counts: " + "; ".join(sorted({f"{r['role']}: {r['token_count']}"
                                                  for r in e["plan"]})))
    if a.out:
        write_json(a.out, e)


if __name__ == "__main__":
    main()

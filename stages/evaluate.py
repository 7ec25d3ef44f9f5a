"""evaluate: accuracy of one model on the medical QA benchmarks, scored two labelled ways.

Reads every benchmark of params `benchmarks` (normalised by the benchmark stage into
data/benchmarks/<name>.jsonl, columns stamped; at most `limit` items per column, a seeded
sample), asks one row of `evaluate.models` -- a role under `models` (`student` = the SFT
base, the baselines) or a checkpoint folder (data/sft/<variant>/model) -- for one
chain-of-thought answer per question with the HuatuoGPT-o1 prompt and sampling
(METHOD.md 10.2), and scores every output twice:

  strict  the letter of an explicit final-answer statement in the final-answer region
          (after `</think>` / `## Final Response`; reasonmed/answers.py defines it); an
          empty or whitespace-only output, an unclosed reasoning block, no statement or a
          hedge ("B or C") counts as wrong.
  huatuo  HuatuoGPT-o1's eval-script postprocessing + match_choice + score(): the reported
          accuracy is the max of first-match and last-match accuracy per column. OPTIMISTIC
          by construction (a letter is always found, the better of two readings is kept);
          reproduced because the paper's numbers most likely come from it. Outputs the
          original script drops (empty once `</s>` and one leading space are removed) are
          `empty` and count as wrong in `huatuo_acc`; `huatuo_acc_excl_empty` drops them as
          the original does.

Results are reported per column (a benchmark, or one MMLU subject), per benchmark and in
total, with percentile-bootstrap confidence intervals. Writes predictions.jsonl (one row
per item), results.json (every column, both scorers, CIs and counts), metrics.json (the DVC
metric: total accuracies only), stats.json and ledger.json, and prints the results table.

    python -m stages.evaluate --model agent1 --name baseline_agent1 --out data/evaluate/baseline_agent1
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt

from reasonmed import answers, benchmarks
from reasonmed.benchmarks import column_of
from reasonmed.bootstrap import interval, resample_means
from reasonmed.failures import Failures
from reasonmed.llm import LLM, Request
from reasonmed.params import (
    ModelSpec,
    Section,
    load,
    load_models,
    load_run,
    model_spec,
    read_params,
    trace,
)
from reasonmed.prompting import format_options, load_prompt
from reasonmed.records import JsonlWriter, Question, Record, Reject, read_jsonl, write_json
from reasonmed.seeds import path_seed
from reasonmed.stage import StageRun, entry, token_totals

log = logging.getLogger("reasonmed.evaluate")


class EvalModel(Section):
    """One row of the main results table (an entry of `evaluate.models`)."""

    model: str  # a role under `models`, or a checkpoint folder
    dep: str  # what DVC hashes for the row: models/<role>, or the checkpoint (dvc.yaml reads it)
    param: str  # the params key the row reads besides `evaluate` (dvc.yaml reads it)


class Params(Section):
    models: dict[str, EvalModel]  # the table's rows, in order (dvc.yaml: one stage each)
    # A checkpoint is served by this backend; a role uses its own spec.
    backend: Literal["hf", "vllm", "openai"] = "hf"
    backend_options: dict[str, Any] = Field(default_factory=dict)
    prompt: str
    strict_prompt: bool = True
    temperature: float
    top_p: float
    max_tokens: int
    n_resamples: PositiveInt = 1000
    confidence: float = 0.95
    # items per backend call (bounds memory; which can share an hf batch: hashed)
    batch_items: int = 512


class Prediction(Record):
    """One benchmark item: the model's raw output and both extractions."""

    benchmark: str
    column: str  # benchmark, or benchmark/subject
    subject: str | None
    question_id: str
    source: str
    source_id: str | None
    gold: str
    letters: str  # the options' letters
    output: str
    finish_reason: str
    empty: bool  # dropped by HuatuoGPT-o1's eval script: "" once </s> and one leading space go
    strict: str | None  # None: no explicit final answer (empty/whitespace output included)
    huatuo_first: str | None  # None only for dropped (empty) outputs
    huatuo_last: str | None
    huatuo_type: int  # 1 letter, 2 option text, 3 most similar option, 0 dropped
    strict_correct: bool
    huatuo_first_correct: bool
    huatuo_last_correct: bool
    model: str
    revision: str
    seed: int
    prompt_hash: str
    prompt_tokens: int
    completion_tokens: int


Item = tuple[str, str, Question]  # (benchmark name, column, question)


# --- the model under evaluation --------------------------------------------------------


def resolve_model(model: str, p: Params, params_path: str) -> tuple[str, ModelSpec]:
    """(ledger role, spec): a role under `models`, else a local checkpoint folder."""
    specs = load_models(params_path)
    if model in specs:
        return model, model_spec(model, params_path)
    if Path(model).exists():
        return "checkpoint", ModelSpec(backend=p.backend, model=model, options=p.backend_options)
    raise SystemExit(f"--model {model!r} is neither a role under `models` ({', '.join(specs)}) "
                     "nor an existing path (add a role to evaluate a hub model)")


# --- benchmarks: load, split into columns, sample ----------------------------------------


def shuffle_key(seed: int, q: Question) -> str:
    # By content id, not file position: the same items are drawn from a reordered file, and
    # a larger limit draws a superset of a smaller one.
    return hashlib.sha256(f"{seed}:{q.id}".encode()).hexdigest()


def select(name: str, limit: int | None, records: Iterable[Question | Reject], seed: int,
           cap: int | None = None) -> tuple[list[Item], dict]:
    """Items of one benchmark (file order), at most `limit` (and `cap`) per column, plus counts."""
    by_col: dict[str, list[tuple[int, Question]]] = defaultdict(list)
    rejects: Counter = Counter()
    for i, r in enumerate(records):
        if isinstance(r, Reject):
            rejects[f"{r.field}: {r.reason}"] += 1
        else:
            by_col[column_of(name, r)].append((i, r))
    limit = min((x for x in (limit, cap) if x is not None), default=None)
    kept = []
    for rows in by_col.values():
        kept += sorted(rows, key=lambda t: (shuffle_key(seed, t[1]), t[0]))[:limit]
    items = [(name, column_of(name, q), q) for _, q in sorted(kept, key=lambda t: t[0])]
    n_in = sum(len(v) for v in by_col.values()) + sum(rejects.values())
    return items, {"records_in": n_in, "rejected": sum(rejects.values()),
                   "reject_reasons": dict(rejects), "selected": len(items),
                   "not_sampled": n_in - sum(rejects.values()) - len(items),
                   "columns": {c: {"available": len(v),
                                   "selected": sum(1 for _, cc, _ in items if cc == c)}
                               for c, v in sorted(by_col.items())}}


# --- prompting and scoring (pure) --------------------------------------------------------


def request_for(q: Question, p: Params, seed: int) -> Request:
    _, user = load_prompt(p.prompt).render(question=q.question, context=q.context,
                                           options=format_options(q.options),
                                           strict=p.strict_prompt)
    # HuatuoGPT-o1's evaluation sends no system prompt: a fine-tuned model sees exactly
    # its training instruction (assemble's `instruction`) in the user turn.
    return Request.chat(None, user, temperature=p.temperature, top_p=p.top_p,
                        max_tokens=p.max_tokens, seed=seed)


def extract(text: str, options: dict[str, str]) -> dict:
    """Both readings of one output. strict: None for an empty or whitespace-only output
    (wrong). huatuo: what HuatuoGPT-o1's eval script does: an output left empty by its
    postprocessing is dropped (`empty`, no letter); a whitespace-only one is kept and
    scored like any other (by similarity)."""
    h = answers.extract(text, options, "huatuo")
    return {"empty": h is None, "strict": answers.extract(text, options, "strict"),
            "huatuo_first": h.first if h else None, "huatuo_last": h.last if h else None,
            "huatuo_type": h.kind if h else 0}


def run(items: Iterable[Item], llm: LLM, p: Params, run_seed: int,
        failures: Failures | None = None) -> Iterator[Prediction]:
    """One Prediction per item, in input order; an item whose request failed gets none (it
    goes to `failures`: a backend fault is not a wrong answer)."""
    failures = failures if failures is not None else Failures("evaluate")
    it = iter(items)
    prompt_hash = load_prompt(p.prompt).hash
    while batch := list(islice(it, p.batch_items)):
        seeds = [path_seed(run_seed, f"evaluate/{q.id}") for _, _, q in batch]
        comps = llm.generate([request_for(q, p, s) for (_, _, q), s in zip(batch, seeds)])
        for (b, col, q), seed, c in zip(batch, seeds, comps):
            if c.failed:
                failures.add(llm.role, f"{b}/{q.id}", c)
                continue
            x = extract(c.text, q.options)
            yield Prediction(
                benchmark=b, column=col, subject=col.partition("/")[2] or None,
                question_id=q.id, source=q.source, source_id=q.source_id, gold=q.answer,
                letters="".join(q.options), output=c.text, finish_reason=c.finish_reason, **x,
                strict_correct=x["strict"] == q.answer,
                huatuo_first_correct=(x["huatuo_first"] or "").upper() == q.answer,
                huatuo_last_correct=(x["huatuo_last"] or "").upper() == q.answer,
                model=llm.spec.model, revision=llm.revision, seed=seed, prompt_hash=prompt_hash,
                prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens)


# --- metrics: accuracies with percentile-bootstrap CIs -----------------------------------


def _pct(v: float) -> float:
    return round(100 * float(v), 2)


def _block(n: int, strict: np.ndarray, huatuo: np.ndarray, confidence: float) -> dict:
    (s_lo, s_hi), (h_lo, h_hi) = interval(strict, confidence), interval(huatuo, confidence)
    return {"n": n, "strict_acc": _pct(strict[0]), "strict_ci_lo": _pct(s_lo),
            "strict_ci_hi": _pct(s_hi), "huatuo_acc": _pct(huatuo[0]),
            "huatuo_ci_lo": _pct(h_lo), "huatuo_ci_hi": _pct(h_hi)}


_COUNTS = ("empty", "unextractable", "huatuo_by_text", "huatuo_by_similarity", "truncated",
           "backend_errors", "completion_tokens")


def _counts(rows: list[Prediction]) -> Counter:
    c: Counter = Counter()
    for r in rows:
        c["empty"] += r.empty
        c["unextractable"] += not r.empty and r.strict is None
        c["huatuo_by_text"] += r.huatuo_type == 2
        c["huatuo_by_similarity"] += r.huatuo_type == 3
        c["truncated"] += r.finish_reason == "length"
        c["backend_errors"] += r.finish_reason == "error"  # empty text: counted wrong too
        c["completion_tokens"] += r.completion_tokens
    return c


def _detail(rows: list[Prediction]) -> dict:
    """Point-only extras: first/last readings, the authors' empty-dropping number, counts."""
    n, c = len(rows), _counts(rows)
    kept = [r for r in rows if not r.empty]
    excl = max(sum(r.huatuo_first_correct for r in kept), sum(r.huatuo_last_correct for r in kept))
    return {"huatuo_first_acc": _pct(sum(r.huatuo_first_correct for r in rows) / n),
            "huatuo_last_acc": _pct(sum(r.huatuo_last_correct for r in rows) / n),
            "huatuo_acc_excl_empty": _pct(excl / len(kept)) if kept else None,
            **{k: c[k] for k in _COUNTS if k != "completion_tokens"},
            "mean_completion_tokens": round(c["completion_tokens"] / n, 1)}


def metrics_of(preds: Iterable[Prediction], n_resamples: int, confidence: float,
               seed: int) -> dict:
    """Accuracy (percent) per column, per benchmark and in total, with bootstrap CIs.

    Items are resampled within each column (column sizes are fixed by design); the huatuo
    statistic is max(first, last) per column, as HuatuoGPT-o1's score() takes it per
    source, and pooled figures weight columns by size. Totals: `micro` over all items,
    `macro_columns` the mean over the reported columns (the six MMLU subjects count six
    times), `macro_benchmarks` the mean over benchmarks (MMLU pooled). Which one is the
    paper's "Total Acc" is unverified (METHOD.md 10.2), so all are reported.
    """
    rows: dict[str, list[Prediction]] = defaultdict(list)
    for r in preds:
        rows[r.column].append(r.model_copy(update={"output": ""}))  # flags only: small
    bench_of = {c: rs[0].benchmark for c, rs in rows.items()}
    benches = list(dict.fromkeys(bench_of.values()))  # in order of first appearance
    stats: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
    for col, rs in rows.items():
        x = np.array([[r.strict_correct, r.huatuo_first_correct, r.huatuo_last_correct]
                      for r in rs], dtype=np.float64)
        key = int(hashlib.sha256(f"{seed}:{col}".encode()).hexdigest()[:8], 16)
        m = resample_means(x, n_resamples, key)
        stats[col] = (len(rs), m[:, 0], np.maximum(m[:, 1], m[:, 2]))

    def pooled(cols: list[str]) -> tuple[int, np.ndarray, np.ndarray]:
        n = sum(stats[c][0] for c in cols)
        return (n, sum(stats[c][0] * stats[c][1] for c in cols) / n,
                sum(stats[c][0] * stats[c][2] for c in cols) / n)

    def mean(parts: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[int, np.ndarray, np.ndarray]:
        return (sum(p[0] for p in parts), sum(p[1] for p in parts) / len(parts),
                sum(p[2] for p in parts) / len(parts))

    out: dict[str, Any] = {"unit": "percent", "confidence": confidence,
                           "n_resamples": n_resamples, "columns": {}, "benchmarks": {}}
    for col in sorted(rows, key=lambda c: (benches.index(bench_of[c]), c)):
        out["columns"][col] = {**_block(*stats[col], confidence), **_detail(rows[col])}
    by_bench = {b: pooled([c for c in rows if bench_of[c] == b]) for b in benches}
    for b in benches:
        members = [r for c in rows if bench_of[c] == b for r in rows[c]]
        out["benchmarks"][b] = {**_block(*by_bench[b], confidence),
                                **_detail(members),
                                "columns": sum(bench_of[c] == b for c in rows)}
    if rows:
        everything = [r for rs in rows.values() for r in rs]
        out["total"] = {
            "micro": {**_block(*pooled(list(rows)), confidence),
                      **{k: v for k, v in _detail(everything).items()
                         if k in ("empty", "unextractable")}},
            "macro_columns": _block(*mean([stats[c] for c in rows]), confidence),
            "macro_benchmarks": _block(*mean(list(by_bench.values())), confidence)}
    return out


DEFINITIONS = {
    "strict": "letter of an explicit final-answer statement in the final-answer region (after "
              "</think> or ## Final Response); empty, unclosed reasoning, missing or hedged = wrong",
    "huatuo": "HuatuoGPT-o1 eval postprocessing + match_choice; max(first-match, last-match) "
              "accuracy per column (optimistic); outputs the original drops (empty after "
              "removing </s>) counted wrong (huatuo_acc_excl_empty drops them, as the original)",
    "ci": "percentile bootstrap over items, resampled within columns",
    "micro": "all items pooled",
    "macro_columns": "mean over reported columns (benchmarks and MMLU subjects)",
    "macro_benchmarks": "mean over benchmarks (MMLU subjects pooled)",
}


def headline(metrics: dict, failed: int) -> dict:
    """The DVC metric: total accuracies (both scorers), the answer rate and failures."""
    t = metrics.get("total") or {}
    micro = t.get("micro") or {}
    return {"n": micro.get("n", 0), "strict_acc": micro.get("strict_acc"),
            "huatuo_acc": micro.get("huatuo_acc"),
            "strict_acc_macro": (t.get("macro_columns") or {}).get("strict_acc"),
            "unextractable": micro.get("unextractable"), "failed": failed}


def results_table(name: str, metrics: dict) -> str:
    """lm-eval-style table of one evaluation: column, n, strict and huatuo with CIs."""
    def cell(b: dict, k: str) -> str:
        return f"{b[k + '_acc']:5.1f} [{b[k + '_ci_lo']:5.1f}, {b[k + '_ci_hi']:5.1f}]"

    rows = list(metrics["columns"].items())
    rows += [(f"total ({k})", b) for k, b in (metrics.get("total") or {}).items()]
    width = max([len(c) for c, _ in rows] + [6])
    lines = [f"evaluate {name}: accuracy % [{100 * metrics['confidence']:.0f}% CI]",
             f"| {'column':<{width}} | {'n':>5} | {'strict':^20} | {'huatuo':^20} |",
             f"|{'-' * (width + 2)}|{'-' * 7}|{'-' * 22}|{'-' * 22}|"]
    lines += [f"| {c:<{width}} | {b['n']:>5} | {cell(b, 'strict')} | {cell(b, 'huatuo')} |"
              for c, b in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description="Evaluate one model on the medical QA benchmarks.")
    ap.add_argument("--model", required=True, help="role under `models`, or a checkpoint path")
    ap.add_argument("--name", required=True, help="name of this evaluation (e.g. base, reasonmed)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--limit", type=int, help="at most N items per column (smoke runs)")
    ap.add_argument("--benchmarks", default="data/benchmarks", help="the benchmark stage's folder")
    a = ap.parse_args()
    run_p = load_run(a.params, job=f"evaluate-{a.name}")
    p, out, st = load("evaluate", Params, a.params), Path(a.out), StageRun(f"evaluate-{a.name}")
    role, spec = resolve_model(a.model, p, a.params)
    llm = LLM(role, spec, run_p, stage="evaluate")
    items, sources = [], {}
    specs = read_params(a.params).get("benchmarks") or {}  # the one list (collect reads it too)
    trace("benchmarks")
    if not specs:
        raise SystemExit(f"{a.params}: `benchmarks` is empty: nothing to evaluate on")
    for b, entry_ in specs.items():
        got, sources[b] = select(b, (entry_ or {}).get("limit"), benchmarks.read(a.benchmarks, b),
                                 run_p.seed, a.limit)
        if not got:
            raise SystemExit(f"benchmark {b}: no item to evaluate (data/benchmarks/{b}.jsonl)")
        items += got
    failures = Failures("evaluate")
    with JsonlWriter(out / "predictions.jsonl") as w:
        w.write_all(run(items, llm, p, run_p.seed, failures))
        failures.settle(out, run_p.max_failure_rate, llm.ledger.to_list())
    metrics = metrics_of(read_jsonl(out / "predictions.jsonl", Prediction), p.n_resamples,
                         p.confidence, run_p.seed)
    ledger = llm.ledger.to_list()
    write_json(out / "results.json", {"name": a.name, "model": spec.model, **metrics,
                                      "definitions": DEFINITIONS})
    print(results_table(a.name, metrics), file=sys.stderr)
    st.finish(out, {
        "name": a.name, "model": spec.model, "backend": spec.backend, "revision": llm.revision,
        "records_in": sum(s["records_in"] for s in sources.values()),
        "rejected": sum(s["rejected"] for s in sources.values()),
        "not_sampled": sum(s["not_sampled"] for s in sources.values()),
        "predictions_out": w.count, "sources": sources, **failures.summary(),
        **token_totals(ledger)}, llm.ledger, headline=headline(metrics, len(failures)))


if __name__ == "__main__":
    entry(main)

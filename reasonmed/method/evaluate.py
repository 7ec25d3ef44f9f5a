"""Evaluate: accuracy of one model on the medical QA benchmarks, scored two labelled ways.

Reads every benchmark of params `benchmarks` (normalised by the benchmark stage into
data/benchmarks/<name>.jsonl, columns stamped; at most `limit` items per column, a seeded
sample), asks one row of `evaluate.models` -- a role under `models` (`student` = the SFT
base, the baselines) or a checkpoint folder (data/sft/<variant>/model) -- for one
chain-of-thought answer per question with the HuatuoGPT-o1 prompt and sampling
(docs/method.md 10.2), and scores every output twice:

  strict  the letter of an explicit final-answer statement in the final-answer region
          (after `</think>` / `## Final Response`; reasonmed/method/answers.py defines it); an
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

The accuracies, their CIs and the table are reasonmed/method/accuracy.py. A third reading,
strict+judge (a judge model for the outputs strict reads as no answer), is
reasonmed/method/judge.py; the robustness slices are reasonmed/method/robustness.py; the
stage's whole row, reasonmed/method/evaluate_row.py.

    python -c "from reasonmed.method.evaluate import extract; print(extract('Answer: B', {'B': 'y'}))"
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from reasonmed.core.failures import Failures
from reasonmed.core.params import ModelSpec, Sampling, Section, load_models, model_spec, read_params, trace
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.records import Question, Record, Reject
from reasonmed.core.seeds import path_seed
from reasonmed.core.stage import token_totals
from reasonmed.ingest import benchmarks
from reasonmed.ingest.benchmarks import column_of
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Request
from reasonmed.method import answers


class EvalModel(Section):
    """One row of the main results table (an entry of `evaluate.models`)."""

    model: str  # a role under `models`, or a checkpoint folder
    dep: str  # what DVC hashes for the row: models/<role>, or the checkpoint (dvc.yaml reads it)
    param: str  # the params key the row reads besides `evaluate` (dvc.yaml reads it)
    # the row this one continues (an RL checkpoint's SFT row): the report shows it under that
    # row and compares the two on the same items
    parent: str | None = None


class Robustness(Section):
    """`evaluate.robustness`: the slices re-asked on the clean run's items
    (reasonmed/method/robustness.py); all off by default."""

    permutations: NonNegativeInt = 0  # k seeded option-order permutations per item
    prefill_wrong: bool = False  # a wrong option's justification opens the reasoning
    formats: list[Literal["text", "json", "letter"]] = Field(default_factory=list)
    # items per column the slices run on: the first `limit` of each column's seeded order
    # (a subset of the clean items); None: every clean item
    limit: PositiveInt | None = None

    @field_validator("formats")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        if len(set(v)) < len(v):  # one slice per format: a repeat would pair with itself
            raise ValueError(f"formats lists a format twice: {v}")
        return v


class Params(Sampling):
    models: dict[str, EvalModel]  # the table's rows, in order (dvc.yaml: one stage each)
    # A checkpoint is served by this backend; a role uses its own spec.
    backend: Literal["hf", "vllm", "openai"] = "hf"
    backend_options: dict[str, Any] = Field(default_factory=dict)
    prompt: str
    strict_prompt: bool = True
    n_resamples: PositiveInt = 1000
    confidence: float = 0.95
    # items per backend call (bounds memory; which can share an hf batch: hashed)
    batch_items: int = 512
    # The judge fallback (reasonmed/method/judge.py): a role under `models` asked which option
    # an output the strict reader reads as "no answer" commits to; None: no judge.
    judge: str | None = None
    judge_prompt: str = "stages/prompts/judge.md"
    judge_agreement_sample: NonNegativeInt = 0  # outputs strict read, also judged (agreement)
    judge_temperature: float = 0.0
    judge_max_tokens: PositiveInt = 24
    judge_max_attempts: PositiveInt = 2
    robustness: Robustness = Field(default_factory=Robustness)


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
    # The judge (None / False when not asked): its reading ("none" or a letter; None when
    # not asked or its reply never parsed), why it was asked (no_answer: strict read none;
    # agreement: a seeded sample strict did read), and strict+judge: strict's letter, else
    # the judge's.
    judge: str | None = None
    judge_reason: Literal["no_answer", "agreement"] | None = None
    strict_judge: str | None = None
    strict_judge_correct: bool = False
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



def load_items(params_path: str, folder: str, seed: int,
               cap: int | None = None) -> tuple[list[Item], dict[str, dict]]:
    """The items of every benchmark of params `benchmarks` (read from `folder`, the
    benchmark stage's), in params order, and each benchmark's counts (`select`)."""
    specs = read_params(params_path).get("benchmarks") or {}  # the one list (collect reads it too)
    trace("benchmarks")
    if not specs:
        raise SystemExit(f"{params_path}: `benchmarks` is empty: nothing to evaluate on")
    items, sources = [], {}
    for b, entry_ in specs.items():
        got, sources[b] = select(b, (entry_ or {}).get("limit"), benchmarks.read(folder, b), seed, cap)
        if not got:
            raise SystemExit(f"benchmark {b}: no item to evaluate ({folder}/{b}.jsonl)")
        items += got
    return items, sources


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
                strict_correct=x["strict"] == q.answer, strict_judge=x["strict"],
                strict_judge_correct=x["strict"] == q.answer,
                huatuo_first_correct=(x["huatuo_first"] or "").upper() == q.answer,
                huatuo_last_correct=(x["huatuo_last"] or "").upper() == q.answer,
                model=llm.spec.model, revision=llm.revision, seed=seed, prompt_hash=prompt_hash,
                prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens)


def stats_of(name: str, spec: ModelSpec, llm: LLM, sources: dict[str, dict], predictions: int,
             failures: Failures) -> dict:
    """stats.json: the row evaluated, the items read and sampled per benchmark, the
    predictions written, the failures and the tokens."""
    return {
        "name": name, "model": spec.model, "backend": spec.backend, "revision": llm.revision,
        "records_in": sum(s["records_in"] for s in sources.values()),
        "rejected": sum(s["rejected"] for s in sources.values()),
        "not_sampled": sum(s["not_sampled"] for s in sources.values()),
        "predictions_out": predictions, "sources": sources, **failures.summary(),
        **token_totals(llm.ledger.to_list())}

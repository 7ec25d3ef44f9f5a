"""Score evaluation: grade a seeded sample of each dataset variant 1-10 with a judge model.

The score evaluator (docs/method.md section 11.1) sees a row's instruction as [Question] and its
output as [Response] and answers JSON `{"score": 1-10, "justification"}` on four criteria
(clinical accuracy, logical reasoning, factual correctness, completeness). As in the
authors' code the gold answer (`input`) is not shown. Schema enforced by the backend,
re-parsed tolerantly, bounded retries (reasonmed/method/judging.py).

Deviations: the sample is seeded from run.seed alone, so every variant is graded on the
same rows (a paired comparison: the variants share row ids; the authors' random.sample has
no seed and draws each file independently) and drawn by streaming reservoir sampling; an
unparseable reply is reported and left out of the mean (the authors average it in as 0;
stats also give that figure for comparison).

The same sample size, judge and prompt grade every dataset of params `external` (other
medical reasoning datasets, normalised by the external stage into data/external/<name>.jsonl),
so the paper's quality comparison (docs/method.md section 10.3) is regenerated beside the variants.
A row whose request failed is left out of its dataset's mean and counted (`failed`).
Rows are `{id, question_id, instruction, input, output}`; a Score's item_id is
"<dataset>/<row id>".

    python -c "from reasonmed.method.score import reservoir; print(reservoir(range(10), 3, 1))"
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from reasonmed.core.failures import Failures
from reasonmed.core.params import Sampling, read_params, trace
from reasonmed.core.prompting import load_prompt
from reasonmed.core.records import Score, read_jsonl
from reasonmed.core.seeds import path_seed
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Request
from reasonmed.method.judging import judge_scores, score_schema

SCALE = range(1, 11)  # 1 poor ... 10 flawless


class Params(Sampling):
    model: str  # role name under `models`
    variants: list[str]  # <variant>.jsonl in the datasets folder
    sample_size: int
    justification_max_chars: int = 200
    max_attempts: int = 3
    prompt: str
    batch_rows: int = 256  # rows per backend call: which can share an hf batch (hashed)


class Row(BaseModel):
    """One dataset row as the scorer needs it; other columns are ignored (assemble owns them)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    question_id: str
    instruction: str
    input: str = ""
    output: str


def reservoir(items: Iterable, n: int, seed: int) -> tuple[list, int]:
    """(a uniform sample of n items in input order, items seen); one pass, O(n) memory."""
    rng, keep, seen = random.Random(seed), [], 0
    for i, x in enumerate(items):
        seen = i + 1
        if i < n:
            keep.append((i, x))
        elif (j := rng.randrange(i + 1)) < n:
            keep[j] = (i, x)
    return [x for _, x in sorted(keep, key=lambda t: t[0])], seen


def request_for(variant: str, row: Row, p: Params, run_seed: int, attempt: int) -> Request:
    system, user = load_prompt(p.prompt).render(question=row.instruction, response=row.output)
    seed = path_seed(run_seed, f"score:{variant}/{row.id}") + attempt
    return Request.chat(system, user, temperature=p.temperature, top_p=p.top_p,
                        max_tokens=p.max_tokens, seed=seed, sample=attempt,
                        schema=score_schema(SCALE, p.justification_max_chars))


def run(variant: str, rows: Iterable[Row], llm: LLM, p: Params, run_seed: int,
        failures: Failures | None = None) -> Iterator[tuple[Score, list[str]]]:
    """Yield (score, parse errors of failed attempts) per row, in input order; a row whose
    request failed gets no score (it goes to `failures`)."""
    failures = failures if failures is not None else Failures("score")
    prompt_hash, it = load_prompt(p.prompt).hash, iter(rows)
    while batch := list(islice(it, p.batch_rows)):
        judged = judge_scores(batch, lambda r, a: request_for(variant, r, p, run_seed, a),
                              llm, SCALE, p.max_attempts)
        for row, s in zip(batch, judged):
            if s.failure is not None:
                failures.add(llm.role, f"{variant}/{row.id}", s.failure)
                continue
            yield Score(item_id=f"{variant}/{row.id}", question_id=row.question_id,
                        score=s.value, justification=s.note, parsed=s.parsed,
                        attempts=s.attempts, error=None if s.parsed else s.errors[-1],
                        model=llm.spec.model, prompt_hash=prompt_hash,
                        prompt_tokens=s.prompt_tokens,
                        completion_tokens=s.completion_tokens), s.errors


def variant_stats(rows_in: int, scores: list[Score], first_fail: int, failed: int = 0) -> dict:
    parsed = [s.score for s in scores if s.parsed]
    n = max(len(scores), 1)
    return {
        "rows_in": rows_in, "sampled": len(scores) + failed, "failed": failed,
        "not_sampled": rows_in - len(scores) - failed,
        "parsed": len(parsed), "unparsed": len(scores) - len(parsed),
        "parse_failure_rate_first_attempt": round(first_fail / n, 4),
        "parse_failure_rate": round((len(scores) - len(parsed)) / n, 4),
        "mean": round(statistics.fmean(parsed), 4) if parsed else None,
        "std": round(statistics.pstdev(parsed), 4) if parsed else None,  # population std
        # The authors' figure: unparsed replies averaged in as 0 (for comparison only).
        "mean_unparsed_as_0": round(sum(parsed) / len(scores), 4) if scores else None,
        "score_histogram": {str(k): v for k, v in sorted(Counter(parsed).items())}}


def external_names(params_path: str, p: Params) -> list[str]:
    """The datasets of params `external` (the external stage's list), graded beside the variants."""
    external = list(read_params(params_path).get("external") or {})
    trace("external")
    if clash := set(external) & set(p.variants):
        raise SystemExit(f"{params_path}: external dataset name(s) {sorted(clash)} are also "
                         "score.variants: rename the `external` entries")
    return external


def score_set(name: str, path: Path, llm: LLM, p: Params, run_seed: int,
              failures: Failures) -> tuple[list[Score], dict]:
    """(scores, stats) of one dataset file: its seeded sample, graded."""
    sample, seen = reservoir(read_jsonl(path, Row), p.sample_size, path_seed(run_seed, "score"))
    before = len(failures)
    scored = list(run(name, sample, llm, p, run_seed, failures))
    return [s for s, _ in scored], variant_stats(seen, [s for s, _ in scored],
                                                 sum(bool(e) for _, e in scored),
                                                 len(failures) - before)


def headline(stats: dict) -> dict:
    """The DVC metric (metrics.json): each dataset's mean, the unparsed and the failed."""
    return {"mean": {v: s["mean"] for g in ("variants", "external") for v, s in stats[g].items()},
            "unparsed": sum(s["unparsed"] for g in ("variants", "external")
                            for s in stats[g].values()), "failed": stats["failed"]}

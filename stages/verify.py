"""verify: one verdict (Correct/Error) and a short reason per path, against the gold answer.

The verifier sees the question, lettered options, the gold letter and text, and one path's
CoT (markers stripped), and must answer with JSON `{"verdict", "reason"}`; the schema is
enforced by the backend (outlines for hf, guidance for vLLM, `response_format` for
OpenAI-compatible servers). An unparseable reply is re-asked with a fresh sample up to
`max_attempts` times; one that never parses is recorded with `verdict: null` and
`parsed: false`, never turned into an "Error" (the authors' code does that silently).

    python -m stages.verify data/collect/questions.jsonl data/generate/paths.jsonl data/verify
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from reasonmed.failures import Failures
from reasonmed.llm import LLM
from reasonmed.params import load, load_run, model_spec
from reasonmed.prompting import load_prompt
from reasonmed.records import CoTPath, JsonlWriter, Question, Verdict, read_jsonl
from reasonmed.stage import StageRun, entry, pick, rate, token_totals
from reasonmed.streams import join_by_question
from reasonmed.verification import Params, verify_cots

log = logging.getLogger("reasonmed.verify")
# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("paths_in", "verdicts.Correct", "verdicts.Error", "verdicts.unparsed", "pass_rate",
            "failed")


def pair_paths(questions: Iterable[Question], paths: Iterable[CoTPath]) -> Iterator[tuple[Question, CoTPath]]:
    """Stream (question, path) pairs; paths come grouped in question order (generate gather)."""
    for q, qpaths in join_by_question(questions, paths=paths):
        for path in qpaths:
            yield q, path


def run(pairs: Iterable[tuple[Question, CoTPath]], llm: LLM, p: Params,
        failures: Failures | None = None) -> Iterator[tuple[Verdict, list[str]]]:
    """Yield (verdict, parse errors of failed attempts) per path, in input order; a path
    whose request failed gets no verdict (it goes to `failures`)."""
    failures = failures if failures is not None else Failures("verify")
    it = iter(pairs)
    prompt_hash = load_prompt(p.prompt).hash
    while batch := list(islice(it, p.batch_paths)):
        judged = verify_cots([(q, path.cot, path.seed) for q, path in batch], llm, p)
        for (q, path), j in zip(batch, judged):
            if j.failure is not None:
                failures.add(llm.role, path.id, j.failure)
                continue
            yield Verdict(
                path_id=path.id, question_id=q.id, agent=path.agent,
                temperature=path.temperature, verdict=j.value, reason=j.note,
                parsed=j.parsed, attempts=j.attempts,
                error=None if j.parsed else j.errors[-1], model=llm.spec.model,
                prompt_hash=prompt_hash, prompt_tokens=j.prompt_tokens,
                completion_tokens=j.completion_tokens), j.errors


def main() -> None:
    ap = argparse.ArgumentParser(description="Verify every path against the gold answer.")
    ap.add_argument("questions")
    ap.add_argument("paths")
    ap.add_argument("out")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    run_p, p, out = load_run(a.params), load("verify", Params, a.params), Path(a.out)
    st = StageRun("verify", run_p.log_level)
    llm = LLM(p.model, model_spec(p.model, a.params), run_p, stage="verify")
    pairs = islice(pair_paths(read_jsonl(a.questions, Question), read_jsonl(a.paths, CoTPath)), a.limit)
    verdicts, attempts, first_fail, failures = Counter(), Counter(), 0, Failures("verify")
    with JsonlWriter(out / "verdicts.jsonl") as w:
        for v, errors in run(pairs, llm, p, failures):
            w.write(v)
            verdicts[v.verdict or "unparsed"] += 1
            attempts[v.attempts] += 1
            first_fail += bool(errors)
        failures.settle(out, run_p.max_failure_rate, llm.ledger.to_list())
    n = sum(verdicts.values())
    stats = {
        "paths_in": n + len(failures), "verdicts_out": n, **failures.summary(),
        "verdicts": {"Correct": verdicts["Correct"], "Error": verdicts["Error"],
                     "unparsed": verdicts["unparsed"]},
        "parse_failure_rate_first_attempt": round(first_fail / max(n, 1), 4),
        "parse_failure_rate": round(verdicts["unparsed"] / max(n, 1), 4),
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
        "pass_rate": rate(verdicts["Correct"], n),
        **token_totals(llm.ledger.to_list())}
    st.finish(out, stats, llm.ledger, headline=pick(stats, HEADLINE))


if __name__ == "__main__":
    entry(main)

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
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import groupby, islice
from pathlib import Path

from stages.judging import Judged, ParseError, json_objects, judge
from stages.llm import LLM, Request
from stages.params import Section, load, load_run, model_spec
from stages.prompting import format_options, load_prompt
from stages.records import CoTPath, JsonlWriter, Question, Verdict, read_jsonl, write_json

log = logging.getLogger("reasonmed.verify")


class Params(Section):
    model: str  # role name under `models`
    temperature: float
    top_p: float
    max_tokens: int
    reason_max_chars: int = 300
    max_attempts: int = 3
    prompt: str
    batch_paths: int = 1024


def verdict_schema(reason_max_chars: int) -> dict:
    # enum, not free text, for the verdict; maxLength bounds the reason (see STACK-NOTES).
    return {"type": "object", "additionalProperties": False, "required": ["verdict", "reason"],
            "properties": {"verdict": {"type": "string", "enum": ["Correct", "Error"]},
                           "reason": {"type": "string", "maxLength": reason_max_chars}}}


def parse_verdict(text: str) -> tuple[str, str]:
    """(verdict, reason) from a reply; ParseError says why not.

    Accepts the JSON object alone, inside a Markdown fence, or embedded in prose (API models
    without enforced schemas do all three). The verdict must be Correct or Error in any
    case; anything else is a parse failure, not an Error.
    """
    for obj in json_objects(text):
        if "verdict" not in obj or "reason" not in obj:
            raise ParseError(f"missing key(s): {sorted({'verdict', 'reason'} - set(obj))}")
        v = obj["verdict"]
        if not isinstance(v, str) or v.strip().lower() not in ("correct", "error"):
            raise ParseError(f"verdict is {v!r}, not Correct/Error")
        if not isinstance(obj["reason"], str):
            raise ParseError("reason is not a string")
        return v.strip().capitalize(), obj["reason"].strip()
    if not text.strip():
        raise ParseError("empty reply")
    raise ParseError("no JSON object" + (" (truncated?)" if "{" in text else ""))


def request_for(q: Question, cot: str, seed: int, p: Params, attempt: int) -> Request:
    system, user = load_prompt(p.prompt).render(
        question=q.question, context=q.context, options=format_options(q.options),
        answer=q.answer, answer_text=q.answer_text, cot=cot)
    return Request.chat(system, user, temperature=p.temperature, top_p=p.top_p,
                        max_tokens=p.max_tokens, seed=seed + attempt, sample=attempt,
                        schema=verdict_schema(p.reason_max_chars))


def verify_cots(items: list[tuple[Question, str, int]], llm: LLM, p: Params) -> list[Judged]:
    """Verify (question, cot, seed) items: `value` is the verdict, `note` the reason.

    Also used by refine and optimize to re-verify the CoTs they write.
    """
    return judge(items, lambda it, attempt: request_for(*it, p, attempt), parse_verdict, llm,
                 p.max_attempts)


def pair_paths(questions: Iterable[Question], paths: Iterable[CoTPath]) -> Iterator[tuple[Question, CoTPath]]:
    """Stream (question, path) pairs; paths come grouped in question order (generate gather)."""
    qs = iter(questions)
    q = None
    for qid, grp in groupby(paths, key=lambda x: x.question_id):
        while q is None or q.id != qid:
            q = next(qs, None)
            if q is None:
                raise ValueError(f"path for question {qid} has no question (order mismatch?)")
        for path in grp:
            yield q, path


def run(pairs: Iterable[tuple[Question, CoTPath]], llm: LLM,
        p: Params) -> Iterator[tuple[Verdict, list[str]]]:
    """Yield (verdict, parse errors of failed attempts) per path, in input order."""
    it = iter(pairs)
    prompt_hash = load_prompt(p.prompt).hash
    while batch := list(islice(it, p.batch_paths)):
        judged = verify_cots([(q, path.cot, path.seed) for q, path in batch], llm, p)
        for (q, path), j in zip(batch, judged):
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
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_p, p, t0, out = load_run(a.params), load("verify", Params, a.params), time.time(), Path(a.out)
    llm = LLM(p.model, model_spec(p.model, a.params), run_p, stage="verify")
    pairs = islice(pair_paths(read_jsonl(a.questions, Question), read_jsonl(a.paths, CoTPath)), a.limit)
    verdicts, attempts, first_fail = Counter(), Counter(), 0
    with JsonlWriter(out / "verdicts.jsonl") as w:
        for v, errors in run(pairs, llm, p):
            w.write(v)
            verdicts[v.verdict or "unparsed"] += 1
            attempts[v.attempts] += 1
            first_fail += bool(errors)
    n = sum(verdicts.values())
    write_json(out / "ledger.json", llm.ledger.to_list())
    write_json(out / "stats.json", {
        "paths_in": n, "verdicts_out": n, "rejected": 0, "correct": verdicts["Correct"],
        "error": verdicts["Error"], "unparsed": verdicts["unparsed"],
        "parse_failure_rate_first_attempt": round(first_fail / max(n, 1), 4),
        "parse_failure_rate": round(verdicts["unparsed"] / max(n, 1), 4),
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
        "prompt_tokens": sum(r["prompt_tokens"] for r in llm.ledger.to_list()),
        "completion_tokens": sum(r["completion_tokens"] for r in llm.ledger.to_list()),
        "model_calls": sum(r["model_calls"] for r in llm.ledger.to_list()),
        "wall_s": round(time.time() - t0, 2)})


if __name__ == "__main__":
    main()

"""Verification: the verifier's request, schema and reply parser, shared by every stage
that judges a CoT against the gold answer (verify, and the re-verification in refine and
optimize), and the verify step itself: one verdict and a short reason per path.

The verifier sees the question, lettered options, the gold letter and text, and one CoT, and
must answer with JSON `{"verdict", "reason"}`; the schema is enforced by the backend
(outlines for hf, guidance for vLLM, `response_format` for OpenAI-compatible servers) and
checked again here, with the reply contract of reasonmed/method/judging.py (length cap, one linear
scan, strict JSON, no conflicting objects, no extra keys, reason within maxLength). An
unparseable reply is re-asked with a fresh sample up to `max_attempts` times; one that never
parses is recorded with `verdict: null` and `parsed: false`, never turned into an "Error"
(the authors' code does that silently).

Verdict case policy: the verdict is matched ASCII-case-insensitively after stripping ASCII
whitespace, and returned capitalised ("correct", " ERROR " -> Correct, Error), as before;
anything else, including non-ASCII look-alikes ("ＣＯＲＲＥＣＴ", "Correct\u200b"), is a parse
failure, not an Error.

    python -c "from reasonmed.method.verification import parse_verdict as p; print(p('{}'))"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice

from reasonmed.core.failures import Failures
from reasonmed.core.params import Sampling
from reasonmed.core.prompting import format_options, load_prompt
from reasonmed.core.records import CoTPath, Question, Verdict
from reasonmed.core.stage import rate, token_totals
from reasonmed.core.streams import join_by_question
from reasonmed.llm.client import LLM
from reasonmed.llm.types import Request
from reasonmed.method.judging import Judged, answers, check_object, judge, one, sent_max_length

# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("paths_in", "verdicts.Correct", "verdicts.Error", "verdicts.unparsed", "pass_rate",
            "failed")


class Params(Sampling):
    model: str  # role name under `models`
    reason_max_chars: int = 300
    max_attempts: int = 3
    prompt: str
    # paths per backend call: which paths can share an hf batch (hashed; reasonmed/llm/client.py)
    batch_paths: int = 1024


VERDICTS = ("Correct", "Error")


def verdict_schema(reason_max_chars: int | None) -> dict:
    # enum, not free text, for the verdict; maxLength bounds the reason (see docs/stack.md).
    reason: dict = {"type": "string"}
    if reason_max_chars is not None:
        reason["maxLength"] = reason_max_chars
    return {"type": "object", "additionalProperties": False, "required": ["verdict", "reason"],
            "properties": {"verdict": {"type": "string", "enum": list(VERDICTS)},
                           "reason": reason}}


def _verdict_case(obj: dict) -> dict:
    v = obj.get("verdict")
    if isinstance(v, str) and v.isascii() and (c := v.strip(" \t\n\r").capitalize()) in VERDICTS:
        return {**obj, "verdict": c}
    return obj


def parse_verdict(text: str, reason_max_chars: int | None = None) -> tuple[str, str]:
    """(verdict, reason) from a reply; ParseError says why not.

    Accepts the JSON object alone, inside a Markdown fence, or embedded in prose (API models
    without enforced schemas do all three). The verdict must be Correct or Error in any ASCII
    case; anything else is a parse failure, not an Error. `reason_max_chars` is the reason's
    maxLength (None: unbounded); the returned reason is stripped.
    """
    schema = verdict_schema(reason_max_chars)
    verdict, reason = one([(v["verdict"], v["reason"]) for v in
                           (check_object(_verdict_case(o), schema) for o in answers(text, schema))])
    return verdict, reason.strip()


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
    return judge(items, lambda it, attempt: request_for(*it, p, attempt),
                 lambda text, r: parse_verdict(text, sent_max_length(r, "reason")), llm,
                 p.max_attempts)


# --- the verify step -----------------------------------------------------------------


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


class Tally:
    """Counts for stats.json, one verdict at a time."""

    def __init__(self):
        self.verdicts, self.attempts, self.first_fail = Counter(), Counter(), 0

    def add(self, v: Verdict, errors: list[str]) -> None:
        self.verdicts[v.verdict or "unparsed"] += 1
        self.attempts[v.attempts] += 1
        self.first_fail += bool(errors)

    def stats(self, failures: Failures, ledger: list[dict]) -> dict:
        verdicts, n = self.verdicts, sum(self.verdicts.values())
        return {
            "paths_in": n + len(failures), "verdicts_out": n, **failures.summary(),
            "verdicts": {"Correct": verdicts["Correct"], "Error": verdicts["Error"],
                         "unparsed": verdicts["unparsed"]},
            "parse_failure_rate_first_attempt": round(self.first_fail / max(n, 1), 4),
            "parse_failure_rate": round(verdicts["unparsed"] / max(n, 1), 4),
            "attempts": {str(k): v for k, v in sorted(self.attempts.items())},
            "pass_rate": rate(verdicts["Correct"], n),
            **token_totals(ledger)}

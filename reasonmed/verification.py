"""Verification: the verifier's request, schema and reply parser, shared by every stage
that judges a CoT against the gold answer (verify, and the re-verification in refine and
optimize).

The verifier sees the question, lettered options, the gold letter and text, and one CoT, and
must answer with JSON `{"verdict", "reason"}`; the schema is enforced by the backend
(outlines for hf, guidance for vLLM, `response_format` for OpenAI-compatible servers). A
reply that never parses is a parse failure, never an "Error" (the authors' code does that
silently).

    python -c "from reasonmed.verification import parse_verdict as p; print(p('{}'))"
"""

from __future__ import annotations

from typing import ClassVar

from reasonmed.judging import Judged, ParseError, json_objects, judge
from reasonmed.llm import LLM, Request
from reasonmed.params import Section
from reasonmed.prompting import format_options, load_prompt
from reasonmed.records import Question


class Params(Section):
    model: str  # role name under `models`
    temperature: float
    top_p: float
    max_tokens: int
    reason_max_chars: int = 300
    max_attempts: int = 3
    prompt: str
    batch_paths: int = 1024  # exec.verify: paths per backend call
    EXEC: ClassVar[frozenset[str]] = frozenset({"batch_paths"})


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

"""Verification: the verifier's request, schema and reply parser, shared by every stage
that judges a CoT against the gold answer (verify, and the re-verification in refine and
optimize).

The verifier sees the question, lettered options, the gold letter and text, and one CoT, and
must answer with JSON `{"verdict", "reason"}`; the schema is enforced by the backend
(outlines for hf, guidance for vLLM, `response_format` for OpenAI-compatible servers) and
checked again here, with the reply contract of reasonmed/judging.py (length cap, one linear
scan, strict JSON, no conflicting objects, no extra keys, reason within maxLength). A reply
that never parses is a parse failure, never an "Error" (the authors' code does that silently).

Verdict case policy: the verdict is matched ASCII-case-insensitively after stripping ASCII
whitespace, and returned capitalised ("correct", " ERROR " -> Correct, Error), as before;
anything else, including non-ASCII look-alikes ("ＣＯＲＲＥＣＴ", "Correct\u200b"), is a parse
failure, not an Error.

    python -c "from reasonmed.verification import parse_verdict as p; print(p('{}'))"
"""

from __future__ import annotations

from reasonmed.judging import Judged, answers, check_object, judge, one, sent_max_length
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
    # paths per backend call: which paths can share an hf batch (hashed; reasonmed/llm.py)
    batch_paths: int = 1024


VERDICTS = ("Correct", "Error")


def verdict_schema(reason_max_chars: int | None) -> dict:
    # enum, not free text, for the verdict; maxLength bounds the reason (see STACK-NOTES).
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

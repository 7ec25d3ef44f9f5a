"""Dataset rows -> TRL's conversational prompt-completion examples: the one converter.

The assemble stage writes every variant through it as `datasets/trl/<variant>.jsonl`
(what `SFTTrainer` takes as is, after `datasets.load_dataset("json", ...)`), and the sft
stage trains through it, so the exported file and the trained examples are the same.

    python -m pytest -q tests/test_sft.py -k conversation
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict


class Row(BaseModel):
    """One dataset row (assemble's columns; ids optional so a released file also loads)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str | None = None
    question_id: str | None = None
    instruction: str
    input: str = ""
    output: str


def to_conversation(row: Row) -> dict[str, list[dict[str, str]]]:
    """TRL's conversational prompt-completion format: loss on the assistant turn only.

    No system message: the evaluator sends the same single user turn (the base model's
    template may add its own default system prompt in both places alike).
    """
    user = f"{row.instruction}\n\n{row.input}" if row.input.strip() else row.instruction
    return {"prompt": [{"role": "user", "content": user}],
            "completion": [{"role": "assistant", "content": row.output}]}


def unusable(row: Row) -> str | None:
    """Why a row cannot be a training example (None when it can)."""
    if not row.output.strip():
        return "empty_output"
    if not row.instruction.strip():
        return "empty_instruction"
    return None


def examples(rows: Iterable[Row], dropped: Counter) -> Iterator[dict]:
    """Conversations for usable rows; an unusable row is counted in `dropped` by reason."""
    for row in rows:
        if (why := unusable(row)) is not None:
            dropped[why] += 1
        else:
            yield to_conversation(row)

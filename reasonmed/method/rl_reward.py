"""The RL stage's verifiable rewards: the strict reader's letter against the gold one.

`answer_reward` is 1.0 when reasonmed/method/answers_strict.py reads exactly the gold letter
from a completion and 0.0 otherwise: a hedge ("A or B"), several letters, no final answer,
an unclosed reasoning block or a letter outside the options all read as no answer, so they
earn nothing (the reader never invents a letter). `format_reward` is 1.0 when the output is
well formed whatever its letter: no reasoning block is left open and the strict reader reads
one firm answer. Both take GRPOTrainer's reward-function call: `completions` (plain strings or
conversational `[{"role": "assistant", "content": ...}]` lists) plus the dataset's columns
as keyword arguments (`gold`, `options`: a JSON object {letter: text}); TRL logs each one's
mean as `rewards/<function name>/mean`.

    python -c "from reasonmed.method.rl_reward import answer_reward as r; print(r(['B.'], ['B']))"
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from reasonmed.method.answers_region import final_region
from reasonmed.method.answers_strict import read_strict

LETTERS = "ABCDEFGHIJ"  # options assumed when a caller passes none (each with an empty text)


def text_of(completion: Any) -> str:
    """A completion's text: a string, or the last message's content of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        return str(completion[-1].get("content") or "")
    return ""


def options_of(options: Any) -> dict[str, str]:
    """{letter: text} from a JSON string, a mapping, or None (letters A-J, no texts)."""
    if options is None:
        return {k: "" for k in LETTERS}
    if isinstance(options, str):
        options = json.loads(options)
    return {str(k): str(v or "") for k, v in dict(options).items()}


def letter(completion: Any, options: Any = None) -> str | None:
    """The strict reader's letter for one completion (None: no explicit final answer)."""
    return read_strict(text_of(completion), options_of(options))


def _per_item(values: Any, n: int) -> list:
    if values is None or isinstance(values, (str, dict)):
        return [values] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"rl reward: {len(values)} values for {n} completions")
    return values


def answer_reward(completions: Sequence[Any], gold: Sequence[str], options: Any = None,
                  **_: Any) -> list[float]:
    """1.0 per completion whose strict letter is the gold letter, else 0.0."""
    opts = _per_item(options, len(completions))
    golds = _per_item(gold, len(completions))
    return [1.0 if (g is not None and letter(c, o) == g) else 0.0
            for c, g, o in zip(completions, golds, opts)]


def format_reward(completions: Sequence[Any], options: Any = None, **_: Any) -> list[float]:
    """1.0 per completion that closes any reasoning block it opens and states one firm
    answer (any listed letter), else 0.0."""
    opts = _per_item(options, len(completions))
    return [1.0 if final_region(text_of(c)) is not None and letter(c, o) is not None else 0.0
            for c, o in zip(completions, opts)]

"""Answer-letter extraction from free text (generation paths now, evaluation later).

Ordered patterns, strongest first: an explicit "Final answer: X" / "answer is X" statement,
then "Answer: X". The last explicit statement wins (models often restate the question's
options before concluding). Returns None when the text commits to no listed letter.

    python -c "from stages.answers import extract_letter; print(extract_letter('The answer is B.', 'ABCD'))"
"""

from __future__ import annotations

import re

_EXPLICIT = [
    r"final\s+answer\s*(?:is)?\s*[:\-]?\s*\**\(?([A-Z])\b",
    r"answer\s+is\s*[:\-]?\s*\**\(?(?:option\s+)?([A-Z])\b",
    r"\banswer\s*[:\-]\s*\**\(?([A-Z])\b",
]


def extract_letter(text: str, letters: str) -> str | None:
    """The letter `text` commits to, restricted to `letters` (e.g. "ABCD")."""
    for pat in _EXPLICIT:
        found = [m.group(1) for m in re.finditer(pat, text, flags=re.IGNORECASE)]
        found = [f.upper() for f in found if f.upper() in letters]
        if found:
            return found[-1]
    return None

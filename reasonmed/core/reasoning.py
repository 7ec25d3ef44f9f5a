"""Reasoning markers: `<think>...</think>`, `## Thinking` / `## Final Response`, "Alright".

R1-distill models wrap thinking in <think>...</think>; HuatuoGPT-o1 writes "## Thinking ...
## Final Response ..."; both sometimes open with a bare "Alright". Every stage that stores
model text as a CoT strips the markers the same way (the authors do it in the refiners only).

    python -c "import reasonmed.core.reasoning as m; print(m.split_reasoning('<think>a</think>b'))"
"""

from __future__ import annotations

import re

_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
_HEADINGS = re.compile(r"^##\s*(Thinking|Final Response)\s*$", re.MULTILINE | re.IGNORECASE)
_ALRIGHT = re.compile(r"^\s*Alright[.,!]?\s*$", re.MULTILINE)


def split_reasoning(text: str) -> tuple[str, list[str]]:
    """Strip reasoning markers but keep their content; return (cot, markers found).

    The CoT keeps the thinking and the final response, in order, without the markers.
    """
    markers = []
    if "<think>" in text or "</think>" in text:
        markers.append("<think>")
        text = _THINK.sub(lambda m: m.group(1).strip() + "\n\n", text).replace("</think>", "")
    for m in _HEADINGS.finditer(text):
        markers.append(f"## {m.group(1).title()}")
    text = _HEADINGS.sub("", text)
    if _ALRIGHT.search(text):
        markers.append("Alright")
        text = _ALRIGHT.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip(), sorted(set(markers))

"""The strict reader's step 1: the final-answer region of a model output.

Special tokens (`</s>`, `<|im_end|>`, `<|begin_of_solution|>`, ...) are
removed and whitespace runs collapsed. The
region is the text after the last closing marker: `</think>` (also `</thinking>`,
`</reasoning>`, `<|end_of_thought|>`) or a heading line "Final Response", "Final Answer" or
"Answer" (`## Final Response`, `**Final Answer:**`, ...). An opening marker (`<think>`,
`<thinking>`, `<reasoning>`, `<|begin_of_thought|>`, a `## Thinking` heading) after the last
closing one is an unclosed reasoning block: no answer (None), and nothing inside it is read.
Without markers the whole text is the region. Empty or whitespace-only text: None.

Cost: markers are found in the whole text by literal search and a keyword regex whose line
check is bounded; the region kept is its last MAX_REGION (16,000) characters (about 4,000
tokens: a final answer stated earlier than that in one region is not seen).

    python -c "from reasonmed.method.answers_region import final_region as f; print(f('<think>x</think> B'))"
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"</s>|<s>|<\|(?:im_end|eot_id|endoftext|end|begin_of_solution|end_of_solution)\|>"
                      r"|<eos>|<end_of_turn>")
_HSPACE = re.compile(r"[^\S\n]+")
_VSPACE = re.compile(r" ?\n\s*")  # after _HSPACE: any whitespace run holding a newline -> "\n"

# Reasoning-block markers, found in the raw text: tags, and heading lines. A heading is
# found by its words, then its line is checked within a few characters on either side
# (bounded, so a long line costs no rescans).
_OPEN_TAGS = ("<think>", "<thinking>", "<reasoning>", "<|begin_of_thought|>")
_CLOSE_TAGS = ("</think>", "</thinking>", "</reasoning>", "<|end_of_thought|>")
_HEADING_WORDS = re.compile(r"(final[ \t]+(?:response|answer)|answer|thinking)"
                            r"(?=[ \t:*]{0,12}(?:\r?\n|\Z))")
_HEADING_PRE = re.compile(r"[ \t]*(#{1,6}[ \t]*)?(\*\*)?")
_HEADING_POST = re.compile(r"[ \t:*]*")
MAX_REGION = 16_000  # strict reads the last 16,000 characters of the final region

ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


def _last_headings(text: str) -> tuple[int, int]:
    """(end of the last closing heading line, start of the last "Thinking" heading line after
    it), -1 when absent. Closing: "## Final Response", "Final Answer:", "**Answer**", ...;
    opening: "## Thinking" or "**Thinking**". Checked from the end, so only headings after
    the last closing one are looked at closely."""
    low = text.lower()
    if len(low) != len(text):
        low = text.translate(ASCII_LOWER)
    close_at = open_at = -1
    for m in reversed(list(_HEADING_WORDS.finditer(low))):
        lo = max(0, m.start() - 12)
        nl = low.rfind("\n", lo, m.start())
        if nl < 0 and lo > 0:
            continue
        pre = _HEADING_PRE.fullmatch(low, nl + 1, m.start())
        if not pre:
            continue
        if m.group(1) != "thinking":
            close_at = _HEADING_POST.match(low, m.end()).end()
            break
        if open_at < 0 and (pre.group(1) or pre.group(2)):
            open_at = nl + 1
    return close_at, open_at


def final_region(text: str) -> tuple[str, bool, bool] | None:
    """(final-answer region, whether a closing marker opened it, whether it was cut to
    MAX_REGION), or None when a reasoning block is left open."""
    close_at = max((i + len(t) for t in _CLOSE_TAGS if (i := text.rfind(t)) >= 0), default=-1)
    open_at = max(text.rfind(t) for t in _OPEN_TAGS)
    heading_close, heading_open = _last_headings(text)
    close_at, open_at = max(close_at, heading_close), max(open_at, heading_open)
    if open_at >= 0 and open_at >= close_at:
        return None
    region = text[close_at:] if close_at >= 0 else text
    cut = len(region) > MAX_REGION
    region = _SPECIAL.sub(" ", region[-MAX_REGION:])
    return _VSPACE.sub("\n", _HSPACE.sub(" ", region)).strip(), close_at >= 0, cut

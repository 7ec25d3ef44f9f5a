"""HuatuoGPT-o1's answer scorer, exactly: evaluate's `huatuo` metric.

`evaluation/eval.py` postprocessing (remove every `</s>`, then one leading space; an output
of length 0 is dropped from the results file: None in reasonmed.method.answers.extract)
followed by `match_choice` of `evaluation/scorer.py` (kept with its quirks, see
`match_choice`). Always a letter for a kept output, whitespace-only included (by
similarity). Optimistic by design.

    python -c "from reasonmed.method.answers_huatuo import match_choice as m; print(m('B', {'A': 'a'}))"
"""

from __future__ import annotations

import difflib
import re
from typing import NamedTuple

from reasonmed.method.answers_options import Options


class Huatuo(NamedTuple):
    """HuatuoGPT-o1's `match_choice` result: first and last reading, match type.

    kind: 1 a letter ("answer is X", or a bare option letter), 2 an option text found in
    the output, 3 the option most similar to the whole output.
    """

    first: str | None
    last: str | None
    kind: int


def postprocess(pred: str) -> str:
    """eval.py `postprocess_output`: remove `</s>`, then a single leading space."""
    pred = pred.replace("</s>", "")
    if len(pred) > 0 and pred[0] == " ":
        pred = pred[1:]
    return pred


# Case-sensitive and A-N whatever the options are ("the answer is None" yields N), as in
# the original. Linear: `answer is` is a literal, so each start is tried once and the lazy
# `\s*?` scans only the whitespace run after it.
_HUATUO_STRICT = re.compile(r"(answer is\s*?)([A-N])", re.S)
_HUATUO_BARE: dict[str, re.Pattern] = {}


def _huatuo_bare(letters: str) -> re.Pattern:
    # \u4e00-\u9fff: CJK ideographs; \u662f \u9879 \u4e3a: the markers "is", "item", "as".
    # Linear: every alternative is one or two characters long, no nested quantifiers.
    if letters not in _HUATUO_BARE:
        _HUATUO_BARE[letters] = re.compile(
            r"([\u4e00-\u9fff]|is |\u662f|\u9879|\*|\W|\ |\(|\u4e3a|^|'|\"|#)(?![aA] )([" + letters
            + r"])(\W|[\u4e00-\u9fff]|$)", re.S)
    return _HUATUO_BARE[letters]


def match_choice(text: str, options: Options) -> Huatuo:
    """HuatuoGPT-o1's `match_choice(text, options)`, reproduced (evaluation/scorer.py).

    1. keep the text after the last "## Final Response\\n\\n";
    2. type 1: `answer is\\s*?([A-N])` (case-sensitive), first and last match;
    3. type 1: a bare option letter (among the first len(options) of A-N) after
       start/space/punctuation/`*`/`#`/quote/CJK marks and before a non-word character,
       except "A " / "a " (the article);
    4. type 2: option texts found in the lower-cased text: last = the option occurring latest
       (by last occurrence); "first" = the option whose FIRST occurrence is latest. This is
       the original's quirk (it sorts first occurrences descending too), kept deliberately so
       the `huatuo` metric is the published scorer's number; ties go to the earlier option;
    5. type 3: the option whose text is most similar (difflib ratio) to the whole text; ties
       go to the later option (the original compares with >=).
    """
    if "## Final Response\n\n" in text:
        text = text.split("## Final Response\n\n")[-1]
    m = list(_HUATUO_STRICT.finditer(text))
    if m:
        return Huatuo(m[0].group(2), m[-1].group(2), 1)
    m = list(_huatuo_bare("ABCDEFGHIJKLMN"[:len(options)]).finditer(text))
    if m:
        return Huatuo(m[0].group(2), m[-1].group(2), 1)
    low = text.lower()
    last = [(k, low.rindex(v.lower())) for k, v in options.items() if v.lower() in low]
    if last:
        first = [(k, low.index(v.lower())) for k, v in options.items() if v.lower() in low]
        return Huatuo(sorted(first, key=lambda x: x[1], reverse=True)[0][0],
                      sorted(last, key=lambda x: x[1], reverse=True)[0][0], 2)
    # find_most_similar_index: difflib ratio of each option against the whole text. One
    # matcher with the text as seq2 (difflib caches its index) gives the same ratios as a
    # new SequenceMatcher(None, option, text) per option, as the original builds.
    sm = difflib.SequenceMatcher(None, "", low)
    best, best_k = 0.0, None
    for k, v in options.items():
        sm.set_seq1(v.lower())
        s = sm.ratio()
        if s >= best:
            best, best_k = s, k
    return Huatuo(best_k, best_k, 3)

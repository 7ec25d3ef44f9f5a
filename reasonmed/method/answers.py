"""Answer extraction from model text: one API, two modes, for every stage.

    extract(text, options)              -> "C" | None        (mode="strict": generate, summarize,
                                                               evaluate's `strict` metric)
    extract(text, options, "huatuo")    -> Huatuo(first, last, kind) | None
                                           (evaluate's `huatuo` metric; None = dropped)

`options` is {letter: option text}; strict also takes a letters string ("ABCD"), which only
loses the option-text readings.

strict -- an explicit final answer, read from the final-answer region only: the region is
reasonmed/method/answers_region.py, the statements read in it reasonmed/method/answers_strict.py
(both documented there), the option-text matching reasonmed/method/answers_options.py.
What strict reads:
  - a final-answer statement, the last one deciding ("The answer is C", "Final answer: C",
    "C is correct", `\\boxed{C}`, "I'll go with C"), its option named by letter or text;
  - an answer first, an explanation after it ("**D**\\nExplanation: option E is incorrect
    because ...", "D. pneumonia\\nWhy not the others? ..."): the first line's answer stands
    against later remarks on other options ("B is the best treatment for asthma", "the most
    likely diagnosis in a child would be A"); only a firm later answer overrules it
    ("Correction: the answer is B"). reasonmed/method/answers_opening.py;
  - an option's text in slightly changed words (order, number, articles, word forms,
    "elevated" = "increased"), as the object of a statement ("The most likely diagnosis is
    an excess of aldosterone") or, after a closed reasoning block, in the sentences that
    state the answer ("This patient most likely has ..."), only when exactly one option
    matches clearly better than every other (content words, a margin of 0.25).
    reasonmed/method/answers_content.py.
What strict refuses (None): no statement; a hedge ("B or C", "it could be A or C", "I am
not sure; perhaps B", "likely D, though A cannot be excluded"); a negation or verdict ("not
D", "A is wrong, B is wrong", "B is incorrect"); a list of options or of differentials; two
options' content in one answer sentence; a refusal; an unclosed reasoning block; a letter
outside the options. Before the answer-first and option-content readings (this version),
strict read an answer-first line only after a closed reasoning block and option text only
as listed: `python -m tests.answers_table` prints the labelled table's per-class figures.

huatuo -- HuatuoGPT-o1's scorer, exactly: reasonmed/method/answers_huatuo.py.

    python -c "from reasonmed.method.answers import extract; print(extract('The answer is B.', 'ABCD'))"
"""

from __future__ import annotations

from typing import Literal, overload

from reasonmed.method.answers_huatuo import Huatuo, match_choice, postprocess
from reasonmed.method.answers_options import Options
from reasonmed.method.answers_strict import read_strict


@overload
def extract(text: str, options: Options | str, mode: Literal["strict"] = "strict") -> str | None: ...
@overload
def extract(text: str, options: Options | str, mode: Literal["huatuo"]) -> Huatuo | None: ...


def extract(text: str, options: Options | str, mode: str = "strict") -> str | Huatuo | None:
    """The answer `text` gives to a question with these `options` (see the module doc).

    strict: the letter, or None when the output gives no explicit final answer.
    huatuo: Huatuo(first, last, kind), or None when HuatuoGPT-o1's eval script would drop
    the output (empty after its postprocessing).
    """
    if mode == "strict":
        opts = {k: "" for k in options} if isinstance(options, str) else dict(options)
        return read_strict(text, opts)
    if mode == "huatuo":
        if isinstance(options, str):
            raise TypeError("huatuo mode needs the option texts: pass {letter: text}")
        pred = postprocess(text)
        if len(pred) == 0:
            return None
        return match_choice(pred, options)
    raise ValueError(f"mode must be 'strict' or 'huatuo', not {mode!r}")

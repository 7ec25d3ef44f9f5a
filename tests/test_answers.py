"""answers: the strict and huatuo readings, the labelled table, linear time.

    python -m pytest -q tests/test_answers.py -s -k table   # also prints the per-class table
"""

import difflib
import random
import time

import pytest

from reasonmed.method.answers import extract
from reasonmed.method.answers_huatuo import Huatuo
from reasonmed.method.answers_region import MAX_REGION
from tests.answers_table import more_rows, rows, score, table_markdown

OPTS = {"A": "gout", "B": "asthma", "C": "cystitis", "D": "pneumonia"}
YNM = {"A": "yes", "B": "no", "C": "maybe"}
CELLS = {"A": "T cells", "B": "Neutrophils", "C": "Eosinophils", "D": "B cells"}
MMHG = {"A": "5 mmHg", "B": "-5 mmHg", "C": "10 mmHg", "D": "-10 mmHg"}
ALDO = {"A": "Aldosterone excess", "B": "Cortisol excess", "C": "Catecholamine-secreting mass",
        "D": "Impaired kidney perfusion"}


# --- the labelled table ----------------------------------------------------------------


def test_table_is_large_and_varied():
    table = rows()
    assert len(table) >= 700
    assert len({r.cls for r in table}) >= 40
    assert sum(r.label is None for r in table) >= 200
    assert len(more_rows()) >= 250  # answer-first, option content in other words, near-misses, hedges


def test_strict_reads_the_table_and_never_invents_a_letter():
    res = score()
    print("\n" + table_markdown(res))
    total = res["TOTAL"]
    assert total["strict"] / total["n"] >= 0.97
    assert total["invented"] == 0  # no letter for an output that gives none, never another letter


# --- strict: the definition, one line each ---------------------------------------------


@pytest.mark.parametrize("text,options,letter", [
    # only the final-answer region is read
    ("<think>If the answer is B, then ... Maybe the answer is B, but", OPTS, None),
    ("<think>The answer is B.</think>", OPTS, None),
    ("<think>The answer is B.</think>\n\nCystitis.", OPTS, "C"),
    ("## Thinking\n\nThe answer is B.\n\n## Final Response\n\nThe answer is pneumonia.", OPTS, "D"),
    ("## Thinking\n\nThe answer is B.", OPTS, None),
    ("The answer is B.</think>\n\nFinal answer: D", OPTS, "D"),  # <think> opened by the template
    # option texts, longest match, signs kept, letter-words never read as letters
    ("The answer is B cells.", CELLS, "D"),
    ("Final answer: T cells", CELLS, "A"),
    ("The answer is B cells.", OPTS, None),
    ("The answer is Vitamin A.", OPTS, None),
    ("The answer is -5 mmHg.", MMHG, "B"),
    ("The answer is 5 mmHg.", MMHG, "A"),
    ("The answer is -5mmHg", MMHG, "B"),
    ("Answer: A 45-year-old man with gout.", OPTS, None),
    ("The answer is a bit unclear, but C seems likely.", OPTS, None),
    # hedges, and what only looks like one
    ("The answer is B or C.", OPTS, None),
    ("The answer is either B or C.", OPTS, None),
    ("The answer is C and D is wrong.", OPTS, "C"),
    ("The answer is C, not D.", OPTS, "C"),
    ("The answer is C, cystitis.", OPTS, "C"),
    # change of mind: the final statement
    ("The answer is B. Wait, actually the answer is C.", OPTS, "C"),
    # PubMedQA
    ("## Thinking\n\nok\n\n## Final Response\n\nYes. The trial shows it.", YNM, "A"),
    ("<think>no?</think>\n\nNo, it does not.", YNM, "B"),
    # other phrasings
    ("My choice: C", OPTS, "C"),
    ("Answer: (C)", OPTS, "C"),
    ("**C**", OPTS, "C"),
    ("\\boxed{C}", OPTS, "C"),
    ("C is the correct answer.", OPTS, "C"),
    ("The correct option is C.", OPTS, "C"),
    ("I'll go with C.", OPTS, "C"),
    ("The most likely diagnosis is C.", OPTS, "C"),
    # nothing committed to
    ("", OPTS, None), ("  \n\t", OPTS, None), ("</s>", OPTS, None),
    ("If the answer is B, the wheeze would be nocturnal.", OPTS, None),
    ("So the answer is B?", OPTS, None),
    ("The answer is E.", OPTS, None),
    ("B is correct if the spirometry is reversible.", OPTS, None),
    # the answer first, an explanation after it: later remarks on other options do not count
    ("**D**\n\nExplanation: option E is incorrect because it is irrelevant.", OPTS, "D"),
    ("D. pneumonia\n\nWhy not the others? B) asthma is the best treatment target in children.", OPTS, "D"),
    ("C) cystitis\n\nExplanation: the most likely diagnosis in a child would be B.", OPTS, "C"),
    ("**C**\n\nWait, re-reading the question, the answer is B.", OPTS, "B"),  # a correction does
    ("A. gout\nB. asthma\nC. cystitis\nD. pneumonia", OPTS, None),
    ("B is incorrect because asthma does not cause fever.", OPTS, None),
    ("<think>x</think>\n\nB is incorrect.", OPTS, None),
    ("**B or C**\n\nBoth fit part of the picture.", OPTS, None),
    ("Option A (gout) fits the findings best. Option B, asthma, does not.", OPTS, None),
    # option content in other words: one option clearly, in an answer sentence
    ("<think>x</think>\n\nThis patient most likely has an excess of aldosterone.", ALDO, "A"),
    ("<think>x</think>\n\nAn excess of aldosterone rather than of cortisol.", ALDO, "A"),
    ("The answer is an excess of aldosterone.", ALDO, "A"),
    ("<think>x</think>\n\nBoth an excess of aldosterone and an excess of cortisol fit.", ALDO, None),
    ("<think>x</think>\n\nThis is not an excess of aldosterone.", ALDO, None),
    ("<think>x</think>\n\nI am not sure; perhaps an excess of aldosterone.", ALDO, None),
    ("<think>x</think>\n\nThe patient has hypertension from an excess.", ALDO, None),
    ("Answer: A 45-year-old man with aldosterone excess.", ALDO, None),
    ("This patient most likely has an excess of aldosterone.", ALDO, None),  # no closed block: not read
    # hedges
    ("It could be A or C.", OPTS, None), ("I am not sure; perhaps B.", OPTS, None), ("Not D.", OPTS, None),
    ("A is wrong, B is wrong.", OPTS, None),
    ("<think>x</think>\n\nLikely D, though A cannot be excluded.", OPTS, None),
])
def test_strict_definition(text, options, letter):
    assert extract(text, options) == letter
    assert extract(text, options, "strict") == letter


def test_strict_takes_a_letters_string():
    assert extract("Final answer: C", "ABCD") == "C"
    assert extract("Final answer: C", "AB") is None
    assert extract("Answer: A. gout", "ABCD") == "A"  # no option texts: the letter counts


def test_strict_reads_only_the_end_of_a_very_long_region():
    pad = "x " * MAX_REGION
    assert extract("The answer is B.\n" + pad + "The answer is C.", OPTS) == "C"
    assert extract("The answer is B.\n" + pad, OPTS) is None  # beyond MAX_REGION: not seen
    assert extract(pad + "<think>" + pad, OPTS) is None  # an unclosed block is found anywhere


# --- huatuo: HuatuoGPT-o1's eval postprocessing + match_choice --------------------------


@pytest.mark.parametrize("text,reading", [
    ("", None), (" ", None), ("</s>", None), (" </s>", None), ("</s></s>", None),
    ("  ", Huatuo("D", "D", 3)),  # only one leading space is removed: kept
    ("\n", Huatuo("D", "D", 3)),
    ("The answer is B.</s>", Huatuo("B", "B", 1)),
    ("The answer is B. Wait, the answer is C.", Huatuo("B", "C", 1)),
    ("## Thinking\n\nanswer is A\n\n## Final Response\n\nThe answer is C", Huatuo("C", "C", 1)),
    ("the answer is c.", Huatuo("B", "B", 3)),  # case-sensitive regexes: similarity fallback
    ("Option B", Huatuo("B", "B", 1)),
    ("A patient with asthma", Huatuo("B", "B", 2)),  # "A " is the article
    ("pneumonia, not gout", Huatuo("A", "A", 2)),  # first = the latest FIRST occurrence (quirk)
])
def test_huatuo_reproduces_the_original(text, reading):
    assert extract(text, OPTS, "huatuo") == reading


def test_huatuo_result_is_a_tuple_and_needs_option_texts():
    assert extract("The answer is B", OPTS, "huatuo") == ("B", "B", 1)
    assert extract("zzz", {"A": "x", "B": "y"}, "huatuo") == Huatuo("B", "B", 3)  # ties: later
    with pytest.raises(TypeError):
        extract("The answer is B", "ABCD", "huatuo")
    with pytest.raises(ValueError):
        extract("The answer is B", OPTS, "lenient")


def test_huatuo_similarity_matches_a_fresh_sequence_matcher_per_option():
    """The original builds SequenceMatcher(None, option, text) per option; we reuse one."""
    rng = random.Random(7)
    opts = {"A": "aab", "B": "bca", "C": "x y z", "D": "ccc"}
    for _ in range(300):
        text = "".join(rng.choice("abcxyz  ") for _ in range(rng.randint(1, 40)))
        if any(v in text for v in opts.values()) or "answer is" in text:
            continue
        got = extract(text, opts, "huatuo")
        if got is None or got.kind != 3:
            continue
        kept = text[1:] if text.startswith(" ") else text  # eval.py drops one leading space
        best, want = 0.0, None
        for k, v in opts.items():
            r = difflib.SequenceMatcher(None, v, kept.lower()).ratio()
            if r >= best:
                best, want = r, k
        assert got == (want, want, 3), text


# --- cost: linear in the text -----------------------------------------------------------

N = 100_000
ADVERSARIAL = {
    "final answer + spaces": "Final answer" + " " * N,
    "braces": "{" * N,
    "answer is, repeated": "answer is " * (N // 10),
    "stars": "*" * N,
    "newlines": "\n" * N,
    "mixed whitespace": " \n\t" * (N // 3),
    "think tags": "<think>" * (N // 7),
    "closing tags": "</think>" * (N // 8),
    "hypotheses": "If the answer is B, " * (N // 20),
    "X is correct, repeated": "B is correct " * (N // 13),
    "hashes": "#" * N,
    "heading + spaces": "## Final Response" + " " * N + "x",
    "headings": "## Final Response\n\n" * (N // 19),
    "letters": "A " * (N // 2),
    "negations": "the answer is not " * (N // 18),
    "hedges": "The answer is B or C or " * (N // 24),
    "boxed": "\\boxed{" * (N // 7),
    "eos": "</s>" * (N // 4),
}


def _best_of(f, n=5) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


MB = 1_000_000
ADVERSARIAL_1MB = {
    "answer first, repeated": "**D**\n\nExplanation: option B is incorrect. " * (MB // 43),
    "content cues": "This patient most likely has " * (MB // 29),
    "contrasts": "pneumonia rather than " * (MB // 22),
    "option words": "gout asthma " * (MB // 12),
    "tags": "A. " * (MB // 3),
    "closed block, then content": "<think>x</think>\n\n" + "an excess of aldosterone, " * (MB // 26),
    "one word": "a" * MB,
    "sentences": "Although asthma is common. " * (MB // 27),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL_1MB))
def test_strict_is_fast_on_1mb_adversarial_inputs(name):
    text = ADVERSARIAL_1MB[name]
    assert len(text) >= 0.99 * MB
    assert _best_of(lambda: extract(text, ALDO if "aldosterone" in text else OPTS), n=3) < 0.25


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_strict_is_fast_on_100kb_adversarial_inputs(name):
    text = ADVERSARIAL[name]
    assert len(text) >= 0.99 * N
    assert _best_of(lambda: extract(text, OPTS)) < 0.050


@pytest.mark.parametrize("name", ["final answer + spaces", "braces", "letters", "answer is, repeated"])
def test_huatuo_stays_linear_on_100kb_adversarial_inputs(name):
    # Faithful to the original (difflib included), so slower than strict; the bound only
    # catches a super-linear blow-up (measured: 2-50 ms).
    assert _best_of(lambda: extract(ADVERSARIAL[name], OPTS, "huatuo"), n=3) < 0.5

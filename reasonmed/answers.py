"""Answer-letter extraction from free text: generation paths, summaries and evaluation.

Three extractors, from lenient to faithful-to-a-reference:

- `extract_letter` (generate, summarize): ordered patterns, strongest first: an explicit
  "Final answer: X" / "answer is X" statement, then "Answer: X". The last explicit
  statement wins (models often restate the options before concluding).
- `strict_letter` (evaluate, the `strict` metric): only an explicit final-answer statement
  counts ("The answer is X", "Final answer: X", "Answer: X", "X is the correct answer",
  `\\boxed{X}`, or a letter opening the "## Final Response" section). The last statement
  decides; if it names no single listed option the output is unextractable (None).
- `huatuo_choice` (evaluate, the `huatuo` metric): a reimplementation of HuatuoGPT-o1's
  `match_choice` (evaluation/scorer.py), which always returns a letter for non-empty text.

    python -c "from reasonmed.answers import strict_letter; print(strict_letter('The answer is B.', 'ABCD'))"
"""

from __future__ import annotations

import difflib
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


# --- strict: explicit final-answer statements only ------------------------------------

# "answer" alone, or answer/option/choice qualified as final/correct/right/best; then a
# verb or a colon. "Option B" alone, "B is correct" and "answers are" are not statements.
_HEAD = re.compile(
    r"(?:\b(?:final|correct|right|best|most\s+likely)\s+(?:answer|option|choice)|\banswer)"
    r"\s*\**\s*(?:(?:is|would\s+be|will\s+be|should\s+be|must\s+be)\s*[:\-]?|[:=\-\u2013\u2014])"
    r"\s*\**\s*(?:(?:option|choice)\s+)?", re.IGNORECASE)
# The letter right after a head: bracketed, bold or bare; not the start of a longer word.
_LETTER = re.compile(r"([(\[]?)\s*\**\s*([A-Za-z])(?![A-Za-z0-9'\u2019-])\**\s*([)\]]?)")
# "X is the correct answer", "Option (B) is the best choice".
_REVERSE = re.compile(
    r"(?:\b(option|choice)\s+)?(\()?\b((?-i:[A-Z]))\b\)?\s+is\s+(?:the\s+)?(?:correct|right|best|"
    r"most\s+likely)\s+(?:answer|option|choice)\b", re.IGNORECASE)
_LEAD_INS = {"therefore", "thus", "so", "hence", "then", "and", "overall", "clearly", "here"}
_BOXED = re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?\(?([A-Za-z])\)?(?![A-Za-z0-9])")
_FINAL_HEADING = re.compile(r"^#+\s*Final\s+Response\s*:?\s*$", re.IGNORECASE | re.MULTILINE)
# A letter opening the final-response section: "C. text", "(C)", "**C**", "C:".
_LEADING = re.compile(r"\s*\**\s*(?:option\s+)?\(?([A-Z])(?:[.):]|\*\*|\s*$)", re.MULTILINE)
# "B and D", "B, C", "B/C": a hedge, not a commitment.
_MORE = re.compile(r"\s*(?:,|/|&|\b(?i:and|or)\b)\s*(?:(?i:option)\s+)?\(?\**[A-Z](?![A-Za-z0-9])")
# "Answer: A 45-year-old man..." restates the stem: "A" is an article there.
_ARTICLE = re.compile(r" +(?!(?:because|since|as|is|which|for|with|given|and|or|but|based|"
                      r"due|this|here|per|was)\b)[a-z0-9]")


def _statement_letter(text: str, at: int, options: dict[str, str]) -> str | None:
    """The option named right after a statement head at `at`: a letter ('?' when it names
    no single listed option, so a hedging last statement still overrides earlier ones),
    or None when nothing letter-like follows (the head was not a statement)."""
    rest = text[at:]
    m = _LETTER.match(rest)
    if m:
        open_, letter, close = m.groups()
        after = rest[m.end():]
        if letter.islower() and not (open_ or close or re.match(r"\s*(?:[.:*,]|$)", after)):
            m = None  # "the answer is a bit unclear": lowercase needs a bracket or stop
        elif letter == "A" and not (open_ or close) and _ARTICLE.match(rest[m.end(2):]):
            m = None
        elif _MORE.match(after):
            return "?"
        else:
            letter = letter.upper()
            return letter if letter in options else "?"
    # Yes/no/maybe and other options named by their text ("The answer is yes.").
    low = rest.lstrip("*\"' ").lower()
    for k, t in sorted(options.items(), key=lambda kv: -len(kv[1])):
        t = t.strip().lower()
        if t and low.startswith(t) and not re.match(r"\w", low[len(t):len(t) + 1]):
            return k
    return None


def strict_letter(text: str, options: dict[str, str] | str) -> str | None:
    """The option letter an explicit final-answer statement commits to; the last one wins.

    `options`: {letter: text} (lets "The answer is yes" count for PubMedQA) or just the
    letters. None when there is no statement, or the last one names a letter outside the
    options, several letters, or nothing listed.
    """
    if isinstance(options, str):
        options = {k: "" for k in options}
    found: list[tuple[int, str]] = []
    for m in _HEAD.finditer(text):
        letter = _statement_letter(text, m.end(), options)
        if letter is not None:
            found.append((m.start(), letter))
    for m in _REVERSE.finditer(text):
        # "Thus C is the correct answer" names an option; "Vitamin C is ..." a substance.
        word = re.search(r"([A-Za-z]+)[ \t]*$", text[max(0, m.start() - 40):m.start()])
        if m.group(1) or m.group(2) or not word or word.group(1).lower() in _LEAD_INS:
            found.append((m.start(), m.group(3)))
    for m in _BOXED.finditer(text):
        found.append((m.start(), m.group(1).upper()))
    heads = list(_FINAL_HEADING.finditer(text))
    if heads:
        m = _LEADING.match(text, heads[-1].end())
        if m:
            found.append((heads[-1].start(), m.group(1)))
    if not found:
        return None
    letter = max(found, key=lambda x: x[0])[1]
    return letter if letter in options else None


# --- huatuo: HuatuoGPT-o1's match_choice, reproduced --------------------------------------

# Case-sensitive and A-N whatever the options are ("the answer is None" yields N), as in
# the original.
_HUATUO_STRICT = re.compile(r"(answer is\s*?)([A-N])", re.S)


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def huatuo_choice(text: str, options: dict[str, str]) -> tuple[str, str, int]:
    """(first letter, last letter, match type) as HuatuoGPT-o1's `match_choice` returns them.

    1. keep the text after the last "## Final Response\\n\\n";
    2. type 1: `answer is\\s*?([A-N])` (case-sensitive), first and last match;
    3. type 1: a bare option letter after start/space/punctuation/`*`/`#`/quote/CJK marks and
       before a non-word character, except "A " (the article);
    4. type 2: option texts found in the lower-cased text: last = the option occurring latest
       (by last occurrence); "first" = the option whose FIRST occurrence is latest. This is
       the original's quirk (it sorts first occurrences descending too), kept deliberately so
       the `huatuo` metric is the published scorer's number;
    5. type 3: the option whose text is most similar (difflib ratio) to the whole text; ties
       go to the later option (the original compares with >=).
    Callers handle empty text (the original drops empty generations before scoring).
    """
    if "## Final Response\n\n" in text:
        text = text.split("## Final Response\n\n")[-1]
    m = list(_HUATUO_STRICT.finditer(text))
    if m:
        return m[0].group(2), m[-1].group(2), 1
    letters = "ABCDEFGHIJKLMN"[:len(options)]
    # \u4e00-\u9fff: CJK ideographs; \u662f \u9879 \u4e3a: the markers "is", "item", "as".
    bare = re.compile(r"([\u4e00-\u9fff]|is |\u662f|\u9879|\*|\W|\ |\(|\u4e3a|^|'|\"|#)(?![aA] )(["
                      + letters + r"])(\W|[\u4e00-\u9fff]|$)", re.S)
    m = list(bare.finditer(text))
    if m:
        return m[0].group(2), m[-1].group(2), 1
    low = text.lower()
    last = [(k, low.rindex(v.lower())) for k, v in options.items() if v.lower() in low]
    if last:
        first = [(k, low.index(v.lower())) for k, v in options.items() if v.lower() in low]
        return (sorted(first, key=lambda x: x[1], reverse=True)[0][0],
                sorted(last, key=lambda x: x[1], reverse=True)[0][0], 2)
    best, best_k = 0.0, None
    for k, v in options.items():
        s = _similarity(v.lower(), low)
        if s >= best:
            best, best_k = s, k
    return best_k, best_k, 3

"""Option texts as token lists, for the strict reader to find an option named by its text.

Tokens: words, numbers (a sign kept before a number) and comparison signs; case, spacing
and other punctuation are ignored. An OptionContext holds one option set's token lists and
the window an object is read from (the longest option text + 64 characters, at most
MAX_WINDOW).

Content words (for an option named in other words, reasonmed/method/answers_content.py): the
tokens less low-content words (articles, prepositions, "and"/"or", "disease", "disorder",
"syndrome", the verbs of a management option: "perform", "obtain", "administer", ...), a
plural reduced to its singular ("smears" = "smear", "arteries" = "artery"), a verb or an
action noun to its root ("inhibition" = "inhibiting" = "inhibits" = "inhibit"), and a few
low-content synonyms made one word ("elevated" = "increased" = "high", "reduced" =
"decreased" = "low", "intravenous" = "IV").

    python -c "from reasonmed.method.answers_options import tokens; print(tokens('-5 mmHg'))"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

Options = Mapping[str, str]

# Tokens for option-text comparison: words, numbers (a sign kept before a number: "-5"; "45mV"
# is "45", "mv" like "45 mV") and comparison signs. Case, spacing and other punctuation are
# ignored.
TOKEN = re.compile(r"(?<![^\W_])[-+\u2212\u2013](?=\d)\d+|\d+|[^\W\d_]+|[<>\u2264\u2265]")

MAX_WINDOW = 1000

_STOP = frozenset("a an the of in on at to for with by from into and or plus as is are was were be been "
                  "being this that these those his her their its it s which who whom most likely more very "
                  "such than also type form case disease disorder syndrome condition perform performing "
                  "obtain obtaining administer administering administration give giving order ordering "
                  "undergo start starting begin prescribe".split())
_SAME = {w: "increased" for w in "increase increases increasing elevated elevation raised high "
         "higher".split()}
_SAME |= {w: "decreased" for w in "decrease decreases decreasing reduced reduction reduce low lower lowered "
          "diminished".split()}
_SAME |= {"intravenous": "iv", "intramuscular": "im", "subcutaneous": "sc"}


def _singular(w: str) -> str:
    if len(w) <= 3 or not w.endswith("s") or w.endswith(("ss", "us", "is", "ous")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses", "zes")):
        return w[:-2]
    return w[:-1]


def _stem(w: str) -> str:
    """A verb or action noun to its root, lightly: "inhibition", "inhibiting", "inhibited" and
    "inhibits" are "inhibit" (after _singular); other words are kept."""
    if len(w) > 6 and w.endswith(("tion", "sion")):
        return w[:-3]
    if len(w) > 6 and w.endswith("ing"):
        return w[:-3]
    if len(w) > 5 and w.endswith("ed") and not w.endswith("eed"):
        return w[:-2]
    return w


def content_words(s: str) -> list[str]:
    """The content words of `s`, in order (see the module doc). A capital "A" after the first
    word is a letter, not the article ("Vitamin A", "Hepatitis A")."""
    out = []
    for n, (t, end) in enumerate(tokens(s)):
        t = _SAME.get(t, t)
        if t in _STOP and not (t == "a" and n and s[end - 1] == "A"):
            continue
        w = _singular(t) if t[0].isalpha() else t
        out.append(_SAME.get(w) or _stem(w) if t[0].isalpha() else t)
    return out


def tokens(s: str) -> list[tuple[str, int]]:
    """(token, end offset) of each token; casefolded, unicode minus/dash signs as '-'."""
    out = []
    for m in TOKEN.finditer(s):
        t = m.group().casefold()
        if t[0] in "\u2212\u2013":
            t = "-" + t[1:]
        out.append((t, m.end()))
    return out


class OptionContext:
    """Per-call state: the options, their token lists and the read window."""

    def __init__(self, options: dict[str, str]):
        self.options = options
        self.toks = {k: [t for t, _ in tokens(v)] for k, v in options.items()}
        self.toks = {k: v for k, v in self.toks.items() if v}
        longest = max((len(v) for v in options.values()), default=0)
        self.window = min(MAX_WINDOW, longest + 64)
        # Content-word sets, for options that have a word (an option of numbers only, "20",
        # is never named in other words).
        self.content = {k: frozenset(w) for k, v in options.items()
                        if (w := content_words(v)) and any(t[0].isalpha() and len(t) > 1 for t in w)}

    def text_prefix(self, s: str) -> tuple[str, int] | None:
        """(letter, end offset) of the longest option text `s` starts with."""
        if not self.toks:
            return None
        toks = tokens(s)
        best = None
        for k, ot in self.toks.items():
            n = len(ot)
            if len(toks) >= n and all(toks[i][0] == ot[i] for i in range(n)):
                if best is None or n > best[2]:
                    best = (k, toks[n - 1][1], n)
        return (best[0], best[1]) if best else None

    def text_suffix(self, s: str) -> tuple[str, int] | None:
        """(letter, start offset) of the longest option text `s` ends with."""
        if not self.toks:
            return None
        toks = tokens(s)
        best = None
        for k, ot in self.toks.items():
            n = len(ot)
            if len(toks) >= n and all(toks[len(toks) - n + i][0] == ot[i] for i in range(n)):
                if best is None or n > best[2]:
                    start = toks[len(toks) - n][1] - len(toks[len(toks) - n][0])
                    best = (k, start, n)
        return (best[0], best[1]) if best else None

    def starts_option(self, letter: str, s: str) -> bool:
        """Whether `s` starts with the first word of option `letter`'s text ("B asthma")."""
        ot = self.toks.get(letter)
        if not ot:
            return False
        toks = tokens(s[:64])
        return bool(toks) and toks[0][0] == ot[0]


@lru_cache(maxsize=4096)
def option_context(options: tuple[tuple[str, str], ...]) -> OptionContext:
    """The context of one option set, kept: a benchmark reuses few option sets per item."""
    return OptionContext(dict(options))

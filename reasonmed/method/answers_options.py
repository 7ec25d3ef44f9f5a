"""Option texts as token lists, for the strict reader to find an option named by its text.

Tokens: words, numbers (a sign kept before a number) and comparison signs; case, spacing
and other punctuation are ignored. An OptionContext holds one option set's token lists and
the window an object is read from (the longest option text + 64 characters, at most
MAX_WINDOW).

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

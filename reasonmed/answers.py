"""Answer extraction from model text: one API, two modes, for every stage.

    extract(text, options)              -> "C" | None        (mode="strict": generate, summarize,
                                                               evaluate's `strict` metric)
    extract(text, options, "huatuo")    -> Huatuo(first, last, kind) | None
                                           (evaluate's `huatuo` metric; None = dropped)

`options` is {letter: option text}; strict also takes a letters string ("ABCD"), which only
loses the option-text readings.

strict -- an explicit final answer, read from the final-answer region only
---------------------------------------------------------------------------
1. Final-answer region. Special tokens (`</s>`, `<|im_end|>`, ...) are removed and whitespace
   runs collapsed. The region is the text after the last closing marker: `</think>` (also
   `</thinking>`, `</reasoning>`, `<|end_of_thought|>`) or a heading line "Final Response",
   "Final Answer" or "Answer" (`## Final Response`, `**Final Answer:**`, ...). An opening
   marker (`<think>`, `<thinking>`, `<reasoning>`, `<|begin_of_thought|>`, a `## Thinking`
   heading) after the last closing one is an unclosed reasoning block: no answer (None), and
   nothing inside it is read. Without markers the whole text is the region. Empty or
   whitespace-only text: None.
2. Statements in the region, each naming an option by its letter or by its text:
   - "<head> <object>". Heads: "answer" (the answer, final/correct/right/best/most likely
     answer, answer to this question), final/correct/right/best option|choice|response, "my
     answer|choice", "ans" -- followed by a verb (is, would/will/should/must be, seems/
     appears to be, =) or a colon/dash; "the most likely|most appropriate|best|correct
     <up to 5 words> is" ("The most likely diagnosis is C", "the best next step would be
     (B)"); "I choose|pick|select|go with|say"; "corresponds to option X", "which is option
     X"; `<answer>`. "The correct answers are B and D" (plural) is no statement.
   - "<subject> is (the) correct|right|best (answer|option|choice)" and "<subject> is the
     answer" ("C is the correct answer", "Option (B) is correct"). The subject letter must
     stand alone (start of a clause, after a lead-in such as "so"/"therefore"/"option"):
     "Vitamin C is the correct answer" names no option.
   - `\\boxed{...}` anywhere in the region.
   - In a marked region (after a closing marker): what the region opens with ("C. cystitis",
     "**C**", "(C)", "Yes.", "Asthma is the most likely diagnosis", ...), unless it opens a
     list of options ("A. ...\\nB. ...").
   - The last line when it is only a (bold/bracketed) letter or a bold answer ("**C**",
     "(C)", "**C. cystitis**"), and an output that is nothing but an answer ("C", "Yes.").
3. The object: option text first -- the longest option whose text the object starts with,
   compared token by token, ignoring case, spacing, punctuation and a leading article,
   except that a sign before a number is kept ("-5 mmHg" is not "5 mmHg") and <, >, <=,
   >= are tokens. So
   "The answer is B cells" reads the option "B cells" whatever its letter, and "The answer
   is yes" reads PubMedQA's yes. Otherwise a letter, upper or lower case, that is not part
   of a word: not "B-cell", "C. difficile", "A 45-year-old", "a bit", "B cells" (when no
   option is "B cells"), "Vitamin A", "T cells". A letter followed by a plain word counts
   only when the word is a connector ("because", "since", "as", ...) or starts that letter's
   option text, or the letter is bracketed/bold. A letter outside the options, or a hedge
   between options ("B or C", "B/C", "B and C", "either B or C", "between B and C", "B (or
   possibly C)"), makes the statement name no option. "C and D is wrong" and "C, not D" are
   C (a new clause and a negation, not a hedge). "not B" names nothing, unless followed by
   "but/rather/instead/it is/it's <X>" ("The answer is not B; it is C" is C).
4. Tentative statements are skipped: a question ("the answer is B?"), a condition ("B if
   the MCV is normal", "... unless/provided/assuming/when ...") or a clause with if, whether,
   suppose, assume, maybe, perhaps, possibly, might, could, unless, otherwise, wonder, not
   sure ("If the answer is B...", "Maybe the answer is B, but...").
   A head followed by no option ("the answer is a bit unclear") is not a statement either.
5. The last statement in the region decides (a change of mind takes the final one:
   "The answer is B. Wait, actually the answer is C." is C); if it names no listed option
   (a hedge, a letter outside the options) the reading is None.

Cost: linear in the text, a few milliseconds for 100 KB of adversarial input. Markers are
found in the whole text by literal search and a keyword regex whose line check is bounded;
the statements are read from the last MAX_REGION (16,000) characters of the final region
(about 4,000 tokens: a final answer stated earlier than that in one region is not seen).
Whitespace runs are collapsed first and the regexes have no ambiguous adjacent quantifiers,
so none backtracks over a long run; each object is read from a bounded window (the longest
option text + 64 characters, at most 1,000); at most the last 64 statement candidates are
examined (earlier ones matter only when all 64 later ones are tentative or empty).

huatuo -- HuatuoGPT-o1's scorer, exactly
-----------------------------------------
`evaluation/eval.py` postprocessing (remove every `</s>`, then one leading space; an output
of length 0 is dropped from the results file: None here) followed by `match_choice` of
`evaluation/scorer.py` (kept with its quirks, see `_match_choice`). Always a letter for a
kept output, whitespace-only included (by similarity). Optimistic by design.

    python -c "from reasonmed.answers import extract; print(extract('The answer is B.', 'ABCD'))"
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal, NamedTuple, overload

Options = Mapping[str, str]


class Huatuo(NamedTuple):
    """HuatuoGPT-o1's `match_choice` result: first and last reading, match type.

    kind: 1 a letter ("answer is X", or a bare option letter), 2 an option text found in
    the output, 3 the option most similar to the whole output.
    """

    first: str | None
    last: str | None
    kind: int


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
        return _strict(text, opts)
    if mode == "huatuo":
        if isinstance(options, str):
            raise TypeError("huatuo mode needs the option texts: pass {letter: text}")
        pred = _huatuo_postprocess(text)
        if len(pred) == 0:
            return None
        return _match_choice(pred, options)
    raise ValueError(f"mode must be 'strict' or 'huatuo', not {mode!r}")


# === strict ==============================================================================

_SPECIAL = re.compile(r"</s>|<s>|<\|(?:im_end|eot_id|endoftext|end)\|>|<eos>|<end_of_turn>")
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

_VERB = (r"(?:is|would be|will be|should be|must be|has to be|seems to be|appears to be|remains|=)"
         r"(?![^\W_])")
_QUAL = r"(?:final|correct|right|best|true|most likely|most appropriate|single best)"
# Statement heads; the object starts at m.end(). `(?<![^\W_])`: not inside a word.
# Statement regexes run on an ASCII-lowercased copy; the leading lookahead lets a search
# skip quickly to the characters a statement can start with.
_HEAD = re.compile(
    r"(?=[fcrbtmsainw<])(?<![^\W_])(?:"
    rf"(?:(?:{_QUAL} |my (?:final )?)?answer|{_QUAL} (?:option|choice|response)"
    r"|my (?:final )?(?:choice|pick))"
    r"(?![^\W_])(?:\*\*)?(?: (?:to|for) (?:this|the) (?:question|item|case|problem))?"
    r"(?:,? (?:therefore|thus|then|here|again|clearly),?)?"
    rf"(?: ?{_VERB}(?: ?:)?| ?[:=\u2013\u2014-])"
    r"|ans(?: is| ?[:.])"
    # "the most likely diagnosis is B", "the most appropriate next step would be (C)"
    r"|(?:most likely|most appropriate|most probable|most common|most accurate|most effective|"
    r"single best|next best|best|correct|right) (?:[a-z-]+ ){0,4}?"
    r"(?:is|would be|will be|should be)(?![^\W_])(?: ?:)?"
    # "which corresponds to option B", "asthma, which is option B"
    r"|(?:correspond(?:s|ing)? to|(?:which|this|that) is) (?=(?:option|choice) )"
    r"|i(?: would|'d|'ll| will)? (?:choose|pick|select|go with|opt for|say)(?![^\W_])(?: option)?"
    r"|<answer>)")
_REVERSE = re.compile(
    r"(?=[iw])(?<![^\W_])(?:is|would be)(?: the)? (?:(?:correct|right|best|most likely|most appropriate|true)"
    r"(?: (?:answer|option|choice|one|response))?|answer)(?![^\W_])")
_BOXED = re.compile(r"\\boxed ?\{")

_TENTATIVE = re.compile(r"(?<![^\W_])(?:if|whether|suppose|supposing|assume|assuming|maybe|perhaps|"
                        r"possibly|might|could|unless|otherwise|wonder|not sure|unsure)(?![^\W_])",
                        re.I)
# Skipped before an object: space, emphasis, brackets, quotes, LaTeX wrappers, "option".
_DECOR = re.compile(r"(?:[ \n*_\"'`$(\[{\u201c\u2018]|\\(?:boxed|text|textbf|mathrm|mathbf) ?\{|- (?=\S)"
                    r"|(?:option|choice|letter)(?: ?:)? (?=\S)|(?:probably|likely|most likely|definitely"
                    r"|clearly|indeed|therefore|thus|still|actually|now|then)(?: ?,)? (?=\S))*", re.I)
_DECORATED = re.compile(r"[*(\[{\\]|option|choice|letter", re.I)
_LETTER = re.compile(r"([A-Za-z])(?![^\W_]|['\u2019.\-][^\W_\s])")
_CLOSING = re.compile(r"[)\]}*\"'`$\u201d\u2019]*")
_WORD = re.compile(r" ([^\W_]+)")
# A second option after the first: a hedge ("B or C", "B/C", "B, C", "B and C", "(or C)").
_MORE = re.compile(r" ?(?:\(or|,|/|&|(?<![^\W_])or(?![^\W_])|(?<![^\W_])and(?![^\W_])) ?"
                   r"(?:possibly |maybe |perhaps |even )?(?:option |choice )?[(*\[]*"
                   r"(?:([A-Z])|\(([a-z])\))(?![^\W_])", re.I)
_CLAUSE = re.compile(r"[)*\]]* (?:is|was|does|doesn't|has|seems|can|cannot|can't|would|should|isn't|"
                     r"wasn't|fits|explains|describes|refers|causes)(?![^\W_])", re.I)
_JOIN = re.compile(r" ?(,|/|(?<![^\W_])or(?![^\W_])|(?<![^\W_])and(?![^\W_])) ?", re.I)
_CONDITION = re.compile(r"[)\]*]* ?,? (?:if|unless|provided|assuming|when|only if)(?![^\W_])", re.I)
_ARTICLE = re.compile(r"(?:the|an?) (?=\S)", re.I)
_NOT = re.compile(r"not (?=\S)", re.I)
_BUT = re.compile(r"[,;.]? ?(?:but|rather|instead|it is|it's|it must be|the answer is)(?: ?:)? (?=\S)",
                  re.I)
_HEDGE_WORD = re.compile(r"(?:either|between)(?![^\W_])", re.I)
_LIST_LINE = re.compile(r"[*(\[]*[A-Z][.):](?: |$)")
# Words after a letter that keep it a letter ("B because ...") or start a sentence after
# "B." ("B. the patient ..."); any other word makes it part of a phrase ("B cells").
_CONNECT = frozenset("because since as is was which for with given and or but based due this here per "
                     "in on from considering according hence therefore so then thus while whereas".split())
_STARTERS = _CONNECT | frozenset("the a an it its that these those there he she they we i his her "
                                 "their our explanation reason rationale".split())
_LEADIN = frozenset("therefore thus so hence then and overall clearly here option choice letter answer "
                    "that think believe finally ultimately conclusion accordingly consequently "
                    "because since".split())

# Tokens for option-text comparison: words, numbers (a sign kept before a number: "-5"; "45mV"
# is "45", "mv" like "45 mV") and comparison signs. Case, spacing and other punctuation are
# ignored.
_TOKEN = re.compile(r"(?<![^\W_])[-+\u2212\u2013](?=\d)\d+|\d+|[^\W\d_]+|[<>\u2264\u2265]")

_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}
_TAGGED = re.compile(r"(?:^|[\s(\[*])[(\[]?([A-Za-z])[)\].:]$")
_BARE = re.compile(r"[(\[]?[A-Za-z][)\]]?")
_LETTERS = re.compile(r"[^A-Za-z]")
_PAIR = re.compile(r"[(\[]?([A-Za-z])[)\]]?[.):]? (.+)", re.S)

MAX_CANDIDATES = 64
MAX_WINDOW = 1000


def _tokens(s: str) -> list[tuple[str, int]]:
    """(token, end offset) of each token; casefolded, unicode minus/dash signs as '-'."""
    out = []
    for m in _TOKEN.finditer(s):
        t = m.group().casefold()
        if t[0] in "\u2212\u2013":
            t = "-" + t[1:]
        out.append((t, m.end()))
    return out


class _Ctx:
    """Per-call state: the options, their token lists and the read window."""

    def __init__(self, options: dict[str, str]):
        self.options = options
        self.toks = {k: [t for t, _ in _tokens(v)] for k, v in options.items()}
        self.toks = {k: v for k, v in self.toks.items() if v}
        longest = max((len(v) for v in options.values()), default=0)
        self.window = min(MAX_WINDOW, longest + 64)

    def text_prefix(self, s: str) -> tuple[str, int] | None:
        """(letter, end offset) of the longest option text `s` starts with."""
        if not self.toks:
            return None
        toks = _tokens(s)
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
        toks = _tokens(s)
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
        toks = _tokens(s[:64])
        return bool(toks) and toks[0][0] == ot[0]


@lru_cache(maxsize=4096)
def _ctx(options: tuple[tuple[str, str], ...]) -> _Ctx:
    """The context of one option set, kept: a benchmark reuses few option sets per item."""
    return _Ctx(dict(options))


def _object(s: str, ctx: _Ctx) -> str | None:
    """The option an object names: its letter, '?' (names no single listed option: a hedge,
    a letter outside the options), or None (no option named: not a statement)."""
    d = _DECOR.match(s)
    decorated = bool(_DECORATED.search(d.group()))
    i = d.end()
    if _HEDGE_WORD.match(s, i):
        return "?"
    neg = _NOT.match(s, i)
    if neg:
        after = _object_end(s, neg.end(), ctx)
        if after is None:
            return None
        m = _BUT.match(s, after)
        return _object(s[m.end():], ctx) if m else None
    hit = ctx.text_prefix(s[i:])
    if not hit and (art := _ARTICLE.match(s, i)):
        hit = ctx.text_prefix(s[art.end():])  # "the inferior vena cava"
        i = art.end() if hit else i
    if hit:
        k, end = hit
        return "?" if _hedged(s, i + end, ctx, k) else k
    m = _LETTER.match(s, i)
    if not m:
        return None
    letter = m.group(1)
    c = _CLOSING.match(s, m.end())
    decorated = decorated or bool(c.group().strip("\"'`$\u201d\u2019"))
    j = c.end()
    up = letter.upper()
    if not decorated:
        w = _WORD.match(s, j)
        if w and not (w.group(1).lower() in _CONNECT or ctx.starts_option(up, s[j:])):
            return None  # "B cells", "A 45-year-old", "a bit unclear"
        if s.startswith(". ", j) and (w2 := _WORD.match(s, j + 1)) and w2.group(1)[0].islower():
            if w2.group(1) not in _STARTERS and up in ctx.toks and not ctx.starts_option(up, s[j + 1:]):
                return None  # "C. difficile" (known only when the option texts are)
        if letter.islower() and not (j == len(s) or s[j] in ".,:;)!\n*}"):
            return None
    if s.startswith("?", j) or s.startswith(" ?", j) or _CONDITION.match(s, j):
        return None  # a question, a condition ("B if the MCV is normal")
    if _hedged(s, j, ctx, up):
        return "?"
    return up if up in ctx.options else "?"


def _object_end(s: str, i: int, ctx: _Ctx) -> int | None:
    """End offset of the option named at `i` (for "not X, but Y"), or None."""
    i = _DECOR.match(s, i).end()
    hit = ctx.text_prefix(s[i:])
    if hit:
        return i + hit[1]
    m = _LETTER.match(s, i)
    return _CLOSING.match(s, m.end()).end() if m else None


def _hedged(s: str, j: int, ctx: _Ctx, first: str) -> bool:
    """Whether an option other than `first` follows at `j` as an alternative ("or C", ", C",
    "/C", "or asthma"); "C, cystitis" restates C."""
    m = _MORE.match(s, j)
    if m:
        second = m.group(1) or m.group(2)
        if (second.islower() and not m.group(2)) or second.upper() not in ctx.options:
            return False  # "and a ...": an article; "B, I think": a pronoun
        joiner = s[j:m.end()].strip().lower()
        if (joiner.startswith(("and", ",")) or " and" in joiner) and _CLAUSE.match(s, m.end()):
            return False  # "C and D is wrong": a new clause
        return second.upper() != first
    m = _JOIN.match(s, j)
    if m and (hit := ctx.text_prefix(s[m.end():])) and hit[0] != first:
        joiner = m.group(1).lower()
        return joiner != "and" or not _CLAUSE.match(s, m.end() + hit[1])
    return False


def _tentative(region: str, start: int, end: int) -> bool:
    """Whether the clause holding the statement at [start, end) is a question or hypothesis."""
    before = region[max(0, start - 80):start]
    cut = max(before.rfind(c) for c in ".!?;\n:")
    return bool(_TENTATIVE.search(before[cut + 1:]))


def _subject(before: str, ctx: _Ctx) -> str | None:
    """The option named right before "is the correct answer" (see _object for the codes)."""
    stripped = before.rstrip(" *)]\"'`")
    decorated = any(c in "*)]" for c in before[len(stripped):])
    hit = ctx.text_suffix(stripped)
    if hit:
        k, start = hit
        pre = stripped[:start].rstrip(" *([\"'")
        w = re.search(r"([^\W_]+)$", pre)
        if not pre or pre[-1] in ".!?:;,\n" or (w and w.group(1).lower() in _LEADIN):
            return k
        tag = _TAGGED.search(pre)  # "(D) Posterior cerebral artery is correct"
        return k if tag and tag.group(1).upper() == k else None
    if not stripped or not stripped[-1].isascii() or not stripped[-1].isalpha():
        return None
    letter, pre = stripped[-1], stripped[:-1]
    if pre and (pre[-1].isalnum() or pre[-1] in "-'\u2019_."):
        return None  # inside a word: "HbA", "Hepatitis-B", "e.g."
    rest = pre.rstrip(" ([*")
    decorated = decorated or any(c in "([*" for c in pre[len(rest):])
    w = re.search(r"([^\W_]+)$", rest)
    if w:
        word = w.group(1).lower()
        if word in ("option", "choice", "letter"):
            decorated = True
        elif word in ("or", "and") and re.search(r"(?<![^\W_])[A-Z][)*]* ?,? (?:or|and)$", rest):
            return "?"  # "B or C is correct"
        elif word not in _LEADIN:
            return None  # "Vitamin C", "Hepatitis B"
    elif rest and rest[-1] not in ".!?:;,\n":
        return None
    if re.search(r"(?<![^\W_])[A-Z][)*]* ?[,/]$", rest):
        return "?"  # "B, C is correct" / "B/C"
    if letter.islower() and not decorated:
        return None
    up = letter.upper()
    return up if up in ctx.options else "?"


def _standalone(line: str, ctx: _Ctx, whole: bool) -> str | None:
    """An answer standing alone: a (bracketed/bold) letter "C", "(C)", "**C**", "C."; a bold
    answer "**C. cystitis**", "**Asthma**"; and, when `whole` (the output is nothing but
    this), also "Yes.", "Asthma", "C. cystitis"."""
    bold = line.startswith("**") and line.rstrip(" .").endswith("**")
    core = line.strip(" *_.:!\"'`$")
    if not core:
        return None
    if len(core) <= 3 and _BARE.fullmatch(core):
        if len(core) == 1 and core in "ai":
            return None  # the article, the pronoun
        up = _LETTERS.sub("", core).upper()
        return up if up in ctx.options else "?"
    if not (bold or whole):
        return None
    hit = ctx.text_prefix(core)
    if hit and not _TOKEN.search(core, hit[1]):
        return hit[0]
    m = _PAIR.fullmatch(core)
    if m and (hit := ctx.text_prefix(m.group(2))) and hit[0] == m.group(1).upper() \
            and not _TOKEN.search(m.group(2), hit[1]):
        return hit[0]
    return None


def _last_headings(text: str) -> tuple[int, int]:
    """(end of the last closing heading line, start of the last "Thinking" heading line after
    it), -1 when absent. Closing: "## Final Response", "Final Answer:", "**Answer**", ...;
    opening: "## Thinking" or "**Thinking**". Checked from the end, so only headings after
    the last closing one are looked at closely."""
    low = text.lower()
    if len(low) != len(text):
        low = text.translate(_ASCII_LOWER)
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


def _region(text: str) -> tuple[str, bool, bool] | None:
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


def _strict(text: str, options: dict[str, str]) -> str | None:
    got = _region(text)
    if got is None:
        return None
    region, marked, cut = got
    if not region:
        return None
    ctx = _ctx(tuple(options.items()))
    low = region.lower()
    if len(low) != len(region):  # a few non-ASCII characters lower-case to two
        low = region.translate(_ASCII_LOWER)
    # Candidates: (start, kind, offset where its object starts).
    cands: list[tuple[int, str, int]] = []
    cands += [(m.start(), "head", m.end()) for m in _HEAD.finditer(low)]
    cands += [(m.start(), "reverse", m.end()) for m in _REVERSE.finditer(low)]
    cands += [(m.start(), "boxed", m.end()) for m in _BOXED.finditer(low)]
    nl = region.rfind("\n")
    cands.append((nl + 1, "line", nl + 1))
    if marked and not cut:
        cands.append((-1, "leading", 0))
    if not cut:
        cands.append((-2, "whole", 0))
    cands.sort()
    for start, kind, at in reversed(cands[-MAX_CANDIDATES:]):
        got = _read(region, kind, start, at, ctx)
        if got is not None:
            return got if got in options else None
    return None


def _read(region: str, kind: str, start: int, at: int, ctx: _Ctx) -> str | None:
    if kind == "line":
        return _standalone(region[at:], ctx, whole=False)
    if kind == "whole":
        return _standalone(region, ctx, whole=True) if len(region) <= ctx.window else None
    if kind == "leading":
        first, _, rest = region.partition("\n")
        if _LIST_LINE.match(first) and _LIST_LINE.match(rest):
            return None  # the region restates the options
        return _object(region[:ctx.window], ctx)
    window = region[at:at + ctx.window]
    if kind == "reverse":
        if window.lstrip(" *").startswith("?") or _CONDITION.match(window) or _tentative(region, start, at):
            return None
        return _subject(region[max(0, start - ctx.window):start], ctx)
    if kind == "head" and _tentative(region, start, at):
        return None
    return _object(window, ctx)


# === huatuo: HuatuoGPT-o1's eval.py postprocessing + scorer.py match_choice ===============


def _huatuo_postprocess(pred: str) -> str:
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


def _match_choice(text: str, options: Options) -> Huatuo:
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

"""The strict reader: an explicit final answer, read from the final-answer region only.

The region (step 1) is reasonmed/method/answers_region.py; then:

2. Statements in the region, each naming an option by its letter or by its text (as listed
   or in other words: reasonmed/method/answers_content.py):
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
   - The opening: an answer-first line ("**D**", "D. pneumonia", "Option D", "(D)", then an
     explanation; reasonmed/method/answers_opening.py); in a marked region (after a closing
     marker) also an option's text ending its sentence ("Cystitis.", "Yes. The trial ...",
     "Asthma is the most likely diagnosis"), not one the sentence goes on to describe
     ("Naltrexone is used for maintenance, but ..."), nor one judged against ("B is
     incorrect."), nor a list of options ("A. ...\\nB. ...").
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
   (a hedge, a letter outside the options) the reading is None. After an opening answer
   (a firm statement starting on the first line), a later statement naming another option
   counts only when it is itself a firm final answer ("Correction: the answer is C", or
   after "wait"/"actually"), not a remark in the explanation ("B is the best treatment for
   asthma", "the most likely diagnosis in a child would be A", "which is option B").
6. A marked region with no statement at all: the option its answer sentences name by
   content, when they all name the same one (answers_content.read_by_content: "This patient
   most likely has an excess of aldosterone").

Cost: linear in the text, a few milliseconds for 100 KB of adversarial input. Whitespace
runs are collapsed first and the regexes have no ambiguous adjacent quantifiers, so none
backtracks over a long run; each object is read from a bounded window (the longest option
text + 64 characters, at most 1,000); at most the last 64 statement candidates are examined
(earlier ones matter only when all 64 later ones are tentative or empty), the opening only
on the first line (at most 200 characters in) and content sentences only the last 64.

    python -c "from reasonmed.method.answers_strict import read_strict as r; print(r('Answer: B', {'B': ''}))"
"""

from __future__ import annotations

import re

from reasonmed.method.answers_content import cut_clause, name_in_words, read_by_content
from reasonmed.method.answers_opening import (
    OPENING_CHARS,
    describes,
    firm,
    judged_against,
    opening,
    standalone,
    tagged,
)
from reasonmed.method.answers_options import OptionContext, option_context
from reasonmed.method.answers_region import ASCII_LOWER, final_region

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
    r"|i(?:(?: would|'d|'ll| will|'m going to| am going to)? (?:choose|pick|select|go with|opt for|say)"
    r"|(?:'m| am) going with)(?![^\W_])(?: option)?"
    r"|<answer>)")
_REVERSE = re.compile(
    r"(?=[iw])(?<![^\W_])(?:is|would be)(?: the)? (?:(?:correct|right|best|most likely|most appropriate|true)"
    r"(?: (?:answer|option|choice|one|response))?|answer)(?![^\W_])")
_BOXED = re.compile(r"\\boxed ?\{")

_TENTATIVE = re.compile(r"(?<![^\W_])(?:if|whether|suppose|supposing|assume|assuming|maybe|perhaps|"
                        r"possibly|might|could|unless|otherwise|wonder|not sure|unsure|guess)(?![^\W_])",
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
_CLAUSE = re.compile(r"[)*\]]* (?:is|are|was|were|does|doesn't|has|seems|can|cannot|can't|would|should|isn't|"
                     r"wasn't|fits|explains|describes|refers|causes)(?![^\W_])", re.I)
_JOIN = re.compile(r" ?(,|/|(?<![^\W_])or(?![^\W_])|(?<![^\W_])and(?![^\W_])) ?", re.I)
_CONDITION = re.compile(r"[)\]*]* ?,? (?:if|unless|provided|assuming|when|only if)(?![^\W_])", re.I)
_CONDITION_LATER = re.compile(r"[^.;!?\n]{0,80}?(?<![^\W_])(?:if|unless|provided|assuming|when|only if)"
                              r"(?![^\W_])", re.I)
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

_TAGGED = re.compile(r"(?:^|[\s(\[*])[(\[]?([A-Za-z])[)\].:]$")
_TAG_BEFORE = re.compile(r"(?:^|[,:;.] )([A-Z])$")  # "In summary, B (asthma) is the most likely diagnosis"

MAX_CANDIDATES = 64
_ARTICLE_WORD = re.compile(r"(?:A|I) [a-z]")  # "A thiazide", "I think": the article, the pronoun
_HEDGE_START = re.compile(r"[*_ ]*(?:either|between|both)(?![^\W_])", re.I)
_LETTER_TAG = re.compile(r"[(\[]?[A-Za-z](?![^\W_]|['\u2019.\-][^\W_\s])")


def _object(s: str, ctx: OptionContext) -> str | None:
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
        if s.startswith("?", i + end) or s.startswith(" ?", i + end):
            return None  # "Asthma?"
        if _hedged(s, i + end, ctx, k):
            return "?"
        named = name_in_words(cut_clause(s[i:]), ctx)
        if named == "?":
            return "?"  # "myxedema coma precipitated by infection or pheochromocytoma crisis"
        longer = named in ctx.content and k in ctx.content and ctx.content[k] < ctx.content[named]
        return named if longer else k  # "amoxicillin with clavulanic acid"
    m = _LETTER.match(s, i)
    if not m:
        return name_in_words(cut_clause(s[i:]), ctx)
    letter = m.group(1)
    c = _CLOSING.match(s, m.end())
    decorated = decorated or bool(c.group().strip("\"'`$\u201d\u2019"))
    j = c.end()
    up = letter.upper()
    if not decorated:
        w = _WORD.match(s, j)
        if w and not (w.group(1).lower() in _CONNECT or ctx.starts_option(up, s[j:])):
            return name_in_words(cut_clause(s[i:]), ctx)  # "B cells", "A 45-year-old", "a bit unclear"
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


def _object_end(s: str, i: int, ctx: OptionContext) -> int | None:
    """End offset of the option named at `i` (for "not X, but Y"), or None."""
    i = _DECOR.match(s, i).end()
    hit = ctx.text_prefix(s[i:])
    if hit:
        return i + hit[1]
    m = _LETTER.match(s, i)
    return _CLOSING.match(s, m.end()).end() if m else None


def _hedged(s: str, j: int, ctx: OptionContext, first: str) -> bool:
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


def _subject(before: str, ctx: OptionContext) -> str | None:
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
        tag = _TAGGED.search(pre) or _TAG_BEFORE.search(pre)  # "(D) Posterior cerebral artery is correct"
        return k if tag and tag.group(1).upper() == k else None
    if not stripped or not stripped[-1].isascii() or not stripped[-1].isalpha():
        return _subject_words(stripped, ctx)
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
            return _subject_words(stripped, ctx)  # "Vitamin C", "Hepatitis B"
    elif rest and rest[-1] not in ".!?:;,\n":
        return None
    if re.search(r"(?<![^\W_])[A-Z][)*]* ?[,/]$", rest):
        return "?"  # "B, C is correct" / "B/C"
    if letter.islower() and not decorated:
        return None
    up = letter.upper()
    return up if up in ctx.options else "?"


def _subject_words(before: str, ctx: OptionContext) -> str | None:
    """The option a subject names in other words: the clause before the verb, from its sentence
    start ("Increased stiffness of the ventricular walls is the most likely cause")."""
    cut = max(before.rfind(c) for c in ".!?;:\n")
    return name_in_words(before[cut + 1:].strip(" *_"), ctx, "end")


def read_strict(text: str, options: dict[str, str]) -> str | None:
    got = final_region(text)
    if got is None:
        return None
    region, marked, cut = got
    if not region:
        return None
    ctx = option_context(tuple(options.items()))
    low = region.lower()
    if len(low) != len(region):  # a few non-ASCII characters lower-case to two
        low = region.translate(ASCII_LOWER)
    # Candidates: (start, kind, offset where its object starts).
    cands: list[tuple[int, str, int]] = []
    cands += [(m.start(), "head", m.end()) for m in _HEAD.finditer(low)]
    cands += [(m.start(), "reverse", m.end()) for m in _REVERSE.finditer(low)]
    cands += [(m.start(), "boxed", m.end()) for m in _BOXED.finditer(low)]
    nl = region.rfind("\n")
    cands.append((nl + 1, "line", nl + 1))
    if not cut:
        cands.append((-1, "leading" if marked else "opening", 0))
        cands.append((-2, "whole", 0))
    cands.sort()
    cands = cands[-MAX_CANDIDATES:]
    readings: dict[int, str | None] = {}

    def read(i: int) -> str | None:
        if i not in readings:
            readings[i] = _read(region, cands[i][1], cands[i][0], cands[i][2], ctx)
        return readings[i]

    # The opening answer: the first firm statement on the first line (see the module doc, 5.).
    first_line = region.find("\n")
    limit = min(first_line if first_line >= 0 else len(region), OPENING_CHARS)
    first = None
    for i, (start, kind, at) in enumerate(cands):
        if start >= limit:
            break
        if kind != "whole" and firm(low, kind, start, at) and (got := read(i)) is not None:
            first = (start, got)
            break
    for i in range(len(cands) - 1, -1, -1):
        got = read(i)
        if got is None:
            continue
        start, kind, at = cands[i]
        if first and start > first[0] and got != first[1] and not firm(low, kind, start, at):
            continue  # discussion after an answer-first reply ("B is the best treatment for asthma")
        return got if got in options else None
    if marked:  # no statement: the option the answer sentences name by content, if one
        return read_by_content(region, low, ctx)
    return None


def _read(region: str, kind: str, start: int, at: int, ctx: OptionContext) -> str | None:
    if kind == "line":
        return standalone(region[at:], ctx, whole=False)
    if kind == "whole":
        return standalone(region, ctx, whole=True) if len(region) <= ctx.window else None
    if kind == "opening":
        return opening(region, ctx)
    if kind == "leading":
        first, _, rest = region.partition("\n")
        if _LIST_LINE.match(first) and _LIST_LINE.match(rest):
            return None  # the region restates the options
        tag_read = opening(region, ctx)
        if tag_read is not None or tagged(region):
            return tag_read  # a letter tag: answered with, or judged no answer ("D. asthma? No.")
        got = _object(region[:ctx.window], ctx)
        if got == "?" and not _HEDGE_START.match(region):
            return None  # two options' content in the first sentence: the answer sentences decide
        i = _DECOR.match(region).end()
        art = _ARTICLE.match(region, i)
        text_led = not _LETTER_TAG.match(region, i) or _ARTICLE_WORD.match(region, i)  # "A thiazide or ..."
        if got and got != "?" and (judged_against(region, ctx, got) or text_led
                                   and describes(region, ctx, got, [i] + ([art.end()] if art else []))):
            return None  # "B is incorrect.", "Naltrexone is used for maintenance, but ..."
        return got
    window = region[at:at + ctx.window]
    if kind == "reverse":
        if window.lstrip(" *").startswith("?") or _CONDITION.match(window) or _tentative(region, start, at) \
                or _CONDITION_LATER.match(window):
            return None  # "B is the most likely diagnosis if TSH is low"
        return _subject(region[max(0, start - ctx.window):start], ctx)
    if kind == "head" and (_tentative(region, start, at) or _TENTATIVE.search(region, start, at)):
        return None
    return _object(window, ctx)

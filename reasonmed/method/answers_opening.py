"""The strict reader's answer-first outputs and answer lines: where an answer stands first or
alone, and what may overrule it.

    **D**                               D. Pneumonia
    Explanation: option E is incorrect  Why not the others? A) gout would need ...

`opening` reads the first line of a region. It is an answer when it is an option tag -- a
letter bracketed, bold, after "Option", or followed by ".", ")", ":" or a dash (a
lower-case letter only so) -- alone or followed by that option's text (as listed or in other
words, reasonmed/method/answers_content.py). It is no answer when:

- the next line starts another tag (the options restated: "A. gout\\nB. asthma");
- a second option follows as an alternative ("B or C", "B, C", "**B/C**": '?');
- the tag, or the option text after it, is followed by more words in the same sentence
  ("A 45-year-old", "B is incorrect because", "A. This is wrong", "Option A (gout) fits the
  findings best"): the answer must end where the line, a sentence or a dash-remark does;
- `verdict` finds, on the rest of the line before another option is named, a verdict
  against it or a hedge ("- incorrect", ": not likely", "is wrong", "ruled out",
  "though C cannot be excluded", "?").

After a closed reasoning block the reader also takes an opening option text
(reasonmed/method/answers_strict.py), guarded here: `judged_against` (a verdict in its first
sentence: "B is incorrect.") and `describes` (the sentence goes on about the option instead
of ending or saying it is the answer: "Naltrexone is used for maintenance, but ...").
`firm` says which later statements may overrule an opening answer (a final-answer statement
in the indicative, or one after "wait"/"actually"; not "B is the best treatment for
asthma"). `standalone` reads a line that is only an answer ("**C**", "(C)", "**C.
cystitis**", "**Jaundice related to breastfeeding**").

    python -c "from reasonmed.method.answers_opening import demo; demo()"
"""

from __future__ import annotations

import re

from reasonmed.method.answers_content import cut_clause, name_in_words
from reasonmed.method.answers_options import TOKEN, OptionContext, content_words, tokens

# An option tag at the start of a line: groups (bracketed, bold-or-plain letter, delimiter).
_TAG = re.compile(r"[ #>*_]*(?:(option|choice)[ *_]*:?[ *_]*)?(?:[(\[]([A-Za-z])[)\]]|([A-Za-z])(?![^\W_]))"
                  r"([*_]*)([.):]|\s+[-\u2013\u2014](?=\s))?(?![^\W_])", re.I)
_LIST = re.compile(r"[ *_\-\u2022]*(?:(?:option|choice) )?[(\[]?[A-Za-z][)\].:](?:[ *_]|$)", re.I)
_ALTERNATIVE = re.compile(r"[ *_]*(?:,|/|or|and|&)[ *_]*(?:option |choice )?[(\[]?([A-Za-z])[)\]]?(?![^\W_])",
                          re.I)
_VERDICT = re.compile(
    r"(?<![^\W_])(?:incorrect|wrong|false|unlikely|not likely|less likely|least likely|ruled out|rule out"
    r"|excluded|is not|isn't|not correct|not the answer|a distractor|cannot be|can't be|though|although"
    r"|possibly|maybe|perhaps|might|could|not sure|unsure|or maybe)(?![^\W_])|\?", re.I)
# Another option named later on the line ("... Option E is incorrect"): a verdict after it is its own.
_ANOTHER = re.compile(r"(?<![^\W_])(?:option|choice)s? [A-Za-z](?![^\W_])|(?<![^\W_])[A-Z][).:](?= )"
                      r"|\([A-Za-z]\)", re.I)
_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|\n")
_TEXT_END = re.compile(r"[ *_)\]\"'`]*(?:$|\n|[.!;:,][*_)\]\"'`]*(?=\s|$)|\s+[-\u2013\u2014(])")
_ANSWER_PREDICATE = re.compile(r"(?<![^\W_])(?:is|are|was|seems|appears|remains)(?: to be)?(?: the| a| an)? "
                               r"(?:[a-z-]+ ){0,3}?(?:most likely|most probable|likeliest|best|correct|right"
                               r"|answer|diagnosis|of choice)(?![^\W_])", re.I)
# "X is the most likely diagnosis, but ...": the sentence goes on to something else.
_BUT = re.compile(r"(?<![^\W_])(?:but|however|although|though|yet)(?![^\W_])", re.I)
_VERBS = frozenset("is are was were be has have had can will would should must does do did needs need "
                   "requires require shows show suggests suggest".split())
OPENING_CHARS = 200  # an opening answer starts within the first line and these many characters
_CONDITIONAL = re.compile(r"(?<![^\W_])(?:would|could|might) be(?![^\W_])")
_FIRM_HEAD = re.compile(r"answer|option|choice|pick|choose|select|go with|opt for|say"
                        r"|(?<![^\W_])ans(?![^\W_])")
_REMARK_HEAD = re.compile(r"correspond|(?:which|this|that) is")
_CHANGE = re.compile(r"(?<![^\W_])(?:wait|actually|on second thought|on reflection|correction"
                     r"|reconsider(?:ing)?|i was wrong|i made a mistake|re-reading|rereading)(?![^\W_])")
# After "X is the correct answer": the clause ends, so the statement is about the question.
_CLAUSE_DONE = re.compile(r"[*)\]\"'`]* ?(?:$|[.!;,:\n]|(?:because|since|as|here|overall|then|too)(?![^\W_])"
                          r"|for (?:this|the) (?:question|patient|case|item))")
MAX_LINE = 400  # the first line is read up to here
_BARE = re.compile(r"[(\[]?[A-Za-z][)\]]?")
_LETTERS = re.compile(r"[^A-Za-z]")
_PAIR = re.compile(r"[(\[]?([A-Za-z])[)\]]?[.):]? (.+)", re.S)
# The end of an answer: the line's end, a sentence break, or a dash / bracket opening a remark.
_END = re.compile(r"[ *_)\]\"'`]*(?:$|[.!:;][*_)\]\"'`]*(?=\s|$)|\s+[-\u2013\u2014](?=\s))")
# After a bold/bracketed tag not followed by its option's text: the line's end, a sentence
# break or a dash-remark ("**D** - the fever decides"), not a colon or comma ("**B**: wrong").
_AFTER_TAG = re.compile(r"[ *_)\]\"'`]*(?:$|[.!][*_)\]\"'`]*(?=\s|$)|\s+[-\u2013\u2014](?=\s))")
_SENTENCE = re.compile(r"[.!](?=\s|$)|\n")


def verdict(rest: str, own=()) -> bool:
    """Whether `rest` (the line after an option) holds a verdict against it or a hedge, before
    another option is named; words of the option's own text (`own`) do not count."""
    m = _ANOTHER.search(rest)
    rest = rest[:m.start()] if m else rest
    return any(v.group().lower() not in own for v in _VERDICT.finditer(rest))


def own_words(ctx: OptionContext, letter: str) -> set[str]:
    """The words of option `letter`'s text, as tokens and as content words."""
    return set(ctx.toks.get(letter, ())) | set(content_words(ctx.options.get(letter, "")))


def judged_against(region: str, ctx: OptionContext, letter: str) -> bool:
    """Whether the first sentence of `region`, read as naming `letter`, holds a verdict against
    it or a hedge ("B is incorrect.", "Likely D, though A cannot be excluded.")."""
    end = _SENTENCE.search(region, 0, MAX_LINE)
    sentence = region[:end.start() if end else MAX_LINE]
    m = _TAG.match(sentence)
    return verdict(sentence[m.end():] if m else sentence, own_words(ctx, letter))


def tagged(region: str) -> bool:
    """Whether `region` opens with a bracketed, bold, delimited or "Option" letter tag ("D.",
    "(D)", "**D**", "Option D"): then `opening` alone judges whether it answers."""
    m = _TAG.match(region[:MAX_LINE])
    return bool(m and (m.group(1) or m.group(2) or m.group(5) or "*" in m.group() or "_" in m.group()))


def opening(region: str, ctx: OptionContext) -> str | None:
    """The letter the first line of `region` answers with, '?' (a hedge), or None."""
    nl = region.find("\n", 0, MAX_LINE)
    line = region[:nl if nl >= 0 else MAX_LINE]
    m = _TAG.match(line)
    if not m:
        return None
    letter = (m.group(2) or m.group(3)).upper()
    decorated = bool(m.group(1) or m.group(2) or "*" in m.group() or "_" in m.group())
    delimited = bool(m.group(5))
    if m.group(3) and m.group(3).islower() and not (delimited or decorated):
        return None  # "a", "i" as words
    if not (decorated or delimited) and line[m.end():].strip(" *_"):
        return None  # "B is incorrect", "A 45-year-old man"
    if nl >= 0 and _LIST.match(region, nl + 1):
        return None  # the options restated, one a line
    rest = line[m.end():]
    alt = _ALTERNATIVE.match(rest)
    if alt and alt.group(1).upper() in ctx.options:
        return "?"  # "B or C", "B, C"
    body = rest.lstrip(" *_-\u2013\u2014:")
    own: set[str] = set()
    hit = ctx.text_prefix(body) if body else None
    if hit and hit[0] == letter:
        rest = body[hit[1]:]
    elif body and name_in_words(cut_clause(body), ctx) == letter:
        rest = body[len(cut_clause(body)):]
    elif body and not (decorated and _AFTER_TAG.match(rest)):
        return None  # "A. This is wrong", "**B** cells", "Option A, gout, does not explain ..."
    else:
        body = ""  # the tag alone
    if body:  # the option's text followed the tag
        own = own_words(ctx, letter)
        alt = _ALTERNATIVE.match(rest)
        if alt and alt.group(1).upper() in ctx.options:
            return "?"  # "(a) gout, (b) asthma"
        if not _END.match(rest):
            return None  # "Option A (gout) fits the key findings best."
    if verdict(rest, own):
        return None
    return letter if letter in ctx.options else "?"


def describes(region: str, ctx: OptionContext, letter: str, starts: list[int]) -> bool:
    """Whether a region opening with option `letter`'s text (as listed or in other words) goes
    on to say something else about it rather than answer with it (`starts`: where its text
    may begin, after decoration and an article): the text is not followed by the end of its
    sentence (or a dash, colon or comma) nor by "is the most likely ...", "is correct", ...
    in a sentence that does not go on with "but" ("Naltrexone is used for maintenance, but the
    antidote is naloxone"); in other words, the
    first clause must hold no verb of its own ("Starting IV antibiotics is important, but
    ..."; "This patient has X" is read_by_content's)."""
    i = starts[0]
    ends = [j + hit[1] for j in starts if (hit := ctx.text_prefix(region[j:])) and hit[0] == letter]
    clause = cut_clause(region[i:i + ctx.window])
    if name_in_words(clause, ctx) == letter:
        own = own_words(ctx, letter)
        if not any(t in _VERBS and t not in own for t, _ in tokens(clause)):
            ends.append(i + len(clause))
    for end in ends:
        rest = region[end:]
        stop = _SENTENCE_END.search(rest)
        said = rest[:stop.start() if stop else len(rest)]
        if _TEXT_END.match(rest) or _ANSWER_PREDICATE.search(said) and not _BUT.search(said):
            return False
    return True


def firm(low: str, kind: str, start: int, at: int) -> bool:
    """Whether a statement may overrule the opening answer: a final-answer statement in the
    indicative ("Correction: the answer is C"), not a remark about an option ("B is the best
    treatment for asthma", "the most likely diagnosis in a child would be A")."""
    if kind in ("head", "reverse"):
        if _CHANGE.search(low, max(0, start - 80), start):
            return True  # "Hmm, actually, the most likely diagnosis is asthma"
        said = low[start:at]
        if _CONDITIONAL.search(said):
            return False
        if kind == "reverse":
            return bool(_CLAUSE_DONE.match(low, at))
        return bool(_FIRM_HEAD.search(said)) and not _REMARK_HEAD.match(said)
    return True


def standalone(line: str, ctx: OptionContext, whole: bool) -> str | None:
    """An answer standing alone: a (bracketed/bold) letter "C", "(C)", "**C**", "C."; a bold
    answer "**C. cystitis**", "**Asthma**"; and, when `whole` (the output is nothing but
    this), also "Yes.", "Asthma", "C. cystitis"."""
    bold = line.startswith("**") and line.rstrip(" .").endswith("**")
    core = line.strip(" *_.:!\"'`$")
    if not core or core.endswith("?"):
        return None
    if len(core) <= 3 and _BARE.fullmatch(core):
        if len(core) == 1 and core in "ai":
            return None  # the article, the pronoun
        up = _LETTERS.sub("", core).upper()
        return up if up in ctx.options else "?"
    if not (bold or whole):
        return None
    hit = ctx.text_prefix(core)
    if hit and not TOKEN.search(core, hit[1]):
        return hit[0]
    m = _PAIR.fullmatch(core)
    if m and (hit := ctx.text_prefix(m.group(2))) and hit[0] == m.group(1).upper() \
            and not TOKEN.search(m.group(2), hit[1]):
        return hit[0]
    if hit or "\n" in core or len(core) > ctx.window:
        return None
    named = name_in_words(core, ctx)  # "**Jaundice related to breastfeeding**": the option's words
    if named not in ctx.content or len(content_words(core)) > len(ctx.content[named]) + 1:
        return None  # and at most one more
    return named if named == name_in_words(core, ctx, "end") else None


def demo() -> None:
    from reasonmed.method.answers_options import option_context

    ctx = option_context((("A", "gout"), ("B", "asthma"), ("C", "cystitis"), ("D", "pneumonia")))
    for text in ["**D**\n\nExplanation: option E is incorrect.",
                 "D. Pneumonia\nWhy not the others? A) gout needs joint pain.", "B is incorrect because ...",
                 "A. gout\nB. asthma", "**B or C**"]:
        print(f"{text!r}: {opening(text, ctx)}")

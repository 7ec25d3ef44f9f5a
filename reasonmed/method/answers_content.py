"""The strict reader's option content: an option named in other words, read conservatively.

An object ("The most likely diagnosis is <object>"), a subject ("<subject> is the most
likely explanation") or a whole answer line may name an option by its content in slightly
changed words: word order, number, articles, a word form, a low-content synonym ("an
excess of aldosterone" for "Aldosterone excess", "thick and thin blood smears" for "Thick
and thin blood smear", "inhibits DNA gyrase" for "Inhibition of DNA gyrase").
`name_in_words` reads one clause:

- the clause ends at sentence punctuation, ";", ":" or a conjunction that starts another
  claim (but, because, since, given, although, though, while, whereas, which, ", as"); it
  is cut before a contrast ("rather than", "instead of", ", not", "unlike", "versus"...):
  "a cardiac contusion rather than a pulmonary contusion" is about the cardiac one;
- content words (reasonmed/method/answers_options.py) of the clause are compared with each
  option's: an option matches when the clause holds all of its words (one may be missing
  when it has four or more). An option wholly inside a longer matching one is that one's
  words ("amoxicillin" in "amoxicillin with clavulanic acid");
- exactly one option may match: two are a hedge ("either X or Y", "X and Y fit": '?');
  and it must be clearly ahead: every other option's share of its words found in the clause
  is at least MARGIN (0.25) below the matching one's, or nothing is read;
- the option's words must open the clause (at most LEAD = 2 words before them: "lumbar
  spinal stenosis"; a subject is the clause from its sentence's start to its verb), and be
  at least half of its content words,
  so "Answer: A 45-year-old man with gout" does not read "gout";
- a clause that hedges or negates outside the option's own words (or, either, maybe,
  perhaps, possibly, might, could, would, whether, if, not, no, unlikely, rule out, wrong,
  differential, consider, history of, ...) names nothing.

`read_by_content` (used only when a region after a closed reasoning block has no explicit
statement) reads the sentences of the region that state an answer by content -- "This
patient most likely has X", "These findings are most consistent with X", "X is the most
likely explanation", "The underlying mechanism is X" -- and returns the option only when
every such sentence names the same one.

    python -c "from reasonmed.method.answers_content import demo; demo()"
"""

from __future__ import annotations

import re

from reasonmed.method.answers_options import OptionContext, content_words, tokens

MARGIN = 0.25  # the matching option's share of words found, ahead of every other's by this
LEAD = 2  # content words allowed before an object's option words ("lumbar spinal stenosis")
MAX_SENTENCES = 64  # read_by_content examines at most the last 64 answer sentences

_CLAUSE_END = re.compile(r"[.!?](?=\s|$)|[;\n]|:(?=\s)|,? (?:but|because|since|given|although|though|while|"
                         r"whereas|which)(?![^\W_])|, as ", re.I)
_CONTRAST = re.compile(r"(?:(?:^|,? )(?:rather than|instead of|as opposed to|unlike|versus|vs)"
                       r"|(?:^|, |,? and |,? but )not)(?![^\W_])", re.I)
_VETO = frozenset("or either neither nor maybe perhaps possibly possible might could would may whether if "
                  "unsure uncertain unclear consider considered considering differential between versus vs "
                  "though although not no never cannot unlikely excluded exclude wrong incorrect false less "
                  "least doubt history suspect suspected avoid avoided contraindicated stop stopped "
                  "discontinue discontinued withhold withheld".split())
_VETO_RAW = re.compile(r"n't(?![^\W_])|(?<![^\W_])(?:rules?|ruled|ruling) out(?![^\W_])", re.I)

# Sentences that state an answer by its content (read_by_content): the option after a forward
# cue, or before a reverse one.
_FORWARD = re.compile(
    r"(?<![^\W_])(?:(?:most likely|probably|likely) (?:has|have|had|represents?|is)"
    r"|has|have|is suffering from|suffers from|presents with"
    r"|(?:most |best |highly )?(?:consistent|compatible) with"
    r"|(?:best )?(?:explained|caused|accounted for) by|due to|secondary to"
    r"|points? (?:to|toward|towards)|suggest(?:s|ive of)?|indicates?|(?:best )?fits?"
    r"|(?:diagnosis|cause|etiology|aetiology|mechanism|abnormality|process|finding|treatment|therapy|management"
    r"|step|test|intervention|factor|explanation|organism|pathogen|agent|drug|medication|antidote|antibiotic"
    r"|procedure|investigation|structure|nerve|artery|vessel|muscle|enzyme|hormone|complication|lesion|sign"
    r"|answer|choice|option)"
    r"(?: [a-z-]+){0,3}? (?:is|are|was|would be)"
    r"|a case of|this is|it is|(?:managed|treated) (?:with|by)"
    r"|should (?:receive|undergo|be given|be started on)|requires?|needs?"
    r"|(?:should|must|will|to|we) (?:obtain|perform|order|start|give|administer|begin|initiate|undergo"
    r"|receive))"
    r"(?![^\W_])")
_REVERSE = re.compile(
    r"(?<![^\W_])(?:is|are|was) (?:the |a )?(?:most likely|most probable|likeliest|best|main|primary"
    r"|underlying|probable|leading|correct|right)(?![^\W_])|(?<![^\W_])(?:is|are) responsible for(?![^\W_])")
_NOT_AFTER = re.compile(r"[^.;\n]*?(?:(?<![^\W_])(?:not|if|unless)(?![^\W_])|n't)", re.I)
# A concession closed by a comma does not hedge what follows ("Although asthma is common, ...").
_CONCESSION = re.compile(r"(?<![^\W_])(?:although|though|while|whereas|despite)(?![^\W_])[^,]*,", re.I)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[;\n]")


def _need(words: frozenset[str]) -> int:
    return len(words) if len(words) <= 3 else len(words) - 1


def cut_clause(s: str) -> str:
    """`s` up to the end of its first clause (see the module doc)."""
    m = _CLAUSE_END.search(s)
    return s[:m.start()] if m else s


def name_in_words(clause: str, ctx: OptionContext, anchor: str = "start") -> str | None:
    """The option `clause` names by its content: a letter, '?' (two options: a hedge), or None.
    `anchor`: "start" for an object (the option's words open it), "end" for a subject (the
    clause from its sentence's start to the verb: the option's words anywhere in it)."""
    if not ctx.content:
        return None
    c = _CONTRAST.search(clause)
    if c:
        if not clause[:c.start()].strip(" *_\"'([{"):
            return None  # "not X", "rather than X": nothing asserted
        clause = clause[:c.start()]
    words = content_words(clause)
    if not words:
        return None
    found = set(words)
    passing = [k for k, w in ctx.content.items() if len(w & found) >= _need(w)]
    passing = [k for k in passing if not any(ctx.content[k] < ctx.content[j] for j in passing)]
    if len(passing) != 1:
        return "?" if passing else None
    k = passing[0]
    mine = ctx.content[k]
    span = len(mine) + LEAD
    near = set(words[:span] if anchor == "start" else words)
    if len(mine & near) < _need(mine):
        return None
    if 2 * sum(w in mine for w in words) < len(words):
        return None  # the option is a small part of the clause: "a patient with gout who has pneumonia"
    share = len(mine & found) / len(mine)
    for j, w in ctx.content.items():
        if j != k and not w <= mine and len(w & found) / len(w) > share - MARGIN:
            return None
    if hedged(clause, ctx.toks.get(k, ())):
        return None
    return k


def hedged(text: str, own=()) -> bool:
    """Whether `text` hedges or negates (see the module doc), outside the words in `own`."""
    return any(t in _VETO and t not in own for t, _ in tokens(text)) or bool(_VETO_RAW.search(text))


def read_by_content(region: str, low: str, ctx: OptionContext) -> str | None:
    """The option every answer sentence of `region` names by content, or None (see the doc).
    `low` is `region` ASCII-lowercased."""
    if not ctx.content:
        return None
    cues = [(m.start(), m.end(), "forward") for m in _FORWARD.finditer(low)]
    cues += [(m.start(), m.end(), "reverse") for m in _REVERSE.finditer(low)]
    cues.sort()
    got: set[str] = set()
    for start, end, kind in cues[-MAX_SENTENCES:]:
        lo = max(0, start - ctx.window)
        ends = [m.end() for m in _SENTENCE_END.finditer(region, lo, start)]
        s0 = ends[-1] if ends else lo
        before = region[s0:start]
        if hedged(_CONCESSION.sub(" ", before)):
            continue  # "If the patient has X", "Although she has X", "X is not ..."
        if kind == "forward":
            obj = region[end:end + ctx.window]
            stop = _SENTENCE_END.search(obj)
            sentence = obj[:stop.start() if stop else len(obj)]
            r = name_in_words(cut_clause(obj), ctx, "start")
            c = _CONTRAST.search(sentence)
            said = sentence[:c.start() if c else len(sentence)]
            if r not in (None, "?") and hedged(said, ctx.toks.get(r, ())):
                continue  # "most likely X, though Y should be excluded"
        else:
            after = region[end:end + 40]
            if _NOT_AFTER.match(after):
                continue
            r = name_in_words(before.strip(" *_"), ctx, "end")
        if r is not None:
            got.add(r)
    return got.pop() if len(got) == 1 and "?" not in got else None


def demo() -> None:
    from reasonmed.method.answers_options import option_context

    opts = {"A": "Aldosterone excess", "B": "Cortisol excess", "C": "Catecholamine-secreting mass"}
    ctx = option_context(tuple(opts.items()))
    for s in ["an excess of aldosterone", "aldosterone or cortisol excess", "a mass",
              "not aldosterone excess"]:
        print(f"{s!r}: {name_in_words(s, ctx)}")

"""The judge-reply parsers (parse_verdict, parse_score on 0-5 and 1-10) over a generated table
of adversarial replies, the strict-mode schema sent to OpenAI/Azure, and the judge loop's
schema check.

Every case goes through every parser. The assertions: no exception but ParseError; each
explicit expectation holds; and every reply a parser accepts is accepted, with the same value,
by a brute-force oracle (raw_decode at every `{`, top-level objects only, the documented
policy checked by hand), so no malformed or conflicting reply becomes a verdict or a score.

    .venv/bin/pytest -q tests/test_judging.py -s     # -s prints the table and the timings
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from reasonmed.llm.types import Request
from reasonmed.method.judging import (
    MAX_REPLY_CHARS,
    ParseError,
    judge_scores,
    parse_score,
    scan,
    score_schema,
)
from reasonmed.method.verification import parse_verdict, verdict_schema
from tests.doubles import fake_llm

REASON_MAX, JUST_MAX = 300, 200
RANK, SCORE = range(0, 6), range(1, 11)
PARSERS = {
    "verdict": lambda t: parse_verdict(t, REASON_MAX),
    "rank": lambda t: parse_score(t, RANK, JUST_MAX),
    "score": lambda t: parse_score(t, SCORE, JUST_MAX),
}
REJECT = "reject"
ORACLE_MAX = 600  # the oracle is quadratic: longer replies need an explicit expectation


# --- the oracle -----------------------------------------------------------------------


class _Bad(Exception):
    pass


def _pairs(pairs):
    if len({k for k, _ in pairs}) != len(pairs):
        raise _Bad("duplicate key")
    return dict(pairs)


def _const(name):
    raise _Bad(name)


_ODEC = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=Decimal, parse_int=Decimal,
                         parse_constant=_const)
_SURR = re.compile("[\ud800-\udfff]")
_DIG = re.compile(r"[ \t\n\r]*[+-]?[0-9]+[ \t\n\r]*")


def _top_objects(text: str) -> list[dict]:
    spans = []
    for i, ch in enumerate(text):
        if ch == "{":
            try:
                obj, end = _ODEC.raw_decode(text, i)
            except Exception:  # noqa: BLE001  any failure: not an object here
                continue
            spans.append((i, end, obj))
    return [o for s, e, o in spans
            if not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for s2, e2, _ in spans)]


def _text_ok(v: object, max_len: int) -> bool:
    return isinstance(v, str) and len(v) <= max_len and not _SURR.search(v)


def _oracle_value(o: dict, kind: str):
    if kind == "verdict":
        v = o.get("verdict")
        if set(o) != {"verdict", "reason"} or not isinstance(v, str) or not v.isascii():
            return None
        v = v.strip(" \t\n\r").lower()
        if v not in ("correct", "error") or not _text_ok(o["reason"], REASON_MAX):
            return None
        return v.capitalize(), o["reason"].strip()
    scale = RANK if kind == "rank" else SCORE
    if "score" not in o or not set(o) <= {"score", "justification"}:
        return None
    s = o["score"]
    if isinstance(s, Decimal) and abs(s) < 10**6 and s == s.to_integral_value():
        s = int(s)
    elif isinstance(s, str) and _DIG.fullmatch(s):
        s = int(s)
    if type(s) is not int or s not in scale:
        return None
    just = o.get("justification")
    if just is not None and not _text_ok(just, JUST_MAX):
        return None
    return s, just.strip() if just is not None else None


def oracle(text: str, kind: str):
    """The one value every top-level answer of `text` gives, or None (reject)."""
    keys = {"verdict", "reason"} if kind == "verdict" else {"score", "justification"}
    rel = [o for o in _top_objects(text) if keys & set(o)]
    vals = {_oracle_value(o, kind) for o in rel}
    return vals.pop() if len(vals) == 1 and None not in vals else None


# --- the table ------------------------------------------------------------------------


@dataclass
class Case:
    category: str
    text: str
    expect: dict = field(default_factory=dict)  # parser -> REJECT or the value; else oracle


def V(verdict="Correct", reason="fine", **extra) -> str:
    return json.dumps({"verdict": verdict, "reason": reason, **extra})


def S(score=4, justification="clear", **extra) -> str:
    return json.dumps({"score": score, "justification": justification, **extra})


def rejected_by_all(category: str, text: str) -> Case:
    return Case(category, text, {k: REJECT for k in PARSERS})


WRAPS = [
    lambda o: o,
    lambda o: f"```json\n{o}\n```",
    lambda o: f"```\n{o}\n```",
    lambda o: f"Sure! Here it is: {o} Hope this helps.",
    lambda o: f"  \n\t{o}\n\n",
    lambda o: f"Let me think {{briefly}}. Answer:\n{o}",
    lambda o: f"[{o}]",
    lambda o: f"Format: {{\"a\": 1}}. Answer: {o}",
    lambda o: f"{o}\n```",
    lambda o: f"\x07 prose with control chars \x00 then {o}",
    lambda o: f"prose with a lone surrogate \ud800 then {o}",
    lambda o: f"{o} {o}",  # identical repeat: one answer
]


def legit() -> list[Case]:
    out = []
    verdicts = [(V(), ("Correct", "fine")), (V("error", " wrong letter "), ("Error", "wrong letter")),
                (V("CORRECT", ""), ("Correct", "")), (V(" Error\n", "x"), ("Error", "x")),
                ('{"reason": "order", "verdict": "Error"}', ("Error", "order")),
                (V(reason="uses {braces} and \"quotes\""), ("Correct", 'uses {braces} and "quotes"')),
                (V(reason="é" * REASON_MAX), ("Correct", "é" * REASON_MAX)),
                ('{"verdict": "Correct", "reason": "emoji \\ud83d\\ude00 ok"}',
                 ("Correct", "emoji \U0001f600 ok")),
                (V(reason="nested {\"verdict\": 1}"), ("Correct", 'nested {"verdict": 1}')),
                ('{"verdict":"Correct","reason":"del \x7f ok"}', ("Correct", "del \x7f ok"))]
    scores = [(S(4), (4, "clear")), (S(5, " spaced "), (5, "spaced")), ('{"score": 3}', (3, None)),
              (S("4"), (4, "clear")), (S(" 3 "), (3, "clear")), (S("+2"), (2, "clear")),
              ('{"score": 4.0, "justification": "x"}', (4, "x")),
              ('{"score": 4e0, "justification": "x"}', (4, "x")),
              ('{"score": 40e-1, "justification": "x"}', (4, "x")),
              ('{"score": 0.4E1, "justification": "x"}', (4, "x")),
              (S(2, "j" * JUST_MAX), (2, "j" * JUST_MAX)),
              ('{"justification": "nested {\\"x\\": 1}", "score": 2}', (2, 'nested {"x": 1}'))]
    for w in WRAPS:
        for text, val in verdicts:
            out.append(Case("legit: verdict", w(text), {"verdict": val, "rank": REJECT, "score": REJECT}))
        for text, val in scores:
            out.append(Case("legit: score", w(text), {"verdict": REJECT, "rank": val, "score": val}))
    for lo in ('{"score": 0, "justification": "x"}', '{"score": -0, "justification": "x"}',
               '{"score": "-0", "justification": "x"}'):
        out.append(Case("legit: score", lo, {"rank": (0, "x"), "score": REJECT, "verdict": REJECT}))
    out.append(Case("legit: score", S(10), {"rank": REJECT, "score": (10, "clear")}))
    twice = '{"score": 4, "justification": "a"}\n{"score": "4", "justification": "a"}'
    out.append(Case("legit: score", twice, {"rank": (4, "a")}))  # the same value twice: no conflict
    return out


def deep() -> list[Case]:
    out = []
    for d in (10, 100, 500, 999, 1000, 1001, 5000, 30000):
        out += [rejected_by_all("deep nesting", '{"score": ' + "[" * d + "]" * d + "}"),
                rejected_by_all("deep nesting", '{"verdict": ' + "[" * d + "]" * d + ', "reason": "x"}'),
                rejected_by_all("deep nesting", '{"a":' * d + "1" + "}" * d),
                rejected_by_all("deep nesting", '{"a":' * d + S(4) + "}" * d),
                rejected_by_all("deep nesting", "[" * d),
                rejected_by_all("deep nesting", "{" * d),
                rejected_by_all("deep nesting", '{"score": 4, "justification": "x", "n": ' + "[" * d),
                Case("deep nesting", "[" * d + " " + S(4),
                     {"rank": (4, "clear"), "score": (4, "clear"), "verdict": REJECT}),
                Case("deep nesting", "{" * d + " " + V(), {"verdict": ("Correct", "fine"), "rank": REJECT})]
    return out


def huge() -> list[Case]:
    n, cap = 100_000, MAX_REPLY_CHARS
    out = [rejected_by_all("huge input", t) for t in (
        "{" * n, '{"' * (n // 2), "[" * n, '"' * n, "\\" * n, "}" * n, "a" * n + S(4), S(4) + " " * n,
        V() + " " * n, '{"score": 4, "justification": "' + "x" * n + '"}', "\ud800" * n,
        '{"a":' * (n // 5), '"score":' * (n // 8), "{" * cap, '{"' * (cap // 2), '{"a":' * (cap // 5),
        '{"a": 1} ' * 40, "x" * (cap + 1), S(4).ljust(cap + 1))]
    ok = {"rank": (4, "clear"), "score": (4, "clear"), "verdict": REJECT}
    out.append(Case("huge input", S(4).ljust(cap), ok))  # exactly at the cap
    out.append(Case("huge input", "p" * (cap - 40) + S(4), ok))
    out.append(Case("huge input", '{"a": 1} ' * 31 + S(4), ok))  # 32 reads
    out.append(rejected_by_all("huge input", '{"a": 1} ' * 32 + S(4)))  # 33 reads
    return out


def unicode_digits() -> list[Case]:
    out = []
    for d in ("٤", "４", "𝟒", "⁴", "৪", "߄", "४", "4\u0664", "4\u200b", "\u22124", "4\u00a0"):
        out += [rejected_by_all("unicode digits", f'{{"score": "{d}", "justification": "x"}}'),
                rejected_by_all("unicode digits", f'{{"score": {d}, "justification": "x"}}'),
                rejected_by_all("unicode digits", f'{{"verdict": "Correct", "reason": "x", "score": "{d}"}}')]
    return out


def duplicate_keys() -> list[Case]:
    return [rejected_by_all("duplicate keys", t) for t in (
        '{"score": 4, "score": 4, "justification": "x"}',
        '{"score": 4, "score": 5, "justification": "x"}',
        '{"score": 4, "justification": "x", "justification": "y"}',
        '{"verdict": "Correct", "verdict": "Error", "reason": "x"}',
        '{"verdict": "Correct", "reason": "x", "reason": "x"}',
        '{"a": 1, "a": 2} ' + S(4), S(4) + ' {"a": {"b": 1, "b": 1}}',
        '{"verdict": "Correct", "reason": "x", "n": {"k": 1, "k": 2}}',
        '{"score": 4, "justification": "x", "sc\\u006fre": 5}')]


def two_objects() -> list[Case]:
    pairs = [(S(4), S(5)), (S(4), S(4, "other")), (S(4), S("5")), (S(4), S(4.5)), (S(4), '{"score": 4}'),
             (V(), V("Error")), (V(), V(reason="other")), (V(), V("correct", "fine ")),
             (S(4), S(4) + S(1)), ('{"score": 4}', '{"justification": "x"}')]
    out = []
    for a, b in pairs:
        for sep in (" ", "\n```json\n", " and also "):
            out.append(rejected_by_all("two objects", a + sep + b))
    out += [rejected_by_all("two objects", '{"result": {"score": 1}} ' + S(3)),
            rejected_by_all("two objects", '{"a": " {"score": 1} ", "b": 2} ' + S(3)),
            rejected_by_all("two objects", '{"a": "x {"score": 1}", oops} ' + S(3)),
            rejected_by_all("two objects", 'Format: {"score": <int>, "justification": "..."} ' + S(3)),
            rejected_by_all("two objects",
                            'Reply with {"verdict": "Correct" or "Error", "reason": "..."}: ' + V()),
            rejected_by_all("two objects", '{"note": "see", {"score": 3}} ' + S(3)),
            rejected_by_all("two objects", S(3) + ' {"score": 2, oops}')]
    return out


def truncated() -> list[Case]:
    out = []
    for full in (V(reason="a short reason"), S(4, "a short one"), '{"score": 10}',
                 '{"verdict": "Error", "reason": "esc \\" and \\\\ and \\u00e9"}'):
        for k in range(1, len(full)):
            out.append(rejected_by_all("truncated JSON", full[:k]))
            out.append(rejected_by_all("truncated JSON", "```json\n" + full[:k]))
        out.append(rejected_by_all("truncated JSON", full[1:]))
    return out


def extra_keys() -> list[Case]:
    return [rejected_by_all("extra keys", t) for t in (
        S(4, confidence=0.9), S(4, verdict="Correct"), V(score=4), V(extra=None), V(**{"": 1}),
        V(**{"Verdict": "Correct"}), S(4, **{"score ": 4}), S(4, nested={"a": [1, 2]}),
        '{"score": 4, "justification": "x", "\\u00e9": 1}', V(reason="x", reason2="y"))]


def long_strings() -> list[Case]:
    return [rejected_by_all("over-long strings", t) for t in (
        V(reason="r" * (REASON_MAX + 1)), V(reason="é" * (REASON_MAX + 1)),
        '{"verdict": "Correct", "reason": "' + "\\ud83d\\ude00" * (REASON_MAX + 1) + '"}',
        S(4, "j" * (JUST_MAX + 1)), S(4, "\n" * (JUST_MAX + 1)), V(reason=" " * (REASON_MAX + 1)))]


def wrong_types() -> list[Case]:
    out = []
    for raw in ("null", "true", "false", "4.5", "3.9999999999999999", "4.0000000000000001", "1e400",
                "-1e400", "1e999999999999999999", "1e-999999999999999999", '"4.0"', '"four"', '"4 4"',
                '""', '" "', "[4]", '{"v": 4}', "-1", "6", "11", "0.5", "04", "0x4", "+4", ".4", "4.",
                '"4\\u0000"', '"９"', '"1_0"', '"' + "9" * 5000 + '"', "9" * 5000, "1" + "0" * 5000):
        out.append(Case("null/bool/float/str scores", f'{{"score": {raw}, "justification": "x"}}',
                        {"verdict": REJECT, "rank": REJECT}))
    for raw in ("null", "true", "1", '["Correct"]', '{"v": "Correct"}', '"Maybe"', '""', '"Correct."',
                '"Corrects"', '"ＣＯＲＲＥＣＴ"', '"Correct\\u200b"', '"İrror"', '"Correct\\u0000"',
                '"C\\u006frrect"'):
        exp = ("Correct", "x") if raw == '"C\\u006frrect"' else REJECT  # an escape is the same text
        out.append(Case("verdict/reason types", f'{{"verdict": {raw}, "reason": "x"}}',
                        {"verdict": exp, "rank": REJECT, "score": REJECT}))
    for raw in ("null", "1", "[]", "{}", "true", '["x"]'):
        out.append(rejected_by_all("verdict/reason types", f'{{"verdict": "Correct", "reason": {raw}}}'))
        out.append(rejected_by_all("verdict/reason types", f'{{"score": 4, "justification": {raw}}}'))
    out += [rejected_by_all("verdict/reason types", t) for t in (
        '{"verdict": "Correct"}', '{"reason": "x"}', '{"justification": "x"}', '{"Score": 4}', "{}",
        '{"result": {"verdict": "Correct", "reason": "x"}}', "[4]", "4", "Correct", "", "   \n", "null")]
    return out


def control_and_surrogates() -> list[Case]:
    out = []
    for c in [chr(i) for i in range(0x20)]:
        out.append(rejected_by_all("control characters", V(reason="a")[:-2] + c + '"}'))
        out.append(rejected_by_all("control characters", '{"score": 4, "justification": "a' + c + '"}'))
    for s in ("\ud800", "\udfff", "\udc00x", "x\ud83d"):
        out.append(rejected_by_all("lone surrogates", '{"verdict": "Correct", "reason": "' + s + '"}'))
    for s in ("\\ud800", "\\udfff", "\\udc00x", "x\\ud83d", "\\ude00\\ud83d"):
        out.append(rejected_by_all("lone surrogates", '{"verdict": "Correct", "reason": "' + s + '"}'))
        out.append(rejected_by_all("lone surrogates", '{"score": 4, "justification": "' + s + '"}'))
    return out


def non_finite() -> list[Case]:
    out = []
    for lit in ("NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"):
        out += [rejected_by_all("NaN/Infinity", f'{{"score": {lit}, "justification": "x"}}'),
                rejected_by_all("NaN/Infinity", f'{{"verdict": "Correct", "reason": "x", "n": {lit}}}')]
        # NaN in any object is a hard failure; `{"a": nan}` is not JSON at all, hence prose
        out.append(Case("NaN/Infinity", f'{{"a": {lit}}} ' + S(4),
                        {"rank": REJECT} if lit[-1] in "Ny" else {"rank": (4, "clear")}))
    out.append(rejected_by_all("NaN/Infinity", S("NaN")))
    return out


_ALPHABET = list('{}[]":,\\ 0123456789.eE-+tfnul') + ["٤", "\ud800", "\x00", "\n", "é", "```"]


def mutations(n: int = 700) -> list[Case]:
    rng = random.Random(20260822)
    bases = [V(), V("Error", "x y"), S(4), S(1, "j"), '{"score": 10}', "```json\n" + V() + "\n```",
             "ok " + S(5, "fine") + " done", S(3) + " " + S(3), '{"a": [1, {"b": 2}]} ' + V()]
    out = []
    for _ in range(n):
        t = rng.choice(bases)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(t) + 1)
            op = rng.random()
            if op < 0.4:
                t = t[:i] + rng.choice(_ALPHABET) + t[i:]
            elif op < 0.7:
                t = t[:i] + t[i + 1:]
            elif op < 0.85:
                j = rng.randrange(len(t) + 1)
                a, b = min(i, j), max(i, j)
                t = t[:b] + t[a:b] + t[b:]
            else:
                t = t[:i] + rng.choice(bases) + t[i:]
        out.append(Case("random mutations", t))
    return out


def table() -> list[Case]:
    return (legit() + deep() + huge() + unicode_digits() + duplicate_keys() + two_objects()
            + truncated() + extra_keys() + long_strings() + wrong_types() + control_and_surrogates()
            + non_finite() + mutations())


def test_adversarial_table():
    cases = table()
    problems: list[str] = []
    tally: dict[str, Counter] = defaultdict(Counter)
    for c in cases:
        for kind, parse in PARSERS.items():
            try:
                got = parse(c.text)
            except ParseError:
                got = None
            except Exception as e:  # noqa: BLE001  the failure this test exists to catch
                problems.append(f"[{c.category}] {kind}: {type(e).__name__}: {e} on {c.text[:80]!r}")
                continue
            tally[c.category]["accepted" if got is not None else "rejected"] += 1
            want = c.expect.get(kind)
            if want == REJECT and got is not None:
                problems.append(f"[{c.category}] {kind} accepted {got!r} from {c.text[:80]!r}")
            elif isinstance(want, tuple) and got != want:
                problems.append(f"[{c.category}] {kind}: {got!r} != {want!r} for {c.text[:80]!r}")
            if got is not None and want is None:
                if len(c.text) > ORACLE_MAX:
                    problems.append(f"[{c.category}] {kind}: long accepted case without expectation")
                elif (o := oracle(c.text, kind)) != got:
                    problems.append(f"[{c.category}] {kind} accepted {got!r}, oracle {o!r}: {c.text!r}")
    print(f"\n{len(cases)} adversarial replies x {len(PARSERS)} parsers")
    for cat, t in tally.items():
        print(f"  {cat:28s} {sum(t.values()) // len(PARSERS):5d} cases  "
              f"accepted {t['accepted']:5d}  rejected {t['rejected']:5d}")
    assert len(cases) >= 500
    assert not problems, "\n".join(problems[:40])


def test_the_oracle_agrees_on_the_legit_cases():
    for c in legit():
        if len(c.text) > ORACLE_MAX:
            continue
        for kind, want in c.expect.items():
            if isinstance(want, tuple):
                assert oracle(c.text, kind) == want, (kind, c.text)


def worst_inputs(n: int) -> dict[str, str]:
    k = n // 40
    return {
        "{ x n": "{" * n,
        '{" x n/2': '{"' * (n // 2),
        "[ x n": "[" * n,
        '{"a": x n/5 (deep)': '{"a":' * (n // 5),
        "flat array of numbers": '{"a": [' + "1," * (n // 2 - 8) + "1]}",
        "array of small objects": '{"a": [' + '{"b":1},' * (n // 8 - 2) + "1]}",
        "unterminated string": '{"a": "' + "x" * (n - 8),
        "escapes": '{"a": "' + "\\u00e9" * (n // 6 - 2) + '"}',
        "31 long failed reads": ('{"a": [' + "1," * k + "x ") * 31,
        "31 objects then answer": '{"a": 1} ' * 31 + S(4).ljust(n - 31 * 9),
        "answer after prose": "a" * (n - 40) + S(4),
        "answer then spaces": S(4) + " " * (n - 40),
        "keys outside answers": S(4) + ' "score":' * ((n - 40) // 9),
        "long justification, extra key": '{"score": 4, "justification": "' + "j" * (n - 60) + '", "x": 1}',
        "backslashes": "\\" * n,
        "quotes": '"' * n,
        "lone surrogates": "\ud800" * n,
        "digit runs of 4300": ("9" * 4300 + " ") * (n // 4301),
        "an integer of 4300 digits": '{"score": ' + "9" * 4300 + "}" + " 1" * ((n - 4400) // 2),
        "digits": "1" * n,
    }


@pytest.mark.parametrize("n", [100_000, MAX_REPLY_CHARS])
def test_worst_case_parse_time(n):
    """Worst replies of 100 KB (over the cap: refused at once) and at the cap (fully scanned)."""
    times = {}
    for name, text in worst_inputs(n).items():
        text = text[:n]
        for kind, parse in PARSERS.items():
            best = float("inf")
            for _ in range(3):  # best of 3: the machine's noise is not the parser's cost
                t0 = time.perf_counter()
                try:
                    parse(text)
                except ParseError:
                    pass
                best = min(best, time.perf_counter() - t0)
            times[f"{name} ({kind})"] = best
    top = sorted(times.items(), key=lambda kv: -kv[1])[:4]
    print(f"\n{n} chars, worst parses: " + "; ".join(f"{k} {v * 1e3:.2f} ms" for k, v in top))
    assert top[0][1] < 0.050, top


def test_scan_is_one_pass():
    """Reads never overlap: a failed read resumes where it failed, a read object is skipped whole."""
    text = '{"a": 1, oops} {"b": {"c": 1}} {"d": "x {\\"e\\": 1}"} {"score": 4}'
    sc = scan(text)
    assert [o for _, _, o in sc.objects] == [{"b": {"c": 1}}, {"d": 'x {"e": 1}'}, {"score": 4}]
    spans = sorted([(s, e) for s, e, _ in sc.objects] + [(s, e) for s, e, _ in sc.failures])
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))


# --- the schema the judge loop checks, and the one sent to OpenAI/Azure ----------------


def test_judge_scores_checks_the_length_the_request_sent():
    long = json.dumps({"score": 3, "justification": "j" * 150})

    def request(item, attempt):
        return Request.chat(None, item, seed=attempt, sample=attempt,
                            schema=score_schema(RANK, 100 if item == "short" else 200))

    short, roomy = judge_scores(["short", "roomy"], request, fake_llm(lambda r: long), RANK, 2)
    assert short.value is None and "over maxLength 100" in short.errors[-1] and short.attempts == 2
    assert roomy.value == 3 and roomy.attempts == 1


def test_verify_checks_the_reason_length_it_sent():
    from reasonmed.method.verification import Params, verify_cots
    from tests.test_generate import q

    p = Params(model="judge", temperature=1.0, top_p=0.95, max_tokens=64, max_attempts=2,
               prompt="stages/prompts/verify.md", reason_max_chars=10)
    replies = iter([V(reason="r" * 11), V(reason="r" * 10)])
    [j] = verify_cots([(q(1), "cot", 7)], fake_llm(lambda r: next(replies)), p)
    assert (j.value, j.note, j.attempts) == ("Correct", "r" * 10, 2) and "maxLength 10" in j.errors[0]


def _walk(schema: dict):
    yield schema
    for sub in schema.get("properties", {}).values():
        yield from _walk(sub)
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"])
    for sub in schema.get("anyOf", []):
        yield from _walk(sub)


def test_strict_schema_is_the_openai_subset():
    from reasonmed.llm.backends.openai_api import STRICT_KEYWORDS, strict_schema

    for full in (verdict_schema(300), score_schema(RANK, 200), score_schema(SCORE, 50), {
            "type": "object", "title": "T", "properties": {
                "a": {"type": "string", "minLength": 2, "format": "uri", "default": "x"},
                "b": {"type": "array", "items": {"type": "object", "properties": {"c": {"type": "integer"}}},
                      "uniqueItems": True, "maxItems": 3}}}):
        before = json.dumps(full, sort_keys=True)
        strict = strict_schema(full)
        assert json.dumps(full, sort_keys=True) == before  # the full schema is left as it was
        for node in _walk(strict):
            assert set(node) <= STRICT_KEYWORDS, set(node) - STRICT_KEYWORDS
            if node.get("type") == "object":
                assert node["additionalProperties"] is False
                assert node["required"] == list(node["properties"])
    s = strict_schema(verdict_schema(300))
    assert s["properties"]["verdict"] == {"type": "string", "enum": ["Correct", "Error"]}
    assert s["properties"]["reason"] == {"type": "string", "description": "at most 300 characters"}


@pytest.mark.parametrize("options,stripped", [
    ({"base_url": "http://127.0.0.1:8000/v1"}, False),  # vLLM serve / SGLang: the full schema
    ({"base_url": "http://localhost:30000/v1"}, False),
    ({}, True),  # the SDK default: api.openai.com
    ({"base_url": "https://api.openai.com/v1"}, True),
    ({"base_url": "https://my-res.openai.azure.com/openai/v1/"}, True),
    ({"azure_endpoint": "https://my-res.openai.azure.com", "azure_api_version": "2024-10-21"}, True),
])
def test_response_format_sends_the_subset_to_openai_and_azure(options, stripped, monkeypatch):
    pytest.importorskip("openai")
    from reasonmed.core.params import ModelSpec, RunParams
    from reasonmed.llm.backends.openai_api import OpenAIBackend, strict_schema

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    b = OpenAIBackend(ModelSpec(backend="openai", model="m", options=options), RunParams(), {})
    full = verdict_schema(300)
    rf = b._kwargs(Request.chat(None, "x", schema=full))["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    assert rf["json_schema"]["schema"] == (strict_schema(full) if stripped else full)

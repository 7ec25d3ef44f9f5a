"""A labelled table of model outputs for the answer extractor (reasonmed/method/answers.py).

Each row: a class, a realistic model output, the question's options and the intended reading
(the option letter the output commits to, or None when it commits to none). Options come
from the shipped benchmark files (assets/benchmarks/: MedQA, MedMCQA, MMLU, PubMedQA),
picked by content so the table does not depend on file order, plus a few made-up sets
where a case needs them ("-5 mmHg" vs "5 mmHg"). Outputs imitate what chat, reasoning
(R1-style `<think>`) and HuatuoGPT-style (`## Thinking` / `## Final Response`) models write,
including the failure modes that fooled the earlier extractors.

The second part (more_rows) adds 326 rows for two shapes an earlier version of the reader
missed on outputs it had not seen, and for what must stay apart from them: the answer
first and an explanation after it (answer_first, answer_first_discussion: later remarks
about other options; answer_first_changed: a later explicit correction; opening_near_miss:
first lines that are no answer), option content restated in other words after a closed
reasoning block (content_final, content_final_then_other; content_near_miss: nested or
contrasted options; content_near_miss_none: two options, negated or hedged content), and
hedges, refusals and lists of differentials (hedge_more). The paraphrases are written by
hand (PARAPHRASES); the rows around them are built by seeded templates; every label is the
reading a careful reader takes, set by hand per template, never by running the reader.

    python -m tests.answers_table        # per-class table: strict and huatuo readings

tests/test_answers.py asserts strict's accuracy on it (>= 97 %, no invented letter: none
for an output labelled None, and never another letter than the label); the huatuo columns
are reported only (that scorer is optimistic by design).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reasonmed.method.answers import extract

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "assets" / "benchmarks"
YNM = {"A": "yes", "B": "no", "C": "maybe"}  # PubMedQA as the loader letters it


@dataclass(frozen=True)
class Row:
    cls: str
    text: str
    options: dict[str, str]
    label: str | None


# --- real option sets ------------------------------------------------------------------


@lru_cache(maxsize=None)
def _items(name: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Option sets of one shipped benchmark, in file order, as sorted (letter, text) pairs."""
    out = []
    for line in (BENCH / name / "test.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "options" in r and isinstance(r["options"], dict):
            opts = r["options"]
        elif "opa" in r:
            opts = dict(zip("ABCD", (r["opa"], r["opb"], r["opc"], r["opd"])))
        else:
            continue
        out.append(tuple(sorted((k, str(v)) for k, v in opts.items())))
    return tuple(out)


def pool(name: str, n: int, start: int = 0) -> list[dict[str, str]]:
    """n option sets of a benchmark with 4 options and short texts (a realistic spread)."""
    got = [dict(o) for o in _items(name) if len(o) == 4 and all(len(v) <= 90 for _, v in o)]
    return got[start:start + n]


def find(name: str, pred) -> dict[str, str]:
    """The first option set of a benchmark for which pred(options) holds."""
    for o in _items(name):
        if pred(dict(o)):
            return dict(o)
    raise LookupError(f"no {name} item matches")


def has(text: str):
    return lambda o: text in o.values()


def letter_of(opts: dict[str, str], text: str) -> str:
    return next(k for k, v in opts.items() if v == text)


def others(g: str, opts: dict[str, str]) -> list[str]:
    return [k for k in opts if k != g]


def why(opts: dict[str, str], g: str) -> str:
    """A paragraph of option-by-option reasoning that names every letter and text."""
    parts = []
    for k, v in opts.items():
        if k == g:
            parts.append(f"Option {k} ({v}) fits the key findings best.")
        else:
            parts.append(f"Option {k}, {v}, does not explain the whole picture.")
    return " ".join(parts)


# --- the table -------------------------------------------------------------------------


def rows() -> list[Row]:
    out: list[Row] = []

    def add(cls: str, text: str, options: dict[str, str], label: str | None) -> None:
        out.append(Row(cls, text, options, label))

    medqa, mmlu, medmcqa = pool("medqa", 40), pool("mmlu_medical", 40), pool("medmcqa", 40)
    mixed = [x for trio in zip(medqa, mmlu, medmcqa) for x in trio]

    # 1. plain explicit statements at the end of a chain of thought
    forms = ["The answer is {g}.", "Final answer: {g}", "Answer: {g}", "Therefore, the answer is {g}.",
             "So the correct answer is {g}: {t}.", "The final answer is {g}. {t}",
             "Final answer: {g}. {t}", "Hence the most likely answer is {g}.",
             "The answer to this question is {g}.", "Correct answer - {g}", "The answer would be {g}.",
             "The right answer is option {g}.", "In conclusion, the answer is {g}.",
             "So, the answer is {g} because it explains every finding."]
    for i, f in enumerate(forms):
        o = mixed[i]
        g = "ABCD"[(i * 3 + 1) % 4]
        add("explicit_statement", f"Let's think step by step. {why(o, g)}\n\n" + f.format(g=g, t=o[g]), o, g)

    # 2. <think> ... </think> then the answer; the reasoning floats other letters
    for i in range(14):
        o = mixed[i + 3]
        g, x = "ABCD"[i % 4], "ABCD"[(i + 2) % 4]
        think = (f"<think>\nThe patient's findings point to a few candidates. If the answer is {x}, "
                 f"we would expect {o[x]} to explain the history. Maybe the answer is {x}, but "
                 f"{o[g]} fits the timeline better. Let me check option {g} again.\n</think>\n\n")
        final = [f"The answer is {g}.", f"**Answer: {g}. {o[g]}**", f"{g}. {o[g]}",
                 f"Final answer: {g}", f"The correct answer is ({g}) {o[g]}.",
                 f"{why(o, g)}\n\nThe answer is {g}.", f"**{g}**"][i % 7]
        add("think_tags", think + final, o, g)

    # 3. HuatuoGPT-o1 format: ## Thinking / ## Final Response
    for i in range(14):
        o = mixed[i + 6]
        g, x = "ABCD"[(i + 1) % 4], "ABCD"[(i + 3) % 4]
        thinking = (f"## Thinking\n\nAlright, let's see. At first glance the answer is {x}, "
                    f"{o[x]}. Hmm, but that does not fit. Option {g}, {o[g]}, matches.\n\n")
        final = [f"The answer is {g}.", f"{g}. {o[g]}", f"**{g}. {o[g]}**",
                 f"The most appropriate choice is {g}: {o[g]}.", f"Answer: ({g})",
                 f"{why(o, g)} Therefore the answer is {g}.",
                 f"Considering everything, the final answer is **{g}**."][i % 7]
        add("huatuo_format", thinking + "## Final Response\n\n" + final, o, g)

    # 4. the final answer given as option text only, a letter inside the reasoning
    for i in range(14):
        o = mixed[i + 9]
        g, x = "ABCD"[(i + 2) % 4], "ABCD"[i % 4]
        t = o[g]
        final = [f"{t[0].upper() + t[1:]}", f"The answer is {t}", f"Final answer: {t}",
                 f"**{t}**", f"{t[0].upper() + t[1:]} is the best answer here, given the findings.",
                 f"The correct answer is {t.lower()}"][i % 6]
        if i % 2:
            text = f"<think>\nThe answer is {x}? No. Let me reconsider {o[x]}.\n</think>\n\n{final}"
        else:
            text = f"## Thinking\n\nThe answer is {x} at first sight.\n\n## Final Response\n\n{final}"
        add("final_option_text", text, o, g)

    # 5. bold
    for i, f in enumerate(["**Answer: {g}**", "The answer is **{g}**.", "**Final Answer:** {g}",
                           "**Final Answer: {g}. {t}**", "The correct answer is **{g}. {t}**",
                           "**Answer:** ({g}) {t}", "Therefore:\n\n**{g}**", "**The answer is {g}.**",
                           "**Correct answer: {g}**", "So the best option is **({g})**.",
                           "**Final answer**: **{g}**", "Answer: **{g}** ({t})"]):
        o = mixed[i + 12]
        g = "ABCD"[(i + 3) % 4]
        add("bold", f"{why(o, g)}\n\n" + f.format(g=g, t=o[g]), o, g)

    # 6. boxed
    for i, f in enumerate(["\\boxed{{{g}}}", "The final answer is $\\boxed{{{g}}}$.",
                           "$$\\boxed{{\\text{{{g}}}}}$$", "Answer: \\boxed{{{g}}}",
                           "\\boxed{{\\text{{{g}. {t}}}}}", "Thus the answer is \\(\\boxed{{{g}}}\\).",
                           "\\[\\boxed{{({g})}}\\]", "$\\boxed{{\\textbf{{{g}}}}}$",
                           "The correct option is \\boxed{{{g}}}", "\\boxed{{{t}}}"]):
        o = mixed[i + 15]
        g = "ABCD"[i % 4]
        add("boxed", f"{why(o, g)}\n\n" + f.format(g=g, t=o[g]), o, g)

    # 7. parenthesised / bracketed
    for i, f in enumerate(["The answer is ({g}).", "Answer: ({g}) {t}", "The correct answer is [{g}].",
                           "Final answer: ({g})", "The best answer is option ({g}).",
                           "So the answer is {g}) {t}", "Answer - ({g})", "The answer is ({g}) {t}.",
                           "Final answer: [{g}] {t}", "My answer: ({g})"]):
        o = mixed[i + 18]
        g = "ABCD"[(i + 1) % 4]
        add("parenthesised", f"{why(o, g)}\n\n" + f.format(g=g, t=o[g]), o, g)

    # 8. lowercase letters
    for i, f in enumerate(["the answer is {l}.", "answer: {l}", "final answer: ({l})", "the answer is ({l})",
                           "so the correct answer is {l}) {t}", "answer: {l}.", "final answer - {l}",
                           "the answer is {l}, because it fits best.", "correct answer: ({l}) {t}",
                           "the answer is option {l}"]):
        o = mixed[i + 21]
        g = "ABCD"[(i + 2) % 4]
        add("lowercase", f"looking at each choice: {why(o, g).lower()}\n" + f.format(l=g.lower(), t=o[g]),
            o, g)

    # 9. "X is the correct answer" and friends
    for i, f in enumerate(["{g} is the correct answer.", "Option {g} is correct.",
                           "Therefore, ({g}) is the best choice.", "Thus, {t} is the correct answer.",
                           "So {g} is the right answer.", "Hence, option {g} is the most likely answer.",
                           "**{g}** is correct.", "Overall, {g} is the answer.",
                           "After weighing everything, ({g}) {t} is the correct option.",
                           "The others are wrong: {g} is correct."]):
        o = mixed[i + 24]
        g = "ABCD"[(i + 3) % 4]
        x = others(g, o)[0]
        add("x_is_correct", f"{x} is incorrect because {o[x]} does not fit. " + f.format(g=g, t=o[g]), o, g)

    # 10. several letters discussed, one committed to
    for i in range(12):
        o = mixed[i + 27]
        g = "ABCD"[i % 4]
        lines = "\n".join(f"{k}. {v} - {'correct' if k == g else 'incorrect'}" for k, v in o.items())
        tail = [f"Final answer: {g}", f"The answer is {g}.", f"So the answer is {g}, {o[g]}."][i % 3]
        body = [f"Let's evaluate each option:\n{lines}\n\n{tail}",
                f"A, B, C and D all deserve a look. {why(o, g)} Options {', '.join(others(g, o))} "
                f"are ruled out.\n\n{tail}",
                f"Between {others(g, o)[0]} and {g}, {g} is more consistent; {others(g, o)[1]} is "
                f"unlikely.\n\n{tail}"][i % 3]
        add("several_letters", body, o, g)

    # 11. change of mind: the final statement counts
    for i, f in enumerate(["The answer is {x}. Wait, actually the answer is {g}.",
                           "Initially I thought the answer is {x}, {tx}. On second thought, the final "
                           "answer is {g}.",
                           "Answer: {x}\n\nHmm, no. Re-reading the stem, the answer is {g}.",
                           "The answer is {x}... but the timeline rules it out. Correction: the correct "
                           "answer is {g}.",
                           "Final answer: {x}\n\nActually, {tx} does not explain the labs. Final answer: {g}",
                           "I'd go with {x}. No wait, I choose {g}.",
                           "The answer is {x}.\n\nLet me double-check: {tg} explains everything, so "
                           "the answer is {g}.",
                           "\\boxed{{{x}}}\n\nOn reflection the answer is {g}.",
                           "<think>The answer is {x}.</think>\n\nThe answer is {x}. Hmm, I was wrong above: "
                           "the answer is {g}.",
                           "The answer is {x}. Wait, {x} is wrong; {g} is correct."]):
        o = mixed[i + 30]
        g, x = "ABCD"[(i + 1) % 4], "ABCD"[(i + 2) % 4]
        add("change_of_mind", f.format(g=g, x=x, tx=o[x], tg=o[g]), o, g)

    # 12. hedges between options: no answer
    for i, f in enumerate(["The answer is {x} or {y}.", "The answer is either {x} or {y}.",
                           "Final answer: {x}/{y}", "The correct answers are {x} and {y}.",
                           "The answer is between {x} and {y}; I can't be certain.",
                           "Answer: {x}, {y}", "The answer is {x} (or possibly {y}).",
                           "The answer is {x} and {y}.", "Final answer: {x} or {y}, depending on the labs.",
                           "The most likely answer is {x} or {y}.", "Answer: either ({x}) or ({y})",
                           "I would choose {x} or {y}.", "\\boxed{{{x}, {y}}}",
                           "The answer is {tx} or {ty}.", "Either {x} or {y} is correct."]):
        o = mixed[i + 33]
        x, y = "ABCD"[i % 4], "ABCD"[(i + 1) % 4]
        add("hedge", f"{why(o, x)}\n\n" + f.format(x=x, y=y, tx=o[x], ty=o[y]), o, None)

    # 13. looks like a hedge but commits: "C and D is wrong", "C, not D"
    for i, f in enumerate(["The answer is {g} and {x} is wrong.", "The answer is {g}, not {x}.",
                           "The answer is {g} (not {x}).", "The answer is not {x}; it is {g}.",
                           "Final answer: {g}, and {x} is a distractor.",
                           "The answer is {g}; {x} is incorrect.",
                           "The answer is not {x} but {g}.", "The answer is {g}, since {x} is ruled out.",
                           "Answer: {g}. {x} is tempting but wrong.",
                           "The answer is {g} and {x} can be excluded.",
                           "The answer isn't {x}. The answer is {g}.",
                           "The answer is {g}, rather than {x}."]):
        o = mixed[i + 36]
        g, x = "ABCD"[(i + 2) % 4], "ABCD"[(i + 3) % 4]
        add("hedge_lookalike", f"{why(o, g)}\n\n" + f.format(g=g, x=x), o, g)

    # 14. truncated (max tokens) after the answer was given
    for i in range(12):
        o = mixed[i + 39]
        g = "ABCD"[(i + 3) % 4]
        text = [f"The answer is {g}.\n\nExplanation: The patient presents with",
                f"<think>\nShort reasoning.\n</think>\n\nThe answer is {g}. {o[g]} is supported by the",
                f"## Thinking\n\nok\n\n## Final Response\n\nThe answer is {g}. Because the patient's",
                f"Final answer: {g}\n\nRationale: {why(o, g)[:60]}",
                f"**Answer: {g}**\n\nWhy not the others? {others(g, o)[0]} is",
                f"{why(o, g)} Therefore, the answer is {g}. To elaborate on option {others(g, o)[0]}"][i % 6]
        add("truncated_with_answer", text, o, g)

    # 15. truncated inside the reasoning: no answer, whatever the reasoning hypothesised
    for i in range(14):
        o = mixed[i + 42]
        x, y = "ABCD"[i % 4], "ABCD"[(i + 1) % 4]
        text = [f"<think>\nIf the answer is {x}, the patient would have {o[x]}. Maybe the answer is {y}, but",
                f"<think>\nThe answer is {x}. Hmm, let me verify. {why(o, x)} So far option {y} is",
                f"## Thinking\n\nThe answer is {x}? Looking at {o[y]}, the answer is {y}. But wait",
                f"<think>\nOkay. Final answer: {x}? No, let me keep thinking about {o[y]} and",
                f"<think>\n{why(o, x)} The correct answer is {x}. Hmm, but actually",
                f"## Thinking\n\n{x} is the correct answer... or is it? Considering {o[y]},",
                f"Let me think. {why(o, x)} I need to weigh {x} against {y} more carefully; the"][i % 7]
        add("truncated_no_answer", text, o, None)

    # 16. PubMedQA yes / no / maybe
    for text, lab in [
            ("## Thinking\n\nThe trial found a benefit.\n\n## Final Response\n\nYes. The data show a "
             "significant reduction in mortality.", "A"),
            ("## Thinking\n\nNo association.\n\n## Final Response\n\nNo, the study found no association.",
             "B"),
            ("<think>\nThe results are mixed; maybe.\n</think>\n\nMaybe. The evidence is inconclusive.",
             "C"),
            ("The abstract reports a clear effect. The answer is yes.", "A"),
            ("Final answer: no", "B"),
            ("Answer: (C) maybe", "C"),
            ("Based on the findings, the answer is A.", "A"),
            ("<think>\nThe answer is yes? The p-value was 0.3, so no.\n</think>\n\nNo.", "B"),
            ("## Thinking\n\nUnclear.\n\n## Final Response\n\nMaybe; the sample was too small to tell.",
             "C"),
            ("The correct answer is (B) no.", "B"),
            ("**Answer: yes**", "A"),
            ("Yes.", "A"),
            ("The study supports the hypothesis, so the answer is: Yes", "A"),
            ("<think>\nHmm.\n</think>\n\n**No.** The intervention did not improve outcomes.", "B"),
            ("The data are not conclusive. Final answer: maybe.", "C"),
            ("The evidence is weak. Yes or no? It is hard to say.", None),
            ("<think>\nThe authors conclude yes, maybe. Let me", None),
            ("The answer is yes or maybe, depending on the subgroup.", None)]:
        add("pubmedqa", text, YNM, lab)

    # 17. options that start or end with a one-letter word ("B cells", "T cells", "Vitamin A")
    bcell = find("medqa", lambda o: any(v.startswith(("B cell", "B-cell", "B lymph")) for v in o.values()))
    tcell = find("medqa", lambda o: any(v.startswith(("T cell", "T-cell", "T lymph")) for v in o.values()))
    xlink = find("medqa", has("X-linked recessive"))
    areduc = find("medqa", has("A reduction in diastolic filling time"))
    ahist = find("medqa", has("A history of stroke or venous thromboembolism"))
    hepa = find("medqa", has("Hepatitis A"))
    amphob = find("medqa", has("Amphotericin B"))
    vitk = find("medqa", has("Vitamin K"))
    mmla = find("mmlu_medical", lambda o: o.get("A", "").startswith("a ") and o.get("B", "").startswith("a "))
    made = {"A": "T cells", "B": "B cells", "C": "NK cells", "D": "Macrophages"}
    vits = {"A": "Vitamin C", "B": "Vitamin A", "C": "Vitamin D", "D": "Vitamin E"}
    bcell_text = next(v for v in bcell.values() if v.startswith(("B cell", "B-cell", "B lymph")))
    tcell_text = next(v for v in tcell.values() if v.startswith(("T cell", "T-cell", "T lymph")))
    for text, o, lab in [
            ("The answer is B cells.", made, "B"), ("Final answer: T cells", made, "A"),
            ("The answer is NK cells.", made, "C"),
            ("The answer is B cells, which make antibodies.", made, "B"),
            (f"The answer is {bcell_text}.", bcell, letter_of(bcell, bcell_text)),
            (f"Final answer: {tcell_text}", tcell, letter_of(tcell, tcell_text)),
            ("The answer is X-linked recessive.", xlink, letter_of(xlink, "X-linked recessive")),
            ("The answer is a reduction in diastolic filling time.", areduc,
             letter_of(areduc, "A reduction in diastolic filling time")),
            ("The answer is A reduction in diastolic filling time.", areduc,
             letter_of(areduc, "A reduction in diastolic filling time")),
            ("Answer: A history of stroke or venous thromboembolism", ahist,
             letter_of(ahist, "A history of stroke or venous thromboembolism")),
            ("The answer is Hepatitis A.", hepa, letter_of(hepa, "Hepatitis A")),
            ("The answer is Amphotericin B.", amphob, letter_of(amphob, "Amphotericin B")),
            ("The answer is Vitamin K.", vitk, letter_of(vitk, "Vitamin K")),
            ("The answer is Vitamin A.", vits, "B"), ("Vitamin C is the correct answer.", vits, "A"),
            ("The correct answer is Vitamin D, as it regulates calcium.", vits, "C"),
            (f"The answer is {mmla['B']}", mmla, "B"),
            ("The answer is Vitamin B12.", vits, None), ("Vitamin C is the answer? Not sure.", vits, None),
            ("The answer is T cells.", {"A": "Neutrophils", "B": "Eosinophils", "C": "Basophils",
                                        "D": "Mast cells"}, None),
            ("Final answer: B cells", {"A": "Neutrophils", "B": "Eosinophils", "C": "Basophils",
                                       "D": "Mast cells"}, None)]:
        add("letter_words", f"{why(o, 'A')}\n\n{text}", o, lab)

    # 18. negative numbers and signs
    neg10 = find("medmcqa", lambda o: o.get("A") == "-10")
    mv = find("medmcqa", has("-60mV"))
    tsc = find("medqa", has("T-score of -1.6"))
    temp = find("medmcqa", has("-2 to -4 degC"))
    mm = {"A": "5 mmHg", "B": "-5 mmHg", "C": "10 mmHg", "D": "-10 mmHg"}
    for text, o, lab in [
            ("The answer is -5 mmHg.", mm, "B"), ("The answer is 5 mmHg.", mm, "A"),
            ("Final answer: -10 mmHg", mm, "D"), ("The answer is \u22125 mmHg.", mm, "B"),
            ("The answer is B: -5 mmHg.", mm, "B"), ("The correct answer is 10 mmHg.", mm, "C"),
            ("The answer is -10.", neg10, "A"), ("The answer is 2.", neg10, "B"),
            ("The answer is -60 mV.", mv, letter_of(mv, "-60mV")),
            ("Final answer: +45 mV", mv, letter_of(mv, "+45 mV")),
            ("The answer is T-score of -1.6.", tsc, letter_of(tsc, "T-score of -1.6")),
            ("The answer is -2 to -4 degC.", temp, letter_of(temp, "-2 to -4 degC")),
            ("The answer is -7 mmHg.", mm, None)]:
        add("negative_numbers", f"Compute the value step by step.\n\n{text}", o, lab)

    # 19. the stem restated after "Answer:": "A" is an article there
    for i, f in enumerate(["Answer: A 45-year-old man with {t} presents with fever.",
                           "The answer is a 30-year-old woman who has {t}.",
                           "Answer: A patient with {t} would need further testing.",
                           "The answer is a bit unclear, but {g} seems most likely.",
                           "Answer: A 3-year-old boy is brought to the clinic.\n\nWhich of the following...",
                           "The answer is a combination of factors.",
                           "The answer is a matter of debate.",
                           "Answer: A 62-year-old woman comes to the emergency department.",
                           "The answer is a little tricky; {t} might fit."]):
        o = mixed[i + 45]
        g = "ABCD"[(i + 2) % 4]
        add("restated_stem", f.format(t=o[g].lower(), g=g), o, None)

    # 20. empty and whitespace-only outputs
    for text in ["", " ", "  ", "\n", "\n\n", "   \n  ", "\t", "</s>", " </s>", "<|im_end|>"]:
        add("empty", text, mixed[0], None)

    # 21. end-of-sequence tails
    for i, f in enumerate(["The answer is {g}.</s>", "Final answer: {g}</s></s>", "{g}</s>",
                           "The answer is {g}.<|im_end|>", "**Answer: {g}**<|eot_id|>",
                           "<think>hm</think>The answer is {g}.</s>", "Answer: ({g}) {t}</s>",
                           "The answer is {t}.</s>"]):
        o = mixed[i + 48]
        g = "ABCD"[(i + 1) % 4]
        add("eos_tail", f.format(g=g, t=o[g]), o, g)

    # 22. "My choice: C", "I'll go with C", "The correct option is C"
    for i, f in enumerate(["My choice: {g}", "I'll go with {g}.", "I choose option {g}.",
                           "The correct option is {g}.", "The best choice is {g}.", "Ans: {g}",
                           "My final answer: {g}", "I would pick {g}, {t}.", "I'd go with ({g}).",
                           "The correct choice is {g}) {t}", "<answer>{g}</answer>",
                           "My answer is {g}.", "I select {g}."]):
        o = mixed[i + 51]
        g = "ABCD"[(i + 3) % 4]
        add("other_phrasings", f"{why(o, g)}\n\n" + f.format(g=g, t=o[g]), o, g)

    # 23. discussion without a committed answer
    for i, f in enumerate(["{why}", "Option {x}", "{x} seems plausible, but {y} could also fit.",
                           "It could be {x}. It might also be {y}.", "The patient most likely has {tx}.",
                           "I am not sure which option is correct.",
                           "A. {ta}\nB. {tb}\nC. {tc}\nD. {td}",
                           "Which is the answer: {x} or {y}?", "Let me think about {x} and {y}.",
                           "{x} is incorrect. {y} is incorrect.", "Is the answer {x}?",
                           "The question asks about {tx}; several options are plausible."]):
        o = mixed[i + 54]
        x, y = "ABCD"[i % 4], "ABCD"[(i + 2) % 4]
        # An output that is only "Option B" answers B (labelled None in the first version of
        # this table; a careful reader takes the letter, as in answer_first's "Option B" lines).
        add("no_statement", f.format(why=why(o, x), x=x, y=y, tx=o[x].lower(), ta=o["A"], tb=o["B"],
                                     tc=o["C"], td=o["D"]), o, x if f == "Option {x}" else None)

    # 24. hypotheses and questions outside a reasoning block
    for i, f in enumerate(["If the answer is {x}, then {tx} should be present.",
                           "Maybe the answer is {x}, but I'm not sure.", "So the answer is {x}?",
                           "Suppose the answer is {x}; then the labs would differ.",
                           "We need to check whether the answer is {x}.",
                           "Perhaps the correct answer is {x}, although {y} is possible.",
                           "Could the answer be {x}? Possibly.", "If {x} is correct, we would see {tx}.",
                           "Assuming the answer is {x}, the mechanism is unclear."]):
        o = mixed[i + 57]
        x, y = "ABCD"[(i + 1) % 4], "ABCD"[(i + 3) % 4]
        add("hypothetical", f.format(x=x, y=y, tx=o[x].lower()), o, None)

    # 25. a letter outside the options, or nothing listed
    for i, f in enumerate(["The answer is E.", "Final answer: F", "The answer is none of the above.",
                           "Answer: E. None of these", "The correct answer is (E).",
                           "The answer is not listed among the options."]):
        o = mixed[i + 60]
        add("not_an_option", f"{why(o, 'A')}\n\n{f}", o, None)

    # 26. other reasoning markers; the reply is only an answer
    for i, f in enumerate(["Thinking it through...\n</think>\n\nThe answer is {g}.",
                           "<|begin_of_thought|>\nThe answer is {x}?\n<|end_of_thought|>\n\n"
                           "<|begin_of_solution|>\nThe answer is {g}.\n<|end_of_solution|>",
                           "<thinking>\nmaybe {x}\n</thinking>\n{g}. {t}", "{g}", "({g})", "{g}.",
                           "{g}. {t}", "{T}", "**Final Answer**\n\n{g}", "## Final Answer\n\n{g}: {t}",
                           "<reasoning>the answer is {x}</reasoning>\n**{g}**"]):
        o = mixed[i + 63]
        g, x = "ABCD"[(i + 2) % 4], "ABCD"[i % 4]
        t = o[g]
        add("reasoning_markers_and_bare", f.format(g=g, x=x, t=t, T=t[0].upper() + t[1:]), o, g)

    # 27.-29. free-form outputs as chat, reasoning and HuatuoGPT-style models write them
    iron = find("medqa", has("Serum B12 level"))
    ivc = find("mmlu_medical", lambda o: o.get("A") == "Inferior vena cava")
    heme = find("medmcqa", has("Pyruvate kinase"))
    bone = find("medmcqa", has("Metastatic carcinoma"))
    fungal = find("medqa", has("Inhibition of beta-glucan synthase"))
    muscle = find("medmcqa", has("Tropomyosin"))
    cm, qs, rl = "chat_markdown", "qualified_statement", "reasoning_long"
    for cls, text, o, lab in [
            (cm, "**Correct Answer: B. Serum B12 level**\n\n**Explanation:**\n- **A. Serum iron "
             "level**: not indicated, the MCV is high.\n- **C. Transferrin**: irrelevant.\n- **D. No tests "
             "required**: incorrect.", iron, "B"),
            (cm, "The correct answer is: B) Serum B12 level\n\nExplanation: A) Serum iron level "
             "is used for microcytic anemia. C) Transferrin ... D) No tests required is wrong.", iron, "B"),
            (cm, "### Answer\nB. Serum B12 level\n\n### Rationale\nMacrocytosis with "
             "neuropathy suggests B12 deficiency.", iron, "B"),
            (cm, "Answer: B\n\nThe other options:\nA - wrong (microcytic workup)\nC - wrong\n"
             "D - wrong, a test is needed.", iron, "B"),
            (cm, "The most likely diagnosis requires checking B12.\n\n**Answer:** Option B", iron,
             "B"),
            (cm, "Based on the above, I would select option B.", iron, "B"),
            (cm, "Option B: Serum B12 level is the correct choice.", iron, "B"),
            (cm, "ANSWER: D", iron, "D"),
            (cm, "No tests required is the correct answer, as the anemia is physiological.",
             iron, "D"),
            (cm, "The answer is D. No tests required.", iron, "D"),
            (cm, "Final Answer: The final answer is C. I hope it is correct.", heme, "C"),
            (cm, "The final answer is: $\\boxed{C}$", heme, "C"),
            (cm, "Catalase (C) is the enzyme that lacks a heme group? No - catalase has heme. "
             "Pyruvate kinase has none.\n\n**Final answer: D. Pyruvate kinase**", heme, "D"),
            (cm, "The correct answer is **D**, pyruvate kinase, which has no heme.", heme, "D"),
            (cm, "Of the options listed, only pyruvate kinase lacks heme. Hence option D.", heme,
             None),
            (cm, "I believe the answer is C, Metastatic carcinoma.", bone, "C"),
            (cm, "Answer: C (metastatic carcinoma). Osteosarcoma (A) and Ewing's sarcoma (B) "
             "occur in the young; D is also possible but less common.", bone, "C"),
            (cm, "**Metastatic carcinoma** is the most common malignant bone tumour in adults.\n\n"
             "So the answer is **C**.", bone, "C"),
            (cm, "Metastatic carcinoma or multiple myeloma? In a 70-year-old, both are common.",
             bone, None),
            (cm, "The answer is C or D; more information is needed.", bone, None),
            (qs, "The most likely diagnosis is C. Metastatic carcinoma.", bone, "C"),
            (qs, "The most appropriate next step would be (B) Serum B12 level.", iron, "B"),
            (qs, "Given these findings, the best next step is to check serum B12, which "
             "corresponds to option B.", iron, "B"),
            (qs, "The mechanism of action of caspofungin is inhibition of beta-glucan "
             "synthase, which is option D.", fungal, "D"),
            (qs, "The most likely mechanism is D: inhibition of beta-glucan synthase.",
             fungal, "D"),
            (qs, "The correct statement is A.", fungal, "A"),
            (qs, "The vessel most likely injured is the inferior vena cava (A).", ivc, "A"),
            (qs, "The best explanation is that the drug inhibits ergosterol synthesis.",
             fungal, None),
            (rl, "<think>\nOkay, so the question is about a patient on caspofungin. Caspofungin "
             "is an echinocandin. Echinocandins inhibit beta-glucan synthase. Option C, "
             "14-alpha-demethylase, is the azoles. Option A is amphotericin. So the answer should be D. "
             "Let me double check: yes.\n</think>\n\nCaspofungin inhibits beta-glucan synthase.\n\n"
             "**Answer: D**", fungal, "D"),
            (rl, "<think>\nAzoles -> C. Polyenes -> A. Griseofulvin -> B. Echinocandins -> D.\n"
             "</think>\n\nD", fungal, "D"),
            (rl, "<think>\nThe drug is fluconazole, an azole, which inhibits 14-alpha-demethylase"
             ".\n</think>\n\nInhibition of 14-alpha-demethylase.", fungal, "C"),
            (rl, "<think>\nThe drug is fluconazole... the answer is C.\n</think>\n\nThe drug "
             "works by inhibiting the fungal enzyme that makes ergosterol.", fungal, None),
            (rl, "<think>\nHmm, the patient has a filling defect... the answer is A? Or D? Let me "
             "think about the anatomy of the inferior vena cava and the pulmonary veins", ivc, None),
            (rl, "## Thinking\n\nThe thin-walled vessel near the liver is the IVC. The answer "
             "is A.\n\n## Final Response\n\nThe inferior vena cava is the structure most likely injured "
             "(A).", ivc, "A"),
            (rl, "## Thinking\n\nLet me recall: troponin binds calcium.\n\n## Final Response"
             "\n\nTroponin is the calcium-binding protein here, so the answer is C.", muscle, "C"),
            (rl, "## Thinking\n\nThe calcium sensor is troponin C.\n\n## Final Response\n\n"
             "Troponin", muscle, "C"),
            (rl, "## Thinking\n\nMyosin has ATPase activity. The answer is B.\n\n## Final "
             "Response\n\n", muscle, None),
            (rl, "## Thinking\n\nActin forms thin filaments; tropomyosin covers binding sites."
             "\n\n## Final Response\n\nTropomyosin blocks the myosin-binding sites on actin at rest. The "
             "answer is D.", muscle, "D"),
            (rl, "Alright, let's think about this. Actin, myosin... the motor protein is myosin."
             "\n\nThe answer is B.", muscle, "B"),
            (rl, "<think>\nTroponin C binds calcium; troponin I inhibits; tropomyosin blocks. "
             "Answer: C\n</think>\n\nThe answer is C.", muscle, "C"),
            (rl, "<think>\nThe question asks for the thin-filament regulator that binds Ca2+: "
             "troponin. So C.", muscle, None),
            ]:
        add(cls, text, o, lab)

    nota = find("medmcqa", lambda o: o.get("D", "").lower() == "none of the above")
    allab = find("medmcqa", lambda o: o.get("D", "").lower() == "all of the above")
    for text, o, lab in [
            ("The answer is none of the above.", nota, "D"),
            ("The answer is all of the above (D).", allab, "D"),
            ("The answer is A and B.", heme, None), ("The answer is A, B, and C.", heme, None),
            ("Correct Answer: (A)", heme, "A"), ("The final answer is (A) myoglobin.", heme, "A"),
            ("THE ANSWER IS C", heme, "C"), ("Final answer:\nC", heme, "C"),
            ("Final answer: **(C) Catalase**", heme, "C"), ("The answer is: \n\n**C. Catalase**", heme, "C"),
            ("The answer is B.\n\nQuestion: A 45-year-old man presents with fatigue.\nA. Myoglobin\n"
             "B. Cytochrome\nC. Catalase\nD. Pyruvate kinase", heme, "B"),
            ("The answer is B.\n\nQuestion 2: Which enzyme lacks heme? The answer is", heme, "B"),
            ("Answer: B\nConfidence: 80%", heme, "B"), ("So I'd say B.", heme, "B"),
            ("## Thinking\n\nThe trial met its endpoint.\n\n## Final Response\n\nBased on the study, yes, "
             "the intervention reduced readmissions.", YNM, "A"),
            ("Answer: B, C", heme, None), ("The answer is B.\nB", heme, "B"), ("**B**", heme, "B"),
            ("The correct answer is B because A is not a heme protein.", heme, "B"),
            ("The answer is D, which is Pyruvate kinase", heme, "D"),
            ("The answer is (D) Pyruvate kinase. (C) Catalase is incorrect.", heme, "D"),
            ("The answer is not A.", heme, None),
            ("The answer cannot be A, so it must be D.", heme, "D"), ("Therefore: D", heme, "D"),
            ("D is the best answer among the choices.", heme, "D"), ("Both B and C are correct.", heme, None),
            ("None of the options is correct.", heme, None),
            ("Answer: B\n\nWait, that's wrong. Answer: C", heme, "C"), ("The answer is B! ", heme, "B"),
            ("The answer is 'B'.", heme, "B"), ("The answer is \u201cB\u201d.", heme, "B"),
            ("The answer is B.The enzyme contains heme.", heme, "B")]:
        add("free_form_misc", text, o, lab)

    # 30. outputs that name letters without answering: a letter here would be invented
    for text in ["The answer is unclear. Option B is often chosen but is wrong.", "B is not correct.",
                 "It is not A, not B, not C.", "The answer depends on whether B or C applies.",
                 "A is correct if the patient is pregnant; otherwise B is correct.",
                 "The answer is B if we assume a normal MCV, otherwise C.",
                 "Vitamin B is the correct answer.", "Answer: I don't know.", "Answer: It depends.",
                 "Answer the following question: which of A, B, C or D is right?",
                 "Please answer with A, B, C, or D.", "The answer is as follows:",
                 "Answer:\n\nA. Myoglobin\nB. Cytochrome\nC. Catalase\nD. Pyruvate kinase",
                 "Explanation: A. Myoglobin contains heme; B. Cytochrome contains heme.",
                 "Hepatitis B is the correct answer only in endemic areas? No.",
                 "Options A and D are both plausible.", "The best answer is not obvious here.",
                 "The correct answer could be A.", "The answer might be C.", "Answer: see above."]:
        add("adversarial_none", text, heme, None)

    return out + more_rows()


# --- answer-first outputs, option content without its letter, and their near-misses -------
# Two shapes the reader once missed on outputs it had not seen, and what must stay apart
# from them: (1) the answer stated first, an explanation after it that discusses the other
# options; (2) after a closed reasoning block, a final sentence stating one option's content
# in slightly changed words. Labels are what a careful reader takes from each output.

# (benchmark, the answer's option text as listed, a light paraphrase, kind): the paraphrase
# changes word order, number, articles or a low-content word; kind picks fitting sentences
# (dx: a diagnosis or condition; tx: a treatment, test or action; mech: a finding/mechanism).
PARAPHRASES = [
    ("medqa", "Increased ventricular wall stiffness", "increased stiffness of the ventricular walls", "mech"),
    ("medqa", "Aldosterone excess", "an excess of aldosterone", "cause"),
    ("medqa", "Cardiac contusion", "a cardiac contusion from the steering wheel", "dx"),
    ("medqa", "Myxedema coma", "myxedema coma precipitated by the infection", "dx"),
    ("medqa", "QT prolongation", "prolongation of the QT interval", "mech"),
    ("medqa", "Frontotemporal dementia", "dementia of the frontotemporal type", "dx"),
    ("medqa", "Chlamydia trachomatis infection", "an infection with Chlamydia trachomatis", "dx"),
    ("medqa", "Rotator cuff injury", "an injury of the rotator cuff", "dx"),
    ("medqa", "Neuron-specific enolase", "elevated neuron specific enolase", "mech"),
    ("medqa", "Decreased ALA synthesis", "reduced synthesis of ALA", "mech"),
    ("medqa", "Schizoid personality disorder", "a schizoid personality", "dx"),
    ("medqa", "Sickle cell disease", "sickle cell disease (HbSS)", "dx"),
    ("medqa", "Trichomonal vaginitis", "a trichomonal vaginitis", "dx"),
    ("medqa", "Chronic obstructive bronchitis", "chronic bronchitis with an obstructive pattern", "dx"),
    ("medqa", "Breastfeeding jaundice", "jaundice related to breastfeeding", "dx"),
    ("medqa", "Papillary necrosis", "renal papillary necrosis", "dx"),
    ("medqa", "Hair tourniquet syndrome", "a hair tourniquet around the toe", "dx"),
    ("medqa", "Spinal stenosis", "lumbar spinal stenosis", "dx"),
    ("medqa", "Thick and thin blood smear", "thick and thin blood smears", "tx"),
    ("medqa", "Neural tube defect", "a defect of the neural tube", "dx"),
    ("medqa", "Mismatch repair", "DNA mismatch repair", "mech"),
    ("medqa", "Alcohol use disorder", "chronic alcohol use", "cause"),
    ("medqa", "Elevated serum creatine kinase", "an increased serum creatine kinase", "mech"),
    ("medqa", "Acute calculous cholecystitis",
     "acute calculous cholecystitis from a stone in the cystic duct",
     "dx"),
    ("medqa", "Generalized anxiety disorder", "generalized anxiety", "dx"),
    ("medqa", "Varicella", "varicella (chickenpox)", "dx"),
    ("medqa", "Germ cells", "a germ cell", "mech"),
    ("medqa", "Secondary hyperparathyroidism", "hyperparathyroidism secondary to chronic kidney disease",
     "dx"),
    ("medqa", "Amoxicillin-clavulanic acid", "amoxicillin with clavulanic acid", "tx"),
    ("medqa", "Atropine and pralidoxime", "pralidoxime plus atropine", "tx"),
    ("medqa", "IV fluids and monitoring", "intravenous fluids and monitoring", "tx"),
    ("medqa", "Vagal stimulation", "vagal nerve stimulation", "mech"),
    ("medqa", "Muscarinic antagonist", "a muscarinic antagonist such as ipratropium", "tx"),
    ("medqa", "Surgical resection", "surgical resection alone", "tx"),
    ("medqa", "Mutation of DNA gyrase", "a mutation in DNA gyrase", "mech"),
    ("medqa", "Release of prostaglandins", "prostaglandin release", "cause"),
    ("medqa", "Needle decompression", "immediate needle decompression", "tx"),
    ("medqa", "Fluid restriction", "restriction of fluids", "tx"),
    ("medqa", "Bone marrow biopsy", "a biopsy of the bone marrow", "tx"),
    ("medqa", "Biopsy of the mass", "a biopsy of this mass", "tx"),
    # heavier rewordings (a different word form): a careful reader still reads them
    ("medqa", "Urethral hypermobility", "hypermobility of the urethra", "dx"),
    ("medqa", "Inhibition of beta-tubulin polymerization", "inhibiting the polymerization of beta-tubulin",
     "mech"),
]

# Sentences that state the content as the answer, per kind ({p}: the paraphrase, {P}: capitalised).
CONTENT_SENTENCES = {
    "dx": ["This patient most likely has {p}.", "The most likely diagnosis is {p}.",
           "These findings are most consistent with {p}.",
           "{P} is the most likely explanation for this presentation.",
           "The clinical picture points to {p}.", "In summary, this is a case of {p}.",
           "Her presentation is best explained by {p}.", "**{P}**", "{P}.", "Final answer: {p}"],
    "tx": ["The most appropriate next step is {p}.", "The best next step in management is {p}.",
           "This patient should be managed with {p}.", "{P} is the best choice here.", "**{P}**", "{P}.",
           "The answer is {p}.", "The appropriate next step is {p}."],
    "mech": ["The underlying mechanism is {p}.", "This is explained by {p}.", "The key abnormality is {p}.",
             "{P} is responsible for these findings.", "**{P}**", "{P}.", "The answer is {p}."],
    "cause": ["The most likely cause is {p}.", "This was most likely caused by {p}.",
              "{P} is the most likely predisposing factor.", "The underlying cause is {p}.", "**{P}**",
              "{P}."],
}

BLOCKS = [("<think>\n{r}\n</think>\n\n", ""), ("## Thinking\n\n{r}\n\n## Final Response\n\n", ""),
          ("<thinking>\n{r}\n</thinking>\n", ""), ("{r}\n</think>\n\n", ""),
          ("<|begin_of_thought|>\n{r}\n<|end_of_thought|>\n\n<|begin_of_solution|>\n",
           "\n<|end_of_solution|>")]


def cap(s: str) -> str:
    return s[0].upper() + s[1:]


def reasoning(o: dict[str, str], g: str, x: str) -> str:
    return (f"Let me weigh the options. If the answer were {x}, {o[x]} would need a different history. "
            f"Option {g}, {o[g]}, fits better, but let me double-check {x} once more. Okay.")


def content_rows(add) -> None:
    """Shape (2): option content, lightly reworded, as the final answer after a closed block."""
    for i, (bench, text, para, kind) in enumerate(PARAPHRASES):
        o = find(bench, has(text))
        g = letter_of(o, text)
        x = others(g, o)[i % 3]
        opener, closer = BLOCKS[i % len(BLOCKS)]
        sents = CONTENT_SENTENCES[kind]
        for j in range(2):
            s = sents[(i + j * 3) % len(sents)].format(p=para, P=cap(para))
            k = (i + j) % 3
            sep = " " if s.endswith(".") else "\n\n"
            tail = ["", f"{sep}The history and the findings support this; {o[x]} would not explain them.",
                    "\n\nThe other options do not account for the whole picture."][k]
            cls = "content_final_then_other" if k == 1 else "content_final"
            add(cls, opener.format(r=reasoning(o, g, x)) + s + tail + closer, o, g)


def content_near_miss_rows(add) -> None:
    """Option content that does not name one answer: two options, negated, hedged, a base that
    two options share -- and the look-alikes that do name one (a longer option, "rather than")."""
    cases = [  # (benchmark, an option text present, final sentence, label text or None)
        ("medqa", "Secondary hyperparathyroidism", "This patient most likely has hyperparathyroidism.", None),
        ("medqa", "Acute calculous cholecystitis",
         "The most likely cause of her pain is acute cholecystitis.",
         None),
        ("medqa", "Breastfeeding jaundice", "The most likely diagnosis is neonatal jaundice.", None),
        ("medqa", "Tension pneumothorax", "These findings are most consistent with a pneumothorax.", None),
        ("medqa", "Mismatch repair", "The process impaired is a form of excision repair.", None),
        ("medqa", "Sickle cell disease", "This child most likely has sickle cell trait.",
         "Sickle cell trait"),
        ("medqa", "Amoxicillin-clavulanic acid", "The best next step is amoxicillin.", "Amoxicillin"),
        ("medqa", "Amoxicillin-clavulanic acid", "The best next step is amoxicillin plus clavulanic acid.",
         "Amoxicillin-clavulanic acid"),
        ("medqa", "Surgical resection", "The necessary treatment is chemotherapy and radiation.",
         "Chemotherapy and radiation"),
        ("medqa", "Primary hyperparathyroidism",
         "This is primary hyperparathyroidism rather than a secondary "
         "form.", "Primary hyperparathyroidism"),
        ("medqa", "Cardiac contusion", "This patient most likely has a cardiac contusion rather than a "
         "pulmonary contusion.", "Cardiac contusion"),
        ("medqa", "Frontotemporal dementia",
         "The findings fit frontotemporal dementia, not Alzheimer dementia.",
         "Frontotemporal dementia"),
    ]
    for i, (bench, present, sent, lab) in enumerate(cases):
        o = find(bench, has(present))
        opener, closer = BLOCKS[i % len(BLOCKS)]
        label = None if lab is None else letter_of(o, lab)
        add("content_near_miss", opener.format(r=reasoning(o, "A", "B")) + sent + closer, o, label)
    # two options restated, negated or hedged: no answer
    forms = ["Either {p} or {q}.", "The differential includes {p} and {q}.",
             "Both {p} and {q} fit these findings.",
             "It is not {p}.", "{P} is unlikely here.", "I am not sure; perhaps {p}.",
             "The findings could reflect {p}.",
             "It might be {p}, but {q} is also possible.", "We can rule out {p}.",
             "{P} or {q}, depending on further tests.", "Not sure: {p}? {q}?",
             "Options to consider: {p}, {q}.",
             "I cannot decide between {p} and {q}.", "The question is whether the answer is {p}."]
    for i, f in enumerate(forms * 2):
        bench, text, para, _ = PARAPHRASES[(i * 5) % len(PARAPHRASES)]
        o = find(bench, has(text))
        g = letter_of(o, text)
        q = o[others(g, o)[i % 3]].lower()
        opener, closer = BLOCKS[(i + 1) % len(BLOCKS)]
        add("content_near_miss_none", opener.format(r=reasoning(o, g, others(g, o)[0])) +
            f.format(p=para, P=cap(para), q=q) + closer, o, None)


EXPLAIN = [
    "Explanation: {tg} accounts for all of the findings. Option {x} ({tx}) is incorrect because it does not "
    "explain the fever. Option E is incorrect because it refers to a different condition.",
    "Explanation:\n- {x}. {tx}: incorrect, it usually presents differently.\n- {y}. {ty}: incorrect.\n"
    "- {z}. {tz}: incorrect, not supported by the labs.",
    "Why not the others?\n{x}) {tx} would require a different history.\n{y}) {ty} is seen in younger "
    "patients.\n{z}) {tz} does not fit the timeline.",
    "Rationale: the key clue is the time course. {tx} (option {x}) is a common distractor here.",
    "The other options are less likely: {x} and {y} do not account for the findings, and {z} is a "
    "distractor.",
    "**Explanation:** {tg} is supported by the history and the labs.\n\n**Incorrect options:**\n"
    "- **{x}** - {tx} is not associated with this picture.\n- **{y}** - {ty} is ruled out by the exam.",
    "Explanation: option {x} is incorrect because {tx} causes a different pattern, and option {z} is "
    "incorrect because {tz} is rare at this age.",
    "",
]
# Discussion after the answer that names another option in a statement-like sentence.
DISCUSS = [
    "Explanation: in a child, the most likely diagnosis would be {x}. In this adult, {tg} fits.",
    "Explanation: {tx} (option {x}) is the best treatment for the chronic phase, not for this acute "
    "presentation.",
    "Note: option {x} is correct for patients with a different history, which this patient does not have.",
    "Explanation: the most common cause of this picture in general is {tx}, but the findings here differ.",
    "Explanation: in a younger patient the most appropriate choice would be {x}; here it is not.",
    "Option {x} would be the answer if the labs were normal. They are not.",
    "Rationale: many candidates pick option {x} ({tx}), but that is a trap. {y} is also tempting.",
    "Explanation: {tx}, which is option {x}, is classically tested, but it does not fit here.",
    "The best initial test in a stable patient is {tx} ({x}), but this patient needs the answer above.",
    "Explanation: {x} is the best choice for prevention, not for acute management.",
]
FIRST_LINES = ["**{g}**", "{g}. {tg}", "**{g}. {tg}**", "({g}) {tg}", "{g}) {tg}", "Option {g}",
               "**Answer: {g}**",
               "{l}. {tg}", "**({g})**", "{g}", "{g} - {tg}", "**Option {g}: {tg}**", "{g}: {tg}",
               "**{g})** {tg}",
               "Option {g} - {tg}", "The correct answer is **{g}**.", "[{g}] {tg}", "({g})", "{g}. {tg}.",
               "**{g}** {tg}", "Answer: {g}", "{l})", "The answer is {g}.", "**{g}: {tg}**"]


def answer_first_rows(add) -> None:
    """Shape (1): the answer first, an explanation after it."""
    trios = zip(pool("medqa", 50, 40), pool("mmlu_medical", 50, 40), pool("medmcqa", 50, 40))
    sets = clean([x for trio in trios for x in trio])
    five = [dict(o, E=sets[i + 60]["A"]) for i, o in enumerate(sets[:12])]  # five-option items
    for i in range(72):
        o = five[i % 12] if i % 6 == 5 else sets[i]
        g = "ABCDE"[(i * 3 + 2) % len(o)]
        x, y, z = others(g, o)[:3]
        first = FIRST_LINES[i % len(FIRST_LINES)]
        body = EXPLAIN[(i // 3) % len(EXPLAIN)]
        fill = dict(g=g, l=g.lower(), tg=o[g], x=x, y=y, z=z, tx=o[x], ty=o[y], tz=o[z])
        text = first.format(**fill) + ("\n\n" + body.format(**fill) if body else "")
        if i % 4 == 3:
            text = "<think>\n" + reasoning(o, g, x) + "\n</think>\n\n" + text
        add("answer_first", text, o, g)
    for i in range(40):
        o = sets[i + 72]
        g = "ABCD"[(i + 1) % 4]
        x, y, z = others(g, o)[:3]
        fill = dict(g=g, l=g.lower(), tg=o[g], x=x, y=y, z=z, tx=o[x], ty=o[y], tz=o[z])
        first = FIRST_LINES[(i * 5) % len(FIRST_LINES)]
        text = first.format(**fill) + "\n\n" + DISCUSS[i % len(DISCUSS)].format(**fill)
        if i % 3 == 2:
            text = "## Thinking\n\n" + reasoning(o, g, x) + "\n\n## Final Response\n\n" + text
        add("answer_first_discussion", text, o, g)
    changed = ["**{x}**\n\nWait, I misread the question. The correct answer is {g}.",
               "Answer: {x}\n\nCorrection: the answer is {g}.",
               "{x}. {tx}\n\nOn reflection, the final answer is {g}.",
               "**{x}**\n\nActually, {tg} fits better, so I choose {g}.",
               "({x})\n\nHmm, no: {tx} does not explain the labs. Final answer: ({g})",
               "{x}\n\nLet me reconsider. The answer is {g}."]
    for i, f in enumerate(changed * 2):
        o = sets[i + 100]
        g, x = "ABCD"[i % 4], "ABCD"[(i + 1) % 4]
        add("answer_first_changed", f.format(g=g, x=x, tx=o[x], tg=o[g]), o, g)


def opening_near_miss_rows(add) -> None:
    """A first line that is no answer: the options restated, a verdict against an option, a hedge,
    the stem; whatever follows names no answer either."""
    forms = ["A. {ta}\nB. {tb}\nC. {tc}\nD. {td}\n\nThe question asks about the most likely cause.",
             "{x}. {tx} - incorrect, because it presents differently.\n{y}. {ty} - incorrect as well.",
             "{x} is incorrect because {tx} does not explain the fever.",
             "<think>\nhmm\n</think>\n\n{x} is incorrect.",
             "A 45-year-old man presents with fever. {tx} and {ty} are both possible.",
             "**{x} or {y}**\n\nExplanation: both fit part of the picture.",
             "{x}?\n\nLet me think again about {ty}.",
             "Option {x}: {tx}. This is unlikely because of the age.",
             "**Option {x}** - ruled out.\n**Option {y}** - ruled out.",
             "(a) {ta}, (b) {tb}, (c) {tc}, (d) {td}: let us look at each.",
             "<think>\nok\n</think>\n\nOption {x} ({tx}) is wrong, and option {y} is wrong too.",
             "{x}, {y}\n\nBoth could explain the findings.",
             "{x}. {tx}: not likely.\n\nThe history points elsewhere.",
             "**{x}**: incorrect. **{y}**: incorrect.",
             "<think>\nshort\n</think>\n\n{tx}? {ty}? Hard to say without imaging."]
    for i, f in enumerate(forms * 2):
        o = mixed_sets()[i + 10]
        x, y = "ABCD"[i % 4], "ABCD"[(i + 2) % 4]
        add("opening_near_miss", f.format(x=x, y=y, tx=o[x], ty=o[y], ta=o["A"], tb=o["B"], tc=o["C"],
                                          td=o["D"]), o, None)


def hedge_more_rows(add) -> None:
    """Hedges, refusals and lists of differentials, plain and after a closed block: no answer."""
    forms = ["It could be {x} or {y}.", "I am not sure; perhaps {x}.", "Not {x}.",
             "{x} is wrong, {y} is wrong.",
             "The differential includes {x} ({tx}), {y} ({ty}) and {z} ({tz}).",
             "I'm sorry, but I can't choose an answer to this question without more clinical information.",
             "As an AI, I cannot diagnose patients. Please consult a physician.", "**{x} or {y}**",
             "Answer: {x} or {y}", "Possibly {x}.", "Likely {x}, though {y} cannot be excluded.", "{x}?",
             "Either {x} or {y}; more information is needed.", "Options {x} and {y} both seem reasonable.",
             "The answer is probably not {x}.", "Neither {x} nor {y} fits well, and {z} is also unlikely.",
             "Hmm, {x}... or maybe {y}.", "{x}/{y}", "I would lean towards {x}, but I am not confident.",
             "A is wrong, B is wrong, C is wrong.",
             "The correct answer cannot be determined from the options.",
             "Not {x}, not {y}.", "{tx} or {ty}.", "I don't know."]
    sets = mixed_sets()
    for i, f in enumerate(forms):
        for j in range(2):
            o = sets[30 + 2 * i + j]
            x, y, z = "ABCD"[(i + j) % 4], "ABCD"[(i + j + 1) % 4], "ABCD"[(i + j + 3) % 4]
            s = f.format(x=x, y=y, z=z, tx=o[x], ty=o[y], tz=o[z])
            text = s if j == 0 else "<think>\n" + reasoning(o, x, y) + "\n</think>\n\n" + s
            add("hedge_more", text, o, None)


def mixed_sets() -> list[dict[str, str]]:
    trios = zip(pool("medqa", 60, 200), pool("mmlu_medical", 60, 200), pool("medmcqa", 60, 200))
    return clean([x for trio in trios for x in trio])


def clean(sets: list[dict[str, str]]) -> list[dict[str, str]]:
    """Option sets with distinct texts of two characters or more (no "Not Recalled" twice, no "A")."""
    return [o for o in sets if len(set(o.values())) == len(o) and all(len(v.strip()) > 1 for v in o.values())]


# --- hand-written outputs -----------------------------------------------------------------
# Written one by one while this version of the reader was built: HAND_DEV guided it (its
# misses were looked at and some fixed); HAND_LATER was written after, to check it (one
# reader change followed: a rejected letter tag opening a region is no answer). Outputs a
# careful reader could take two ways were left out.
HAND_OPTIONS = {
    'p1_O': {'A': 'Gout', 'B': 'Asthma', 'C': 'Cystitis', 'D': 'Community-acquired pneumonia'},
    'p1_P': {
        'A': 'Acute pancreatitis',
        'B': 'Chronic pancreatitis',
        'C': 'Acute cholecystitis',
        'D': 'Peptic ulcer disease',
    },
    'p1_T': {
        'A': 'Start intravenous antibiotics',
        'B': 'Obtain a chest x-ray',
        'C': 'Discharge with oral antibiotics',
        'D': 'Admit to the intensive care unit',
    },
    'p2_O': {'A': 'Gout', 'B': 'Asthma', 'C': 'Cystitis', 'D': 'Community-acquired pneumonia'},
    'p2_M': {
        'A': 'Increased pH, decreased pCO2',
        'B': 'Decreased pH, increased pCO2',
        'C': 'Normal pH, normal pCO2',
        'D': 'Decreased pH, decreased pCO2',
    },
    'p2_N': {'A': 'Naloxone', 'B': 'Naltrexone', 'C': 'Flumazenil', 'D': 'Fomepizole'},
    'p3_H': {
        'A': 'Hyperthyroidism',
        'B': 'Hypothyroidism',
        'C': 'Cushing syndrome',
        'D': 'Addison disease',
        'E': 'Pheochromocytoma',
    },
    'p3_R': {
        'A': 'Administer intravenous fluids',
        'B': 'Perform an emergency laparotomy',
        'C': 'Obtain a CT scan of the abdomen',
        'D': 'Start broad-spectrum antibiotics',
    },
    'p3_K': {
        'A': 'Inhibition of cell wall synthesis',
        'B': 'Inhibition of protein synthesis at the 30S subunit',
        'C': 'Inhibition of DNA gyrase',
        'D': 'Inhibition of folate synthesis',
    },
    'p4_YNM': {'A': 'yes', 'B': 'no', 'C': 'maybe'},
    'p4_V': {
        'A': 'Vitamin B12 deficiency',
        'B': 'Folate deficiency',
        'C': 'Iron deficiency anemia',
        'D': 'Anemia of chronic disease',
    },
    'p4_S': {
        'A': 'Staphylococcus aureus',
        'B': 'Streptococcus pneumoniae',
        'C': 'Haemophilus influenzae',
        'D': 'Pseudomonas aeruginosa',
    },
    'p4_L': {
        'A': 'Left anterior descending artery',
        'B': 'Left circumflex artery',
        'C': 'Right coronary artery',
        'D': 'Posterior descending artery',
    },
    'p4_M': {'A': 'Metformin', 'B': 'Insulin glargine', 'C': 'Glipizide', 'D': 'Sitagliptin'},
}
HAND_DEV = [
    ('B. Asthma is unlikely here; the fever suggests infection.', 'p1_O', None),
    ('A patient with gout would be expected to have joint pain.', 'p1_O', None),
    ('C. difficile infection is a common complication.', 'p1_O', None),
    ('**D**\n\nHmm, actually, the most likely diagnosis is asthma.', 'p1_O', 'B'),
    ('**D**\n\nThe patient does not have asthma.', 'p1_O', 'D'),
    ('Answer: D\n\nAsthma is the most common cause of wheeze in children.', 'p1_O', 'D'),
    ('<think>x</think>\n\nThe patient has a history of asthma and presents with fever.', 'p1_O', None),
    ('<think>x</think>\n\nAsthma and gout are both unlikely; this is community-acquired pneumonia.',
     'p1_O', 'D'),
    ('<think>x</think>\n\nThis is most likely pancreatitis.', 'p1_P', None),
    ('<think>x</think>\n\nThe lipase is elevated, which indicates pancreatitis that is acute.', 'p1_P', 'A'),
    ('<think>x</think>\n\nThe patient has acute pancreatitis, not chronic pancreatitis.', 'p1_P', 'A'),
    ('<think>x</think>\n\nChronic pancreatitis would present with steatorrhea; this patient has acute '
     'pancreatitis.', 'p1_P', 'A'),
    ('<think>x</think>\n\nThe best next step is to start antibiotics intravenously.', 'p1_T', 'A'),
    ('<think>x</think>\n\nThe patient should be admitted to the ICU.', 'p1_T', None),
    ('<think>x</think>\n\nWe should obtain a chest x-ray before starting antibiotics.', 'p1_T', 'B'),
    ('The most likely diagnosis is not pneumonia.', 'p1_O', None),
    ('The most common cause of cystitis is E. coli.', 'p1_O', None),
    ("I think it's B, but I'm not sure.", 'p1_O', None),
    ('B\n', 'p1_O', 'B'),
    ('(B) or (C)\n', 'p1_O', None),
    ('**B.** Asthma - this is the answer.', 'p1_O', 'B'),
    ('A. Gout\n\nExplanation: Gout presents with monoarthritis.', 'p1_O', 'A'),
    ('A. Gout\nExplanation: D is incorrect.', 'p1_O', 'A'),
    ('Option A: gout does not explain the fever.', 'p1_O', None),
    ('A: Not the answer. B: Not the answer. C: Correct.', 'p1_O', None),
    ('C: Correct.', 'p1_O', 'C'),
    ('A) Gout - unlikely\nB) Asthma - unlikely\nC) Cystitis - unlikely\nD) Community-acquired pneumonia - '
     'correct', 'p1_O', None),
    ('**Final answer: D**\n\nExplanation: option B would be correct if there were wheezing.', 'p1_O', 'D'),
    ('D.\n\nOption B is the correct answer in children.', 'p1_O', 'D'),
    ('<think>x</think>\n\n**Gout**\n\nWait, no. The answer is C.', 'p1_O', 'C'),
    ('<think>x</think>\n\nNot asthma. Gout is also wrong.', 'p1_O', None),
    ("<think>x</think>\n\nIt's not gout.", 'p1_O', None),
    ('<think>x</think>\n\nPneumonia acquired in the community.', 'p1_O', 'D'),
    ('<think>x</think>\n\nPneumonia.', 'p1_O', None),
    ('<think>x</think>\n\nThe symptoms point to pneumonia or perhaps asthma.', 'p1_O', None),
    ('<think>x</think>\n\nHe has a cough.', 'p1_O', None),
    ('<think>x</think>\n\nIf the patient had asthma, we would hear wheezing.', 'p1_O', None),
    ('<think>x</think>\n\nAlthough asthma is common, the findings are most consistent with '
     'community-acquired pneumonia.', 'p1_O', 'D'),
    ("Let's think. The patient most likely has asthma. Wait, the fever and consolidation suggest "
     'pneumonia. So the answer is D.', 'p1_O', 'D'),
    ('Final Answer: The final answer is $\\boxed{D}$. Option B is incorrect.', 'p1_O', 'D'),
    ('In summary, B (asthma) is the most likely diagnosis.', 'p1_O', 'B'),
    ('A 30-year-old man. B is incorrect. C is incorrect.', 'p1_O', None),
    ('a. gout\nb. asthma\nc. cystitis\nd. pneumonia\n\nLet me think.', 'p1_O', None),
    ('I. Introduction\nThe patient presents...', 'p1_O', None),
    ('<think>x</think>\n\nI would choose pneumonia acquired in the community.', 'p1_O', 'D'),
    ('<think>x</think>\n\nA diagnosis of asthma cannot be made without spirometry.', 'p1_O', None),
    ('<think>x</think>\n\nThe likely diagnosis is either asthma or COPD.', 'p1_O', None),
    ("<think>x</think>\n\nThe patient's presentation is most consistent with **community-acquired "
     'pneumonia**.\n\n**Key points:**\n- Fever and productive cough\n- Consolidation on X-ray\n\n**Why not '
     'the others:**\n- **Asthma**: no wheeze\n- **Gout**: no joint findings\n- **Cystitis**: no urinary '
     'symptoms', 'p2_O', 'D'),
    ('<think>x</think>\n\n**Analysis of options:**\n- **A. Gout**: unlikely.\n- **B. Asthma**: would cause '
     'wheeze.\n- **C. Cystitis**: no urinary symptoms.\n- **D. Community-acquired pneumonia**: fits all '
     'findings.', 'p2_O', 'D'),
    ('<think>x</think>\n\n**Analysis of options:**\n- **Asthma**: would cause wheeze.\n- **Gout**: '
     'plausible.\n- **Community-acquired pneumonia**: fits.', 'p2_O', None),
    ('<think>x</think>\n\nThe arterial blood gas shows a decreased pH with an increased pCO2, consistent '
     'with respiratory acidosis.', 'p2_M', 'B'),
    ('<think>x</think>\n\nThe pH is decreased and the pCO2 is decreased.', 'p2_M', None),
    ('<think>x</think>\n\nThe antidote is naloxone, not naltrexone.', 'p2_N', 'A'),
    ('<think>x</think>\n\nNaltrexone is used for maintenance, but the emergency antidote is naloxone.',
     'p2_N', 'A'),
    ('<think>x</think>\n\nNaloxone would reverse the opioid effect, but it is not indicated here; '
     'flumazenil is the antidote for benzodiazepines.', 'p2_N', None),
    ('<think>x</think>\n\nGiven the findings, the patient needs flumazenil.', 'p2_N', 'C'),
    ('<think>x</think>\n\nThe patient needs to avoid naloxone.', 'p2_N', None),
    ('<think>x</think>\n\nFomepizole is indicated for ethylene glycol toxicity. Naloxone is indicated for '
     'opioid overdose.', 'p2_N', None),
    ('Naloxone. The patient has opioid toxicity; naltrexone is long-acting.', 'p2_N', 'A'),
    ('Naloxone would be given for opioid overdose. Here the answer is C.', 'p2_N', 'C'),
    ('**Naloxone**\n\nNaltrexone is not used acutely.', 'p2_N', 'A'),
    ('Answer: **A. Naloxone**\n\nWhy not B? Naltrexone is the best choice for long-term maintenance.',
     'p2_N', 'A'),
    ('A. Naloxone\n\nB is the correct answer for maintenance therapy.', 'p2_N', 'A'),
    ('<think>The answer is A.</think>\n\nB', 'p2_N', 'B'),
    ('<think>x</think>\n\nThe patient most likely has asthma. However, the fever suggests pneumonia, so '
     'the final answer is D.', 'p2_O', 'D'),
    ('<think>x</think>\n\nThis patient has asthma.\n\nAnswer: D', 'p2_O', 'D'),
    ('<think>x</think>\n\nThe correct choice is community acquired pneumonia.', 'p2_O', 'D'),
    ('<think>x</think>\n\nAnswer: pneumonia (community-acquired)', 'p2_O', 'D'),
    ('<think>x</think>\n\nThe diagnosis: pneumonia.', 'p2_O', None),
    ('The answer is community-acquired pneumonia or gout.', 'p2_O', None),
    ('The most likely diagnosis is pneumonia, community-acquired.', 'p2_O', 'D'),
    ('The most likely diagnosis is a patient with gout who has pneumonia.', 'p2_O', None),
    ('So the answer is: pneumonia acquired in the community rather than asthma.', 'p2_O', 'D'),
    ('Answer: Community-acquired pneumonia (D), not asthma (B).', 'p2_O', 'D'),
    ('D\n\nExplanation: asthma is the most likely diagnosis in children with wheeze; this adult has fever.',
     'p2_O', 'D'),
    ('**D**\n\nI initially thought B, but the fever rules it out.', 'p2_O', 'D'),
    ('**D**\n\nWait, re-reading, the answer is B.', 'p2_O', 'B'),
    ('D. community acquired pneumonia\nB. asthma', 'p2_O', None),
    ('Option D is correct.\n\nOption B is correct in children.', 'p2_O', 'D'),
    ("I'm not sure. D?", 'p2_O', None),
    ('D) Community-acquired pneumonia?', 'p2_O', None),
    ('My best guess would be D, but I am not confident.', 'p2_O', None),
    ('The answer is likely D.', 'p2_O', 'D'),
    ('<think>\nok\n</think>\n\nI cannot determine the answer. It is either B or D.', 'p2_O', None),
]
HAND_LATER = [
    ("**E. Pheochromocytoma**\n\nThis patient's episodic headaches, palpitations, and diaphoresis with "
     'paroxysmal hypertension are classic for pheochromocytoma.\n\n- **A. Hyperthyroidism**: would cause '
     'persistent, not episodic, symptoms.\n- **C. Cushing syndrome**: presents with central obesity and '
     'striae.', 'p3_H', 'E'),
    ('E\n\nExplanation: The triad of headache, sweating and tachycardia suggests a catecholamine-secreting '
     'tumor. Option A is incorrect because thyroid function is normal.', 'p3_H', 'E'),
    ('(E) Pheochromocytoma. The episodic nature of the symptoms is key; hyperthyroidism (A) is the most '
     'common cause of palpitations overall but does not cause paroxysms.', 'p3_H', 'E'),
    ('Answer: E) Pheochromocytoma\nRationale: ...', 'p3_H', 'E'),
    ('**Correct answer: E**\n\nHyperthyroidism is the best answer for a patient with weight loss and heat '
     'intolerance, which this patient lacks.', 'p3_H', 'E'),
    ('e) pheochromocytoma', 'p3_H', 'E'),
    ('The answer is E.\n\nOption D would be correct if the patient were hypotensive.', 'p3_H', 'E'),
    ('E. Pheochromocytoma\n\nNote: Addison disease is the most likely diagnosis when hypotension and '
     'hyperpigmentation are present.', 'p3_H', 'E'),
    ('D. Addison disease - incorrect\nE. Pheochromocytoma - correct', 'p3_H', None),
    ('A or E?\n\nBoth can cause palpitations.', 'p3_H', None),
    ('A. Hyperthyroidism: unlikely given normal TSH.\nB. Hypothyroidism: unlikely.\nE. Pheochromocytoma: '
     'most likely.', 'p3_H', None),
    ('**Option E**', 'p3_H', 'E'),
    ('E is the answer.', 'p3_H', 'E'),
    ('E is incorrect; the answer is A.', 'p3_H', 'A'),
    ('<think>\nEpisodic HTN... pheo.\n</think>\n\nThe most likely diagnosis is a pheochromocytoma (adrenal '
     'medulla tumor).', 'p3_H', 'E'),
    ("<think>\n...\n</think>\n\nThis patient's findings are most consistent with **pheochromocytoma**.",
     'p3_H', 'E'),
    ('<think>\n...\n</think>\n\nThyroid disease is unlikely given the normal TSH; the paroxysmal pattern '
     'suggests a catecholamine-secreting tumor.', 'p3_H', None),
    ('<think>\n...\n</think>\n\nGiven the hemodynamic instability and free air, the patient requires an '
     'emergency laparotomy.', 'p3_R', 'B'),
    ('<think>\n...\n</think>\n\nThe next step is emergency laparotomy.', 'p3_R', 'B'),
    ('<think>\n...\n</think>\n\nThe best next step is to give IV fluids and then perform an emergency '
     'laparotomy.', 'p3_R', None),
    ('<think>\n...\n</think>\n\nThe patient should undergo an emergency laparotomy rather than a CT scan.',
     'p3_R', 'B'),
    ('<think>\n...\n</think>\n\nA CT scan of the abdomen should be obtained first, unless the patient is '
     'unstable.', 'p3_R', None),
    ('<think>\n...\n</think>\n\nTetracyclines work by inhibiting protein synthesis at the 30S ribosomal '
     'subunit.', 'p3_K', 'B'),
    ('<think>\n...\n</think>\n\nThe mechanism is inhibition of protein synthesis at the 30S subunit.',
     'p3_K', 'B'),
    ('<think>\n...\n</think>\n\nThe mechanism involves inhibition of synthesis.', 'p3_K', None),
    ('<think>\n...\n</think>\n\nThe drug inhibits DNA gyrase, not cell wall synthesis.', 'p3_K', 'C'),
    ('<think>\n...\n</think>\n\nMechanism: inhibition of the 30S subunit and protein synthesis.',
     'p3_K', 'B'),
    ('## Thinking\n\n...\n\n## Final Response\n\nThe mechanism of action is the inhibition of folate '
     'synthesis by blocking dihydropteroate synthase.', 'p3_K', 'D'),
    ('## Thinking\n\n...\n\n## Final Response\n\nBoth inhibition of folate synthesis and inhibition of DNA '
     'gyrase are plausible here.', 'p3_K', None),
    ('## Thinking\n\n...\n\n## Final Response\n\nIt is most likely Cushing syndrome, though Addison '
     'disease should be excluded.', 'p3_H', None),
    ('## Thinking\n\n...\n\n## Final Response\n\nHypothyroidism.', 'p3_H', 'B'),
    ('## Thinking\n\n...\n\n## Final Response\n\nNot hyperthyroidism.', 'p3_H', None),
    ('## Thinking\n\n...\n\n## Final Response\n\nThe patient does not have Cushing syndrome; she has '
     'Addison disease.', 'p3_H', 'D'),
    ("Let's analyze. Palpitations could suggest hyperthyroidism, but TSH is normal. The episodic "
     'hypertension points to pheochromocytoma. Therefore, the answer is E.', 'p3_H', 'E'),
    ('Palpitations could suggest hyperthyroidism. The most likely diagnosis is pheochromocytoma.',
     'p3_H', 'E'),
    ('The most likely diagnosis is either hyperthyroidism or pheochromocytoma.', 'p3_H', None),
    ('Hyperthyroidism is the most likely diagnosis if TSH is low.', 'p3_H', None),
    ('I think the answer might be E.', 'p3_H', None),
    ('Answer: None of the above.', 'p3_H', None),
    ('The answer: Pheochromocytoma (E).', 'p3_H', 'E'),
    ("So, I'm going with E.", 'p3_H', 'E'),
    ('Final answer: the patient has a catecholamine-secreting tumor.', 'p3_H', None),
    ('The answer is the adrenal medulla tumor known as pheochromocytoma.', 'p3_H', 'E'),
    ('A. Hyperthyroidism\n\nWait, no — TSH is normal. The answer is E.', 'p3_H', 'E'),
    ('<think>\nMCV 112, neuro signs...\n</think>\n\nThe combination of macrocytic anemia and neurological '
     'symptoms points to **vitamin B12 deficiency**.', 'p4_V', 'A'),
    ('<think>\n...\n</think>\n\nThis is a macrocytic anemia, so either B12 or folate deficiency; the neuro '
     'signs favor B12.', 'p4_V', None),
    ('<think>\n...\n</think>\n\nThe patient has iron deficiency, as shown by the low ferritin.', 'p4_V', 'C'),
    ('<think>\n...\n</think>\n\nLow ferritin rules out anemia of chronic disease. The answer is iron '
     'deficiency anemia.', 'p4_V', 'C'),
    ('<think>\n...\n</think>\n\nAnemia of chronic disease is less likely than iron deficiency anemia here.',
     'p4_V', None),
    ('<think>\n...\n</think>\n\nDeficiency of folate.', 'p4_V', 'B'),
    ('<think>\n...\n</think>\n\nB12 deficiency', 'p4_V', 'A'),
    ('A. Vitamin B12 deficiency\n\nThe neurologic findings (paresthesias, ataxia) are not explained by '
     'folate deficiency (B).', 'p4_V', 'A'),
    ('**A**\n\nFolate deficiency (B) is the most common cause of macrocytic anemia in alcoholics, but it '
     'does not cause neurologic deficits.', 'p4_V', 'A'),
    ('Option A.\n\nReasoning: ...', 'p4_V', 'A'),
    ('Answer - A\n\nB is wrong because...', 'p4_V', 'A'),
    ('A — Vitamin B12 deficiency', 'p4_V', 'A'),
    ('Choice C: Iron deficiency anemia is incorrect because ferritin is high.', 'p4_V', None),
    ('<think>\ncommunity pneumonia\n</think>\n\nThe most common organism is Streptococcus pneumoniae.',
     'p4_S', 'B'),
    ('<think>\n...\n</think>\n\nIn a cystic fibrosis patient, Pseudomonas aeruginosa is the most likely '
     'pathogen, although Staphylococcus aureus is common in childhood.', 'p4_S', 'D'),
    ('<think>\n...\n</think>\n\nThe organism is likely S. aureus or H. influenzae.', 'p4_S', None),
    ('<think>\n...\n</think>\n\nPneumococcus.', 'p4_S', None),
    ('<think>\n...\n</think>\n\nThe Gram-positive diplococci indicate Streptococcus pneumoniae infection.',
     'p4_S', 'B'),
    ('The causative agent is Staphylococcus aureus.', 'p4_S', 'A'),
    ('<think>\n...\n</think>\n\nAn inferior MI implicates the right coronary artery in most patients.',
     'p4_L', 'C'),
    ('<think>\n...\n</think>\n\nThe occluded vessel is the left circumflex artery, not the LAD.',
     'p4_L', 'B'),
    ('<think>\n...\n</think>\n\nThe lesion is in the circumflex branch of the left coronary artery.',
     'p4_L', 'B'),
    ('<think>\n...\n</think>\n\nThe artery involved is the posterior descending artery, which arises from '
     'the right coronary artery in right-dominant circulation.', 'p4_L', 'D'),
    ('<think>\n...\n</think>\n\nMetformin is first-line, but this patient has renal failure, so insulin '
     'glargine is preferred.', 'p4_M', 'B'),
    ('<think>\n...\n</think>\n\nThe best treatment is metformin.', 'p4_M', 'A'),
    ('<think>\n...\n</think>\n\nStart metformin.', 'p4_M', 'A'),
    ('<think>\n...\n</think>\n\nMetformin should be avoided; the next step is insulin glargine.',
     'p4_M', 'B'),
    ('<think>\n...\n</think>\n\nGlipizide can cause hypoglycemia.', 'p4_M', None),
    ('<think>\n...\n</think>\n\nSitagliptin would be reasonable, as would metformin.', 'p4_M', None),
    ('**Metformin**\n\nIt is the first-line agent.', 'p4_M', 'A'),
    ('Metformin\n\nSitagliptin is an alternative.', 'p4_M', 'A'),
    ('The patient should be started on insulin glargine.', 'p4_M', 'B'),
    ('## Thinking\n\n...\n\n## Final Response\n\nYes, the intervention improved survival.', 'p4_YNM', 'A'),
    ('## Thinking\n\n...\n\n## Final Response\n\nThe data suggest yes.', 'p4_YNM', 'A'),
    ('## Thinking\n\n...\n\n## Final Response\n\nIt is unclear; the answer may be yes or no depending on '
     'the subgroup.', 'p4_YNM', None),
    ('## Thinking\n\n...\n\n## Final Response\n\nThe results do not support a benefit, so no.',
     'p4_YNM', 'B'),
    ('## Thinking\n\n...\n\n## Final Response\n\nMaybe.', 'p4_YNM', 'C'),
    ('<think>\n...\n</think>\n\nI cannot provide a definitive answer.', 'p4_V', None),
    ('<think>\n...\n</think>\n\nThe answer is not folate deficiency.', 'p4_V', None),
    ('<think>\n...\n</think>\n\nNeither folate deficiency nor anemia of chronic disease explains the '
     'findings.', 'p4_V', None),
    ('<think>\n...\n</think>\n\nThe differential is B12 vs folate deficiency; check methylmalonic acid.',
     'p4_V', None),
    ('<think>\n...\n</think>\n\nD. Anemia of chronic disease? No. C. Iron deficiency anemia.', 'p4_V', 'C'),
    ('<think>\n...\n</think>\n\n1. Vitamin B12 deficiency\n2. Folate deficiency', 'p4_V', None),
]

# Written after the reader was settled and read by it once before any change: 30 of 39
# right, 7 no answer, 2 letters invented ("I think this is achalasia, but I'm not certain.",
# "A thiazide or a calcium channel blocker would be reasonable."); both were then fixed.
HAND_OPTIONS |= {
    'p5_G': {'A': 'Gastroesophageal reflux disease', 'B': 'Peptic ulcer disease',
             'C': 'Gastric adenocarcinoma', 'D': 'Achalasia'},
    'p5_T': {'A': 'Thiazide diuretic', 'B': 'ACE inhibitor', 'C': 'Calcium channel blocker',
             'D': 'Beta blocker'},
    'p5_N': {'A': 'Ulnar nerve', 'B': 'Median nerve', 'C': 'Radial nerve', 'D': 'Axillary nerve'},
    'p5_Y': {'A': 'yes', 'B': 'no', 'C': 'maybe'},
}
HAND_UNSEEN = [
    ("**D. Achalasia**\n\nBarium swallow shows a bird's-beak appearance. GERD (A) would not cause "
     'dysphagia to both solids and liquids.', 'p5_G', 'D'),
    ('D\n\nRationale: Dysphagia to solids and liquids from the onset suggests a motility disorder.',
     'p5_G', 'D'),
    ('Answer: (D)\n\nA is the most common esophageal disorder overall.', 'p5_G', 'D'),
    ('Option D - Achalasia\nOption C - less likely', 'p5_G', 'D'),
    ('The answer is D. Achalasia.', 'p5_G', 'D'),
    ('D) achalasia', 'p5_G', 'D'),
    ('A. GERD\nB. PUD\nC. Gastric cancer\nD. Achalasia\n\nThe correct answer is D.', 'p5_G', 'D'),
    ('Gastric adenocarcinoma can present with pseudoachalasia, but the young age makes achalasia more '
     'likely.', 'p5_G', None),
    ("<think>\n...\n</think>\n\nThe bird's-beak sign on barium swallow is diagnostic of achalasia.",
     'p5_G', 'D'),
    ('<think>\n...\n</think>\n\nThese findings suggest achalasia.', 'p5_G', 'D'),
    ('<think>\n...\n</think>\n\nAchalasia is unlikely given the weight loss; gastric adenocarcinoma must '
     'be excluded.', 'p5_G', None),
    ('<think>\n...\n</think>\n\nPeptic ulcer.', 'p5_G', 'B'),
    ('<think>\n...\n</think>\n\nReflux disease of the gastroesophageal junction.', 'p5_G', 'A'),
    ('<think>\n...\n</think>\n\nThis is either GERD or achalasia.', 'p5_G', None),
    ("<think>\n...\n</think>\n\nI think this is achalasia, but I'm not certain.", 'p5_G', None),
    ('<think>\n...\n</think>\n\nFirst-line therapy for this patient with diabetes and proteinuria is an '
     'ACE inhibitor.', 'p5_T', 'B'),
    ('<think>\n...\n</think>\n\nAn ACE inhibitor is the drug of choice because of the proteinuria.',
     'p5_T', 'B'),
    ('<think>\n...\n</think>\n\nBeta blockers are not first-line here; an ACE inhibitor is.', 'p5_T', 'B'),
    ('<think>\n...\n</think>\n\nA thiazide or a calcium channel blocker would be reasonable.', 'p5_T', None),
    ('<think>\n...\n</think>\n\n**ACE inhibitor**', 'p5_T', 'B'),
    ('<think>\n...\n</think>\n\nThe best antihypertensive is an angiotensin-converting enzyme inhibitor.',
     'p5_T', 'B'),
    ('ACE inhibitor. It reduces proteinuria.', 'p5_T', 'B'),
    ('B (ACE inhibitor)', 'p5_T', 'B'),
    ('**B**: ACE inhibitor - reduces intraglomerular pressure.', 'p5_T', 'B'),
    ('The patient should receive a beta blocker only if he has angina.', 'p5_T', None),
    ('<think>\n...\n</think>\n\nWrist drop after a humeral shaft fracture indicates radial nerve injury.',
     'p5_N', 'C'),
    ('<think>\n...\n</think>\n\nThe nerve injured is the radial nerve.', 'p5_N', 'C'),
    ('<think>\n...\n</think>\n\nThe ulnar and median nerves are spared; the radial nerve is damaged.',
     'p5_N', 'C'),
    ('<think>\n...\n</think>\n\nInjury to the axillary nerve would cause deltoid weakness, which is '
     'absent.', 'p5_N', None),
    ('**C. Radial nerve**\n\n- A: claw hand\n- B: ape hand\n- D: deltoid weakness', 'p5_N', 'C'),
    ('Radial nerve (C) is the answer.', 'p5_N', 'C'),
    ("It's the radial nerve.", 'p5_N', 'C'),
    ('## Thinking\n\n...\n\n## Final Response\n\nYes. Early mobilization reduced length of stay.',
     'p5_Y', 'A'),
    ('## Thinking\n\n...\n\n## Final Response\n\nThe evidence is insufficient to conclude.', 'p5_Y', None),
    ('## Thinking\n\n...\n\n## Final Response\n\nMaybe - the results were mixed.', 'p5_Y', 'C'),
    ('## Thinking\n\n...\n\n## Final Response\n\nNo.', 'p5_Y', 'B'),
    ('## Thinking\n\n...\n\n## Final Response\n\nYes and no.', 'p5_Y', None),
    ("I'd choose C, radial nerve.", 'p5_N', 'C'),
    ('Between C and D, I lean to C.', 'p5_N', None),
]


def hand_rows(add) -> None:
    """The hand-written outputs: HAND_DEV, HAND_LATER and HAND_UNSEEN."""
    for cls, table in (("hand_written_dev", HAND_DEV), ("hand_written_later", HAND_LATER),
                       ("hand_written_unseen", HAND_UNSEEN)):
        for text, opts, label in table:
            add(cls, text, HAND_OPTIONS[opts], label)


def more_rows() -> list[Row]:
    out: list[Row] = []

    def add(cls: str, text: str, options: dict[str, str], label: str | None) -> None:
        out.append(Row(cls, text, options, label))

    answer_first_rows(add)
    opening_near_miss_rows(add)
    content_rows(add)
    content_near_miss_rows(add)
    hedge_more_rows(add)
    hand_rows(add)
    return out


# --- scoring ---------------------------------------------------------------------------


def huatuo_reading(text: str, options: dict[str, str]) -> tuple[str | None, str | None]:
    """(first, last) letter of HuatuoGPT-o1's scorer; (None, None) when it drops the output."""
    h = extract(text, options, "huatuo")
    return (None, None) if h is None else (h.first, h.last)


def score(table: list[Row] | None = None) -> dict[str, dict]:
    """Per class and in total: n; strict right, missed (None for an output that answers) and
    invented (a letter for an output that gives none, or another letter than the label);
    strict_false (the invented letters of outputs labelled None); huatuo first/last right and
    its false letters."""
    table = rows() if table is None else table
    res: dict[str, dict] = defaultdict(lambda: dict.fromkeys(
        ("n", "strict", "missed", "invented", "huatuo_first", "huatuo_last", "strict_false",
         "huatuo_false"), 0))
    for r in table:
        s = extract(r.text, r.options)
        first, last = huatuo_reading(r.text, r.options)
        for key in (r.cls, "TOTAL"):
            c = res[key]
            c["n"] += 1
            c["strict"] += s == r.label
            c["missed"] += r.label is not None and s is None
            c["invented"] += s is not None and s != r.label
            c["huatuo_first"] += first == r.label
            c["huatuo_last"] += last == r.label
            c["strict_false"] += r.label is None and s is not None
            c["huatuo_false"] += r.label is None and last is not None
    return dict(res)


def table_markdown(res: dict[str, dict] | None = None) -> str:
    res = score() if res is None else res
    lines = ["| class | rows | strict right | % | no answer read (output answers) | invented letters "
             "| huatuo first % | huatuo last % | huatuo false letters |",
             "|---|---|---|---|---|---|---|---|---|"]
    for cls, c in sorted(res.items(), key=lambda kv: (kv[0] == "TOTAL", kv[0])):
        n = c["n"]
        lines.append(f"| {cls} | {n} | {c['strict']} | {100 * c['strict'] / n:.1f} | {c['missed']} "
                     f"| {c['invented']} | {100 * c['huatuo_first'] / n:.1f} "
                     f"| {100 * c['huatuo_last'] / n:.1f} | {c['huatuo_false']} |")
    return "\n".join(lines)


def misses(table: list[Row] | None = None) -> list[tuple[Row, str | None]]:
    """Rows strict reads differently from the label, with its reading."""
    table = rows() if table is None else table
    return [(r, got) for r in table if (got := extract(r.text, r.options)) != r.label]


if __name__ == "__main__":
    print(table_markdown())
    for r, got in misses():
        print(f"\nMISS [{r.cls}] label={r.label} strict={got}\n  {r.text[-300:]!r}")

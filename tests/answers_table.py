"""A labelled table of model outputs for the answer extractor (reasonmed/method/answers.py).

Each row: a class, a realistic model output, the question's options and the intended reading
(the option letter the output commits to, or None when it commits to none). Options come
from the shipped benchmark files (assets/benchmarks/: MedQA, MedMCQA, MMLU, PubMedQA),
picked by content so the table does not depend on file order, plus a few made-up sets
where a case needs them ("-5 mmHg" vs "5 mmHg"). Outputs imitate what chat, reasoning
(R1-style `<think>`) and HuatuoGPT-style (`## Thinking` / `## Final Response`) models write,
including the failure modes that fooled the earlier extractors.

    python -m tests.answers_table        # per-class table: strict and huatuo readings

tests/test_answers.py asserts strict's accuracy on it (>= 97 %, no invented letter);
the huatuo columns are reported only (that scorer is optimistic by design).
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
        add("no_statement", f.format(why=why(o, x), x=x, y=y, tx=o[x].lower(), ta=o["A"], tb=o["B"],
                                     tc=o["C"], td=o["D"]), o, None)

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

    return out


# --- scoring ---------------------------------------------------------------------------


def huatuo_reading(text: str, options: dict[str, str]) -> tuple[str | None, str | None]:
    """(first, last) letter of HuatuoGPT-o1's scorer; (None, None) when it drops the output."""
    h = extract(text, options, "huatuo")
    return (None, None) if h is None else (h.first, h.last)


def score(table: list[Row] | None = None) -> dict[str, dict]:
    """Per class and in total: n, strict correct, huatuo first/last correct, false letters
    (a letter read from an output labelled None)."""
    table = rows() if table is None else table
    res: dict[str, dict] = defaultdict(lambda: dict.fromkeys(
        ("n", "strict", "huatuo_first", "huatuo_last", "strict_false", "huatuo_false"), 0))
    for r in table:
        s = extract(r.text, r.options)
        first, last = huatuo_reading(r.text, r.options)
        for key in (r.cls, "TOTAL"):
            c = res[key]
            c["n"] += 1
            c["strict"] += s == r.label
            c["huatuo_first"] += first == r.label
            c["huatuo_last"] += last == r.label
            c["strict_false"] += r.label is None and s is not None
            c["huatuo_false"] += r.label is None and last is not None
    return dict(res)


def table_markdown(res: dict[str, dict] | None = None) -> str:
    res = score() if res is None else res
    lines = ["| class | n | strict correct % | huatuo first % | huatuo last % | strict false letters "
             "| huatuo false letters |", "|---|---|---|---|---|---|---|"]
    for cls, c in sorted(res.items(), key=lambda kv: (kv[0] == "TOTAL", kv[0])):
        n = c["n"]
        lines.append(f"| {cls} | {n} | {100 * c['strict'] / n:.1f} | {100 * c['huatuo_first'] / n:.1f} "
                     f"| {100 * c['huatuo_last'] / n:.1f} | {c['strict_false']} | {c['huatuo_false']} |")
    return "\n".join(lines)


def misses(table: list[Row] | None = None) -> list[tuple[Row, str | None]]:
    """Rows strict reads differently from the label, with its reading."""
    table = rows() if table is None else table
    return [(r, got) for r in table if (got := extract(r.text, r.options)) != r.label]


if __name__ == "__main__":
    print(table_markdown())
    for r, got in misses():
        print(f"\nMISS [{r.cls}] label={r.label} strict={got}\n  {r.text[-300:]!r}")

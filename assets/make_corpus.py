"""Write assets/corpus.txt: synthetic medical text the tiny models' tokenizer and warm-up
training read; and assets/vocabulary.txt: the English of the pipeline's instructions (the
text of stages/prompts/*.md when it was written), which the tokenizer also learns its words
from but no model trains on. With those words, a prompt is about half as many tokens (the
optimize prompt ~1,100 -> ~550), which halves the contract training and every prefill of the
default. The vocabulary is a snapshot: a later prompt edit changes no tokenizer, so it
rebuilds only the models trained on that prompt. Deterministic; re-run only to change them
(both are committed).

    python assets/make_corpus.py
"""

import json
import random
from pathlib import Path

AGES = list(range(19, 88))
SEX = ["man", "woman"]
COMPLAINTS = [
    ("dysuria and urinary frequency", "cystitis", "nitrofurantoin"),
    ("crushing substernal chest pain", "acute myocardial infarction", "aspirin"),
    ("fever, neck stiffness and photophobia", "bacterial meningitis", "ceftriaxone"),
    ("polyuria, polydipsia and weight loss", "type 1 diabetes mellitus", "insulin"),
    ("fatigue and pallor", "iron deficiency anaemia", "oral iron"),
    ("sudden unilateral weakness", "ischaemic stroke", "alteplase"),
    ("wheezing and nocturnal cough", "asthma", "inhaled corticosteroids"),
    ("right lower quadrant pain", "acute appendicitis", "appendectomy"),
    ("heat intolerance and palpitations", "Graves disease", "methimazole"),
    ("painful swollen first toe", "gout", "colchicine"),
    ("productive cough and fever", "community-acquired pneumonia", "amoxicillin"),
    ("epigastric pain relieved by food", "duodenal ulcer", "a proton pump inhibitor"),
    ("cold intolerance and weight gain", "hypothyroidism", "levothyroxine"),
    ("jaundice and dark urine", "acute hepatitis", "supportive care"),
    ("shortness of breath and leg swelling", "heart failure", "a loop diuretic"),
]
FINDINGS = ["tachycardia", "a low-grade fever", "normal blood pressure", "hypotension",
            "an elevated white cell count", "a raised troponin", "a normal chest radiograph",
            "elevated glucose", "low haemoglobin", "an elevated ESR", "crackles at both bases"]
STEPS = [
    "Restate the question: the patient has {c}.",
    "Key details: {f1} and {f2} point towards {d}.",
    "Evaluate each option against the presentation and the pathophysiology.",
    "Rule out the options that do not explain {c}.",
    "Compare the remaining options; {d} fits best.",
    "Final answer: {l}. {t}.",
]
REASONS_OK = ["The reasoning identifies the key findings and reaches the correct answer.",
              "Each option is evaluated and the conclusion matches the gold answer."]
REASONS_BAD = ["The reasoning selects an option that does not match the gold answer.",
               "The chain misses the key clinical finding and contains a factual error."]


def vignette(rng: random.Random) -> str:
    c, d, t = rng.choice(COMPLAINTS)
    f1, f2 = rng.sample(FINDINGS, 2)
    opts = rng.sample([x[1] for x in COMPLAINTS if x[1] != d], 3) + [d]
    rng.shuffle(opts)
    letter = "ABCD"[opts.index(d)]
    q = (f"A {rng.choice(AGES)}-year-old {rng.choice(SEX)} presents with {c}. "
         f"Examination shows {f1} and {f2}. Which of the following is the most likely diagnosis?")
    lines = [q] + [f"{'ABCD'[i]}. {o}" for i, o in enumerate(opts)]
    cot = " ".join(s.format(c=c, d=d, f1=f1, f2=f2, l=letter, t=d) for s in STEPS)
    if rng.random() < 0.3:
        cot = "<think>" + cot + "</think> The answer is " + letter + "."
    ok = rng.random() < 0.5
    verdict = {"verdict": "Correct" if ok else "Error",
               "reason": rng.choice(REASONS_OK if ok else REASONS_BAD)}
    treat = f"The first-line treatment of {d} is {t}."
    return "\n".join(lines + [cot, treat, json.dumps(verdict), ""])


def main() -> None:
    rng = random.Random(0)
    text = "\n".join(vignette(rng) for _ in range(220))
    Path(__file__).with_name("corpus.txt").write_text(text, encoding="utf-8")
    print(f"{len(text)} chars")
    prompts = sorted(Path(__file__).resolve().parents[1].glob("stages/prompts/*.md"))
    vocab = "\n".join(f.read_text(encoding="utf-8").strip() + "\n" for f in prompts)
    Path(__file__).with_name("vocabulary.txt").write_text(vocab, encoding="utf-8")
    print(f"vocabulary: {len(vocab)} chars from {len(prompts)} prompt files")


if __name__ == "__main__":
    main()

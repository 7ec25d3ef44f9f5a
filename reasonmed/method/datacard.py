"""The assemble stage's statistics (stats.json) and its data card (DATA_CARD.md), from a
Tally of every question's outcome (reasonmed/method/assemble.py) and the cost table.

    python -c "from reasonmed.method.datacard import quantiles; print(quantiles({1: 2, 5: 1}))"
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reasonmed.core.records import atomic_path
from reasonmed.method import cost
from reasonmed.method.assemble import TIERS, WRITER_STEP, Assembled, Params

# Deviations from the paper and the authors' code, listed in DATA_CARD.md. Stages document
# theirs where they happen; this is the one list a reader of the dataset sees.
DEVIATIONS = [
    "Chat templates are applied to every model call (the authors send raw completion strings "
    "to the generators, verifier and ranker).",
    "Options are lettered `A. text` everywhere: in every prompt and in the datasets (the "
    "authors use unlettered bullets in generation/refinement and `A)` in verifier/ranker).",
    "Every sampler is seeded from the run seed and the item id, so reruns hit the request "
    "cache (the authors set no seed).",
    "Verifier parse failures are kept as failures (verdict null) after a bounded number of "
    "retries and routed per `route.unparsed` (the authors retry up to 100 rounds, then record "
    "a silent Error).",
    "Reasoning markers (`<think>`, `## Thinking` / `## Final Response`, a bare `Alright`) are "
    "stripped from every generated path (the authors strip them only in the refiners).",
    "Refined and optimized CoTs are re-verified; those that fail are dropped per the stage's "
    "policy (`kept: false`) (the authors do not re-verify).",
    "The response summarizer sees the question and is asked to state the answer letter (the "
    "authors' prompt is a bare summarise request).",
    "The quality ranker and score evaluator record an unparsed reply as unparsed: the ranker "
    "ranks it below every parsed score, the evaluator excludes it from the mean (the authors "
    "count it as 0).",
    "ReasonMed rows join CoT and Response with the `assemble.joiner` template (default "
    "HuatuoGPT-o1's `## Thinking` / `## Final Response`); the paper's exact joiner is "
    "unverified.",
    "Rows carry ids and full provenance (Parquet); the released JSON has only instruction, "
    "input and output.",
    "The embedded default uses tiny locally built models (paper: 70B agents and API models); "
    "their text is noise by design, so only structure and accounting are meaningful.",
    "Filler options (`n/a`, `N/A`, `none` placeholders) are dropped and the rest relettered, "
    "recorded in each question's provenance (`collect.drop_filler_options`; the paper keeps "
    "source options as they are).",
    "Decontamination checks word 10-grams of each benchmark item's question and of its "
    "question with options (order-free), and drops a training question only when it covers "
    "`collect.decontaminate.coverage` of an item's n-grams (0 = any shared n-gram, the "
    "field's rule; stock exam phrasing alone then drops real questions).",
]


def quantiles(hist: Counter) -> dict:
    """mean / median / p95 / max of a histogram {value: count} (exact, bounded memory)."""
    n = sum(hist.values())
    if not n:
        return {"n": 0, "mean": None, "median": None, "p95": None, "max": None}
    out, cum, keys = {}, 0, sorted(hist)
    targets = {"median": 0.5 * n, "p95": 0.95 * n}
    for k in keys:
        cum += hist[k]
        for name, t in list(targets.items()):
            if cum >= t:
                out[name] = k
                del targets[name]
    return {"n": n, "mean": round(sum(k * v for k, v in hist.items()) / n, 1),
            "median": out["median"], "p95": out["p95"], "max": keys[-1]}


class Tally:
    """Everything stats.json and the data card report, accumulated one question at a time."""

    def __init__(self):
        self.questions = Counter()  # (tier, source, status) -> questions
        self.rows = Counter()  # (tier, source) -> rows
        self.dropped = Counter()  # reason code -> questions
        self.cots_dropped = Counter()  # reason code -> chosen CoTs
        self.agent = {}  # agent -> Counter(paths, Correct, Error, unparsed, retried)
        self.temperature = {}
        self.n_error = Counter()
        self.n_error_by_tier = Counter()
        self.scores = Counter()  # ranker score value or "unparsed"
        self.chosen = Counter()  # (origin, what) -> CoTs
        self.summaries = Counter()
        self.lengths = {k: Counter() for k in ("cot_words", "response_words", "cot_tokens",
                                               "response_tokens")}
        self.by_origin = Counter()  # origin -> rows

    def add(self, x: Assembled) -> None:
        a, q = x.account, x.question
        self.questions[(a["tier"], q.source, a["status"])] += 1
        self.rows[(a["tier"], q.source)] += a["rows"]
        if a["status"] == "dropped":
            self.dropped[a["reason"]] += 1
        self.cots_dropped.update({k.partition(": ")[0]: v for k, v in x.cots_dropped.items()})
        for v in x.verdicts:
            for key, table in ((v.agent, self.agent), (str(v.temperature), self.temperature)):
                c = table.setdefault(key, Counter())
                c["paths"] += 1
                c[v.verdict or "unparsed"] += 1
                c["retried"] += v.attempts > 1
        if x.route is not None and x.route.tier != "unrouted":
            self.n_error[x.route.n_error] += 1
            self.n_error_by_tier[(x.route.tier, x.route.n_error)] += 1
        self.scores.update(s.score if s.parsed else "unparsed" for s in x.scores)
        for origin, cs in x.chosen.items():
            for c in cs:
                self.chosen[(origin, "total")] += 1
                self.chosen[(origin, "kept")] += c.kept
                self.chosen[(origin, "verdict_" + (c.verdict or "none"))] += 1
        for s in x.summaries:
            self.summaries["total"] += 1
            self.summaries["no_letter"] += s.answer is None
            self.summaries["states_gold"] += s.states_gold
            self.summaries["truncated"] += s.finish_reason == "length"
        self.summaries["orphan"] += x.orphan_summaries
        for r in x.rows:
            self.by_origin[r["origin"]] += 1
            for k, h in self.lengths.items():
                if r[k] is not None:
                    h[r[k]] += 1

    def stats(self, rows_written: dict[str, int]) -> dict:
        qs = self.questions
        n_in = sum(qs.values())
        in_ds = sum(v for (_, _, st), v in qs.items() if st == "in_datasets")

        def group(i: int) -> dict:
            out: dict[str, Counter] = {}
            for key, v in qs.items():
                c = out.setdefault(key[i], Counter())
                c["questions"] += v
                c[key[2]] += v
            for key, v in self.rows.items():
                out.setdefault(key[i], Counter())["rows"] += v
            order = sorted(out, key=lambda k: (TIERS.index(k) if k in TIERS else len(TIERS), k))
            return {k: {f: out[k][f] for f in ("questions", "in_datasets", "dropped", "rows")}
                    for k in order}

        return {
            "rows": rows_written, "questions_in": n_in, "questions_in_datasets": in_ds,
            "questions_dropped": n_in - in_ds, "dropped_by_reason": dict(sorted(self.dropped.items())),
            "by_tier": group(0), "by_source": group(1),
            "rows_by_origin": {o: self.by_origin[o] for o in WRITER_STEP},
            "cots_dropped_by_reason": dict(sorted(self.cots_dropped.items())),
            "chosen": {f"{o}.{w}": v for (o, w), v in sorted(self.chosen.items())},
            "summaries": dict(self.summaries),
            "verifier": {"by_agent": {k: dict(v) for k, v in sorted(self.agent.items())},
                         "by_temperature": {k: dict(v) for k, v in sorted(self.temperature.items())}},
            "error_count_histogram": {str(k): self.n_error[k] for k in sorted(self.n_error)},
            "ranker_scores": {str(k): v for k, v in sorted(self.scores.items(), key=str)},
            "lengths": {k: quantiles(h) for k, h in self.lengths.items()}}


# --- the data card -------------------------------------------------------------------

# Fine-tuning on an exported variant with TRL, from the project root (the README's
# "Training on an exported variant" carries the same code; tests/test_results.py runs it).
TRL_SNIPPET = """\
from datasets import load_dataset
from trl import SFTConfig, SFTTrainer

model = "models/student"  # the default's tiny student; any chat model (paper: Qwen2.5-7B)
data = "data/assemble/datasets/trl/reasonmed.jsonl"  # or cotmed.jsonl, responsemed.jsonl
out = "work/sft-reasonmed"
train = load_dataset("json", data_files=data, split="train")  # prompt/completion messages
args = SFTConfig(output_dir=out, num_train_epochs=1, learning_rate=3e-3, max_length=512,
                 use_cpu=True, bf16=False)  # GPUs: use_cpu=False, bf16=True
trainer = SFTTrainer(model=model, args=args, train_dataset=train)
trainer.train()
trainer.save_model()
"""


def md_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "n/a"


def decontamination(collect: dict) -> str:
    """The data card's Decontamination section: per benchmark, the training questions it
    removed by form (collect's stats; reasonmed/method/decontaminate.py)."""
    d = collect.get("decontamination")
    if not d:
        return "## Decontamination\n\n(collect stats not found)"
    forms = ["question", "question_options", "overlap"]
    rows = [[b, v["items"], *(v[f] for f in forms), v["removed"]]
            for b, v in d["by_benchmark"].items()]
    rows.append(["total", sum(v["items"] for v in d["by_benchmark"].values()),
                 *(d["by_form"][f] for f in forms), sum(d["by_form"].values())])
    share = f"at least {d['coverage']:.0%}" if d["coverage"] else "any one"
    return ("## Decontamination\n\nTraining questions removed for holding a benchmark item, by "
            f"the first form that matched: `question`, {share} of the item's "
            f"question-only word {d['ngram']}-grams; `question_options`, of its question + "
            "options `A. text` (options sorted, so a reordered copy matches); `overlap`, at "
            f"least {d['threshold']:.0%} of the question's own {d['overlap_ngram']}-grams are the "
            "item's. Each is a reject in `data/collect/rejects/rejects.jsonl` naming the item and the "
            "form.\n\n" + md_table(["benchmark", "items", "question", "question + options",
                                    "overlap", "removed"], rows))


def render_card(st: dict, tally: Tally, costs: dict, collect: dict, p: Params) -> str:
    """DATA_CARD.md from the statistics (pure)."""
    rows = st["rows"]
    n_err_tiers = [t for t in TIERS if any(t == k for k, _ in tally.n_error_by_tier)]

    def rates(table: dict) -> list[list]:
        return [[k, v["paths"], v.get("Correct", 0), v.get("Error", 0), v.get("unparsed", 0),
                 pct(v.get("Correct", 0), v["paths"]), v.get("retried", 0)]
                for k, v in table.items()]

    lens = st["lengths"]
    sc = st["summaries"]
    chosen = st["chosen"]
    parse = [
        ["verifier: verdict never parsed (kept as failure)",
         sum(v.get("unparsed", 0) for v in st["verifier"]["by_agent"].values())],
        ["verifier: paths needing a retry", sum(v.get("retried", 0)
                                                for v in st["verifier"]["by_agent"].values())],
        ["ranker: score never parsed", st["ranker_scores"].get("unparsed", 0)],
        *[[f"{o}: re-verification without verdict", chosen.get(f"{o}.verdict_none", 0)]
          for o in ("refined", "optimized")],
        ["summarizer: summary states no letter", sc.get("no_letter", 0)],
        ["summarizer: summary truncated (length)", sc.get("truncated", 0)],
    ]
    collect_rows = [[s, v.get("in"), v.get("kept"), v.get("rejected"), v.get("duplicate"),
                     v.get("duplicate_near"), v.get("contaminated")]
                    for s, v in (collect.get("sources") or {}).items()]
    parts = [
        "# ReasonMed reimplementation: data card",
        "Generated by `stages/assemble.py` from the pipeline's artifacts; every number below is "
        "recomputed on each run. Rows of the three variants share ids and questions.",
        "## Variants\n\n" + md_table(["variant", "rows", "output"], [
            ["ReasonMed", rows["reasonmed"], "CoT + joiner + Response"],
            ["CoTMed", rows["cotmed"], "CoT only"],
            ["ResponseMed", rows["responsemed"], "Response (summary) only"]]) +
        f"\n\nJoiner (`assemble.joiner`): `{json.dumps(p.joiner)}`. Columns of the JSONL "
        "files: id, question_id, instruction, input (empty), output; the Parquet files add "
        "the provenance columns (source, tier, origin, agent, writer model, temperature, "
        "source path, verdict counts, ranker score, history, re-verification, summary letter, "
        "gold letter, lengths).",
        "## Collection\n\n" + (md_table(
            ["source", "in", "kept", "rejected", "duplicate", "near duplicate", "contaminated"],
            collect_rows) if collect_rows else "(collect stats not found)"),
        decontamination(collect),
        "## Questions and rows per tier\n\n" + md_table(
            ["tier", "questions", "in datasets", "dropped", "rows"],
            [[k, v["questions"], v["in_datasets"], v["dropped"], v["rows"]]
             for k, v in st["by_tier"].items()]) + "\n\n" + md_table(
            ["rows by origin of the CoT", "rows"], st["rows_by_origin"].items()) +
        "\n\nEasy rows come from rank, medium rows from refine (origin `ranked` there when "
        "`refine.on_fail: keep_original` put the ranked original back), difficult rows from "
        "optimize.",
        "## Questions and rows per source\n\n" + md_table(
            ["source", "questions", "in datasets", "dropped", "rows"],
            [[k, v["questions"], v["in_datasets"], v["dropped"], v["rows"]]
             for k, v in st["by_source"].items()]),
        "## Dropped\n\n" + md_table(["questions dropped because", "questions"],
                                    st["dropped_by_reason"].items() or [["(none)", 0]]) +
        "\n\n" + md_table(["chosen CoTs dropped because", "CoTs"],
                          st["cots_dropped_by_reason"].items() or [["(none)", 0]]) +
        "\n\nEvery collected question has a line in `accounting.jsonl` (status and reason).",
        "## Verifier pass rates\n\nCorrect share of all generated paths; an unparsed verdict "
        "is neither Correct nor Error.\n\n" + md_table(
            ["agent", "paths", "Correct", "Error", "unparsed", "pass rate", "retried"],
            rates(st["verifier"]["by_agent"])) + "\n\n" + md_table(
            ["temperature", "paths", "Correct", "Error", "unparsed", "pass rate", "retried"],
            rates(st["verifier"]["by_temperature"])),
        "## Error-count histogram\n\nError verdicts per question (routed questions; unparsed "
        "verdicts counted per `route.unparsed`).\n\n" + md_table(
            ["errors", "questions", *n_err_tiers],
            [[k, tally.n_error[k], *[tally.n_error_by_tier[(t, k)] for t in n_err_tiers]]
             for k in sorted(tally.n_error)]),
        "## Lengths\n\nWords are whitespace-separated; tokens are the writing model's "
        "completion tokens as recorded by the stage that wrote the text.\n\n" + md_table(
            ["text", "n", "mean", "median", "p95", "max"],
            [[k.replace("_", " "), v["n"], v["mean"], v["median"], v["p95"], v["max"]]
             for k, v in lens.items()]),
        "## Parse failures\n\n" + md_table(["where", "count"], parse),
        "## Cost\n\n" + cost.table_markdown(costs),
        "## Training with TRL\n\n`datasets/trl/<variant>.jsonl` holds each row as conversational "
        "prompt-completion messages (plus its id), which TRL's `SFTTrainer` takes as is; from "
        "the project root:\n\n```python\n" + TRL_SNIPPET + "```",
        "## Deviations from the paper\n\n" + "\n".join(f"- {d}" for d in DEVIATIONS),
    ]
    return "\n\n".join(parts) + "\n"



def write_card(path: Path, st: dict, tally: Tally, costs: dict, collect: dict, p: Params) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(render_card(st, tally, costs, collect, p), encoding="utf-8")

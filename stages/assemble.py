"""assemble: the ReasonMed / CoTMed / ResponseMed datasets, their accounting and data card.

Method step S6 (METHOD.md sections 9.2, 13): one SFT row per chosen CoT that survived its
tier's pipeline (easy: ranked; medium: refined; difficult: optimized) and has a summary.
The three variants share the same rows (same question set, same row count and ids) and
differ only in `output`:

  reasonmed    CoT + Response, joined by the `joiner` template (default: HuatuoGPT-o1's
               "## Thinking ... ## Final Response ...", which the evaluation extractor reads)
  cotmed       CoT only
  responsemed  Response (the summary) only

Reads (all ordered by question, joined in lockstep, streaming; paths are only skimmed for
the ids of chosen source paths): data/collect/questions.jsonl + stats.json,
data/generate/paths.jsonl, data/verify/verdicts.jsonl, data/route/routes.jsonl,
data/rank/{scores,chosen}.jsonl, data/refine/chosen.jsonl, data/optimize/chosen.jsonl,
data/summarize/summaries.jsonl and every stage's ledger.json.
Writes data/assemble/: datasets/{reasonmed,cotmed,responsemed}.jsonl (the released columns
instruction/input/output plus id and question_id), datasets/*.parquet (the same rows plus
full provenance), datasets/trl/*.jsonl (the same rows as TRL conversational
prompt-completion examples: `SFTTrainer(train_dataset=load_dataset("json", data_files=...))`
trains on them as is), accounting.jsonl (one line per collected question: in the datasets or
dropped, with the reason), stats.json, costs.json and DATA_CARD.md.

    python -m stages.assemble --params params.yaml --out data/assemble
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import field_validator

from reasonmed import cost
from reasonmed.conversation import Row, to_conversation
from reasonmed.params import Section, load
from reasonmed.prompting import format_options
from reasonmed.records import (
    Chosen,
    CoTPath,
    JsonlWriter,
    Question,
    Route,
    Score,
    Summary,
    Verdict,
    atomic_path,
    read_jsonl,
    write_json,
)
from reasonmed.stage import StageRun, entry, pick
from reasonmed.streams import join_by_question

log = logging.getLogger("reasonmed.assemble")
# The DVC metric (metrics.json): the few counts and rates a change can move.
HEADLINE = ("rows.reasonmed", "questions_in_datasets", "questions_dropped")

VARIANTS = ("reasonmed", "cotmed", "responsemed")
TIERS = ("easy", "medium", "difficult", "unrouted")
# The stream whose chosen CoTs a tier's rows come from. Refine's stream may hold origin
# "ranked" records too (on_fail: keep_original puts the ranked original back).
STREAM_OF_TIER = {"easy": "ranked", "medium": "refined", "difficult": "optimized"}
WRITER_STEP = {"ranked": "generate", "refined": "refine", "optimized": "optimize"}
STREAMS = ("routes", "verdicts", "scores", "ranked", "refined", "optimized", "summaries",
           "paths")
LEDGER_STAGES = ("generate", "verify", "rank", "refine", "optimize", "summarize")

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
]


class Params(Section):
    # The paper's exact joiner is unverified (METHOD.md 9.2). Placeholders {cot} and
    # {response}; write literal braces as {{ }}.
    joiner: str = "## Thinking\n\n{cot}\n\n## Final Response\n\n{response}"
    instruction_header: str = "Please answer the following multiple-choice question:"
    drop_summary_mismatch: bool = False  # drop rows whose summary states a non-gold letter
    path_provenance: bool = True  # skim paths.jsonl for the chosen source paths' details
    parquet_batch_rows: int = 2048
    parquet_compression: str = "zstd"

    @field_validator("joiner")
    @classmethod
    def _joiner(cls, v: str) -> str:
        try:
            out = v.format(cot="\0c", response="\0r")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"joiner must use only {{cot}} and {{response}}: {e}") from None
        if "\0c" not in out or "\0r" not in out:
            raise ValueError("joiner must contain {cot} and {response}")
        return v


# --- rows ----------------------------------------------------------------------------


def instruction(q: Question, header: str) -> str:
    """The released ReasonMed instruction: header, (context), stem, lettered options."""
    ctx = f"{q.context}\n" if q.context else ""
    return f"{header}\n{ctx}{q.question}\n{format_options(q.options)}"


def outputs(cot: str, response: str, joiner: str) -> dict[str, str]:
    return {"reasonmed": joiner.format(cot=cot, response=response), "cotmed": cot,
            "responsemed": response}


def words(text: str) -> int:
    return len(text.split())


PROVENANCE = pa.schema([
    ("id", pa.string()), ("question_id", pa.string()), ("instruction", pa.string()),
    ("input", pa.string()), ("output", pa.string()),
    ("source", pa.string()), ("split", pa.string()), ("source_id", pa.string()),
    ("tier", pa.string()), ("origin", pa.string()), ("chosen_rank", pa.int32()),
    ("agent", pa.string()), ("model", pa.string()), ("temperature", pa.float64()),
    ("source_path_id", pa.string()), ("path_seed", pa.int64()),
    ("path_finish_reason", pa.string()), ("path_markers", pa.list_(pa.string())),
    ("path_answer", pa.string()), ("path_completion_tokens", pa.int32()),
    ("n_paths", pa.int32()), ("n_error", pa.int32()), ("n_correct", pa.int32()),
    ("n_unparsed", pa.int32()), ("ranker_score", pa.int32()), ("history", pa.string()),
    ("verdict", pa.string()), ("verify_reason", pa.string()),
    ("summary_answer", pa.string()), ("gold", pa.string()), ("summary_states_gold", pa.bool_()),
    ("summary_model", pa.string()), ("summary_finish_reason", pa.string()),
    ("cot_words", pa.int32()), ("response_words", pa.int32()),
    ("cot_tokens", pa.int32()), ("response_tokens", pa.int32()),
])


def writer_tokens(c: Chosen) -> int | None:
    """Completion tokens of the step that wrote `c.cot` (Chosen tokens sum its lineage)."""
    step = WRITER_STEP[c.origin]
    return next((h.get("completion_tokens") for h in reversed(c.history)
                 if h.get("step") == step), None)


def provenance(q: Question, r: Route, c: Chosen, s: Summary, path: CoTPath | None) -> dict:
    """Every column of a row except id/instruction/input/output."""
    return {
        "source": q.source, "split": q.split, "source_id": q.source_id, "tier": r.tier,
        "origin": c.origin, "chosen_rank": c.rank, "agent": c.agent, "model": c.model,
        "temperature": c.temperature, "source_path_id": c.source_path_id,
        "path_seed": path.seed if path else None,
        "path_finish_reason": path.finish_reason if path else None,
        "path_markers": path.markers if path else None,
        "path_answer": path.answer if path else None,
        "path_completion_tokens": path.completion_tokens if path else None,
        "n_paths": r.n_paths, "n_error": r.n_error, "n_correct": r.n_correct,
        "n_unparsed": r.n_unparsed, "ranker_score": c.score,
        "history": json.dumps(c.history, ensure_ascii=False, default=str),
        "verdict": c.verdict, "verify_reason": c.verify_reason, "summary_answer": s.answer,
        "gold": q.answer, "summary_states_gold": s.states_gold, "summary_model": s.model,
        "summary_finish_reason": s.finish_reason, "cot_words": words(c.cot),
        "response_words": words(s.summary),
        "cot_tokens": writer_tokens(c),
        "response_tokens": s.completion_tokens,
    }


# --- the lockstep join ---------------------------------------------------------------


@dataclass(frozen=True)
class PathRef:
    """A line of paths.jsonl, parsed only when a chosen CoT needs its source path."""

    question_id: str
    id: str
    raw: bytes

    def load(self) -> CoTPath:
        return CoTPath.model_validate_json(self.raw)


_PATH_ID = re.compile(rb'^\{"id":"([^"\\]+)"')


def scan_paths(lines: Iterable[bytes]) -> Iterator[PathRef]:
    """Skim paths.jsonl: ids from the line prefix (pydantic writes `id` first), no JSON parse.

    Paths are 90% of the data plane's bytes; parsing 1.75M of them to use two per question
    would dominate assemble's time. A line in another key order is parsed in full.
    """
    for line in lines:
        if m := _PATH_ID.match(line):
            pid = m.group(1).decode()
        elif line.strip():
            pid = json.loads(line)["id"]
        else:
            continue
        # CoTPath ids are f"{question_id}/{agent}/t{slot}s{sample}" (generate.path_id).
        yield PathRef(pid.split("/", 1)[0], pid, line)


@dataclass
class Assembled:
    """One question's outcome: its rows (one per used chosen CoT) and its accounting line."""

    question: Question
    route: Route | None
    verdicts: list[Verdict]
    scores: list[Score]
    chosen: dict[str, list[Chosen]]  # stream (ranked/refined/optimized) -> this question's
    summaries: list[Summary]
    rows: list[dict] = field(default_factory=list)  # provenance + "id", "cot", "response"
    account: dict = field(default_factory=dict)
    cots_dropped: Counter = field(default_factory=Counter)  # reason -> chosen CoTs
    orphan_summaries: int = 0


def no_chosen_reason(tier: str, chosen: dict[str, list[Chosen]]) -> str:
    if tier == "easy" or (tier == "medium" and not chosen["ranked"]):
        return "no_correct_paths: rank chose no CoT (no Correct path to rank)"
    return {"medium": "no_refined: refine produced no CoT",
            "difficult": "no_optimized: optimize produced no CoT"}[tier]


def assemble_question(q: Question, route: Route | None, chosen: dict[str, list[Chosen]],
                      summaries: list[Summary], paths: dict[str, PathRef], p: Params,
                      out: Assembled) -> None:
    """Fill `out.rows` and `out.account` for one question (pure; no I/O)."""
    tier = route.tier if route else "unrouted"
    by_id = {s.chosen_id: s for s in summaries}
    used: set[str] = set()
    reason = None
    if route is None:
        reason = "no_route: route has no record for the question"
    elif tier == "unrouted":
        reason = f"unrouted: {route.reason}"
    elif not (cands := chosen[STREAM_OF_TIER[tier]]):
        reason = no_chosen_reason(tier, chosen)
    else:
        for c in sorted(cands, key=lambda c: c.rank):
            s = by_id.get(c.id)
            if not c.kept:
                out.cots_dropped[f"not_kept: {c.origin} CoT dropped by its stage (kept=false: "
                                 "failed re-verification or empty)"] += 1
            elif s is None:
                out.cots_dropped["no_summary: summarize wrote no summary"] += 1
            elif not c.cot.strip() or not s.summary.strip():
                # An empty target would be an empty SFT example in one variant only, and the
                # three variants must keep identical rows.
                out.cots_dropped["empty_text: the CoT or its summary is empty"] += 1
            elif p.drop_summary_mismatch and s.answer is not None and s.answer != q.answer:
                out.cots_dropped["summary_mismatch: summary states a non-gold letter"] += 1
            else:
                used.add(c.id)
                ref = paths.get(c.source_path_id)
                out.rows.append({"id": c.id, "cot": c.cot, "response": s.summary,
                                 **provenance(q, route, c, s, ref.load() if ref else None)})
        if not out.rows:  # every candidate dropped: their one reason, or all of them
            reason = next(iter(out.cots_dropped)) if len(out.cots_dropped) == 1 else (
                "all_cots_dropped: " + "; ".join(out.cots_dropped))
    out.orphan_summaries = sum(s.chosen_id not in used for s in summaries)
    code, _, detail = (reason or "").partition(": ")
    out.account = {"question_id": q.id, "source": q.source, "tier": tier,
                   "status": "in_datasets" if out.rows else "dropped", "rows": len(out.rows),
                   "reason": code or None, "detail": detail or None,
                   "cots_dropped": {k.partition(": ")[0]: v for k, v in out.cots_dropped.items()}}


def run(questions: Iterable[Question], routes: Iterable[Route], verdicts: Iterable[Verdict],
        scores: Iterable[Score], ranked: Iterable[Chosen], refined: Iterable[Chosen],
        optimized: Iterable[Chosen], summaries: Iterable[Summary], paths: Iterable[PathRef],
        p: Params) -> Iterator[Assembled]:
    """One Assembled per collected question, in question order (every input is ordered so)."""
    joined = join_by_question(
        questions, routes=routes, verdicts=verdicts, scores=scores, ranked=ranked,
        refined=refined, optimized=optimized, summaries=summaries, paths=paths)
    for q, *records in joined:
        got = dict(zip(STREAMS, records))
        if len(got["routes"]) > 1:
            raise ValueError(f"routes: {len(got['routes'])} records for question {q.id}")
        route = got["routes"][0] if got["routes"] else None
        chosen = {o: got[o] for o in ("ranked", "refined", "optimized")}
        needed = {c.source_path_id for cs in chosen.values() for c in cs}
        paths_q = {r.id: r for r in got["paths"] if r.id in needed}
        out = Assembled(q, route, got["verdicts"], got["scores"], chosen, got["summaries"])
        assemble_question(q, route, chosen, got["summaries"], paths_q, p, out)
        yield out


# --- statistics ----------------------------------------------------------------------


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


def md_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "n/a"


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
        "## Deviations from the paper\n\n" + "\n".join(f"- {d}" for d in DEVIATIONS),
    ]
    return "\n\n".join(parts) + "\n"


# --- writing -------------------------------------------------------------------------


class DatasetWriter:
    """The three variants, streamed: JSONL with the released columns (+ ids) and Parquet with
    provenance. Memory stays at one batch of rows; every file is written atomically.

    Rows of the three variants differ only in `output`, so each string is JSON-encoded once
    and each Parquet batch's provenance columns are built once and shared by the variants.
    """

    def __init__(self, folder: Path, p: Params):
        self.folder, self.p, self.count = folder, p, 0
        self.buf: list[dict] = []
        self.outs: dict[str, list[str]] = {v: [] for v in VARIANTS}

    def __enter__(self) -> DatasetWriter:
        self._stack = contextlib.ExitStack().__enter__()
        self.jsonl, self.parquet, self.trl = {}, {}, {}
        for v in VARIANTS:
            tmp = self._stack.enter_context(atomic_path(self.folder / f"{v}.jsonl"))
            self.jsonl[v] = self._stack.enter_context(open(tmp, "w", encoding="utf-8"))
            tmp = self._stack.enter_context(atomic_path(self.folder / "trl" / f"{v}.jsonl"))
            self.trl[v] = self._stack.enter_context(open(tmp, "w", encoding="utf-8"))
            tmp = self._stack.enter_context(atomic_path(self.folder / f"{v}.parquet"))
            w = pq.ParquetWriter(tmp, PROVENANCE, compression=self.p.parquet_compression)
            self.parquet[v] = self._stack.enter_context(contextlib.closing(w))
        return self

    def add(self, q: Question, rows: list[dict]) -> None:
        instr = instruction(q, self.p.instruction_header)
        head_q = f', "question_id": {_enc(q.id)}, "instruction": {_enc(instr)}, "input": ""'
        for r in rows:
            cot, response = r.pop("cot"), r.pop("response")
            head = f'{{"id": {_enc(r["id"])}{head_q}, "output": '
            for v, text in outputs(cot, response, self.p.joiner).items():
                self.jsonl[v].write(head + _enc(text) + "}\n")
                # what SFTTrainer takes as is, through the converter the sft stage trains with
                conv = to_conversation(Row(instruction=instr, output=text))
                self.trl[v].write(json.dumps({"id": r["id"], **conv}, ensure_ascii=False) + "\n")
                self.outs[v].append(text)
            self.buf.append({"question_id": q.id, "instruction": instr, "input": "", **r})
            self.count += 1
            if len(self.buf) >= self.p.parquet_batch_rows:
                self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        base = pa.Table.from_pylist(self.buf, schema=PROVENANCE.remove(
            PROVENANCE.get_field_index("output")))
        at = PROVENANCE.get_field_index("output")
        for v in VARIANTS:
            col = pa.array(self.outs[v], pa.string())
            self.parquet[v].write_table(base.add_column(at, PROVENANCE.field(at), col))
            self.outs[v] = []
        self.buf = []

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.flush()
        self._stack.__exit__(*exc)


def _enc(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


# The artifacts assemble reads, relative to the data root (--data).
INPUTS = {"questions": "collect/questions.jsonl", "collect_stats": "collect/stats.json",
          "paths": "generate/paths.jsonl", "verdicts": "verify/verdicts.jsonl",
          "routes": "route/routes.jsonl", "scores": "rank/scores.jsonl",
          "ranked": "rank/chosen.jsonl", "refined": "refine/chosen.jsonl",
          "optimized": "optimize/chosen.jsonl", "summaries": "summarize/summaries.jsonl"}


def read_ledgers(root: Path) -> list[dict]:
    rows = []
    for stage in LEDGER_STAGES:
        f = root / stage / "ledger.json"
        if f.exists():
            rows += json.loads(f.read_text())
        else:
            log.warning("assemble: %s missing; its cost is not in the table", f)
    return rows


def write_outputs(results: Iterable[Assembled], out: Path, p: Params, tally: Tally) -> dict:
    with DatasetWriter(out / "datasets", p) as ds, JsonlWriter(out / "accounting.jsonl") as acc:
        for x in results:
            tally.add(x)
            acc.write(x.account)
            ds.add(x.question, x.rows)
    return {v: ds.count for v in VARIANTS}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Assemble the three SFT datasets and the data card.")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default="data", help="root of the upstream artifacts")
    ap.add_argument("--out", default="data/assemble")
    a = ap.parse_args(argv)
    job = StageRun("assemble")
    p, cp = load("assemble", Params, a.params), load("cost", cost.Params, a.params)
    src = {k: Path(a.data) / f for k, f in INPUTS.items()}
    out, tally = Path(a.out), Tally()

    def paths() -> Iterator[PathRef]:
        if p.path_provenance:
            with open(src["paths"], "rb") as f:
                yield from scan_paths(f)

    rows = write_outputs(run(
        read_jsonl(src["questions"], Question), read_jsonl(src["routes"], Route),
        read_jsonl(src["verdicts"], Verdict), read_jsonl(src["scores"], Score),
        read_jsonl(src["ranked"], Chosen), read_jsonl(src["refined"], Chosen),
        read_jsonl(src["optimized"], Chosen), read_jsonl(src["summaries"], Summary), paths(), p),
        out, p, tally)
    costs = cost.cost_table(read_ledgers(Path(a.data)), cp)
    st = tally.stats(rows)
    collect = json.loads(src["collect_stats"].read_text()) if src["collect_stats"].exists() else {}
    write_json(out / "costs.json", costs)
    job.finish(out, st, headline={**pick(st, HEADLINE), "cost_usd": costs["total"]["usd"]})
    with atomic_path(out / "DATA_CARD.md") as tmp:
        tmp.write_text(render_card(st, tally, costs, collect, p), encoding="utf-8")
    log.info("assemble: %d rows per variant from %d of %d questions (%s dropped)",
             rows["reasonmed"], st["questions_in_datasets"], st["questions_in"],
             st["questions_dropped"])


if __name__ == "__main__":
    entry(main)

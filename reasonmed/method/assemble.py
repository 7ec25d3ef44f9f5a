"""Assemble (method step S6, docs/method.md sections 9.2, 13): the rows of the ReasonMed /
CoTMed / ResponseMed datasets, one per chosen CoT that survived its tier's pipeline (easy:
ranked; medium: refined; difficult: optimized) and has a summary, and the accounting line of
every collected question (in the datasets, or dropped with the reason).

The three variants share the same rows (same question set, same row count and ids) and
differ only in `output`:

  reasonmed    CoT + Response, joined by the `joiner` template (default: HuatuoGPT-o1's
               "## Thinking ... ## Final Response ...", which the evaluation extractor reads)
  cotmed       CoT only
  responsemed  Response (the summary) only

Every input is ordered by question and joined in lockstep, streaming; paths.jsonl is only
skimmed for the ids of chosen source paths (`scan_paths`). The files the stage writes:
reasonmed/method/formats.py (datasets: JSONL, Parquet with provenance, TRL), and
reasonmed/method/datacard.py (stats.json and DATA_CARD.md).

    python -c "from reasonmed.method.assemble import outputs; print(outputs('c', 'r', '{cot}|{response}'))"
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import field_validator

from reasonmed.core.params import Section
from reasonmed.core.prompting import format_options
from reasonmed.core.records import Chosen, CoTPath, Question, Route, Score, Summary, Verdict
from reasonmed.core.streams import join_by_question

log = logging.getLogger("reasonmed.assemble")

VARIANTS = ("reasonmed", "cotmed", "responsemed")
TIERS = ("easy", "medium", "difficult", "unrouted")
# The stream whose chosen CoTs a tier's rows come from. Refine's stream may hold origin
# "ranked" records too (on_fail: keep_original puts the ranked original back).
STREAM_OF_TIER = {"easy": "ranked", "medium": "refined", "difficult": "optimized"}
WRITER_STEP = {"ranked": "generate", "refined": "refine", "optimized": "optimize"}
STREAMS = ("routes", "verdicts", "scores", "ranked", "refined", "optimized", "summaries",
           "paths")
LEDGER_STAGES = ("generate", "verify", "rank", "refine", "optimize", "summarize")
# The stage's inputs, in command-line order, and where dvc.yaml puts each under data/ (the
# ledgers follow as --ledgers, one per stage of LEDGER_STAGES).
INPUTS = {"questions": "collect/questions.jsonl", "collect_stats": "collect/stats.json",
          "paths": "generate/paths.jsonl", "verdicts": "verify/verdicts.jsonl",
          "routes": "route/routes.jsonl", "scores": "rank/scores.jsonl",
          "ranked": "rank/chosen.jsonl", "refined": "refine/chosen.jsonl",
          "optimized": "optimize/chosen.jsonl", "summaries": "summarize/summaries.jsonl"}


class Params(Section):
    # The paper's exact joiner is unverified (docs/method.md 9.2). Placeholders {cot} and
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


# --- inputs ------------------------------------------------------------------------------


def read_paths(file: str | Path, enabled: bool = True) -> Iterator[PathRef]:
    """paths.jsonl skimmed (scan_paths), opened only once iterated; nothing when disabled
    (`path_provenance: false`)."""
    if enabled:
        with open(file, "rb") as f:
            yield from scan_paths(f)


def read_ledgers(files: Iterable[str | Path]) -> list[dict]:
    """The rows of every stage's ledger.json; a missing one is logged and left out."""
    rows = []
    for f in map(Path, files):
        if f.exists():
            rows += json.loads(f.read_text())
        else:
            log.warning("assemble: %s missing; its cost is not in the table", f)
    return rows


def read_collect(file: str | Path) -> dict:
    """collect's stats.json (the card's collection table), {} when there is none."""
    f = Path(file)
    return json.loads(f.read_text()) if f.exists() else {}


def cli_args(root: str | Path, out: str | Path) -> list[str]:
    """The stage's arguments for a data tree laid out as dvc.yaml lays out data/ (the
    benchmarks and tests build such trees): the inputs, the out folder, the ledgers."""
    root = Path(root)
    return [*(str(root / f) for f in INPUTS.values()), str(out), "--ledgers",
            *(str(root / s / "ledger.json") for s in LEDGER_STAGES)]

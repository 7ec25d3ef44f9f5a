"""The data explorer: a static, offline site over one run's artifacts (stage `explore`).

Not a method step: a view over the artifacts (INPUTS). Per question: the question, its
options and gold answer, its paths (agent, temperature, verdict and reason, ranker score,
chosen marker, CoT), its tier and error count, the refined or optimized CoT beside the
original with its re-verification, the summary, the rows it put in each dataset (or the
accounting reason it was dropped), and, for an RL prompt, each variant's groups of
completions with their rewards (rl/<variant>/samples.jsonl). The list filters by tier,
source, verdict, agent and dataset membership, and searches ids and question text. A
missing artifact is logged, listed on the page and shown as absent.

One page (`index.html` + `app.js` + `style.css`, hand-written in assets/explorer/) reads
its data from JS files that call `window.__shard(kind, n, data)`: a <script> tag loads
from file:// where fetch() of local JSON cannot, so the site opens from disk, no server.

    data/meta.js            counts, facet lists (sources, agents, tiers, drop reasons), layout
    data/index/NNNNN.js     compact list rows, `index_rows_per_shard` per file (INDEX_FIELDS)
    data/search/NNNNN.js    lower-cased question + options text for the same rows (loaded
                            only when someone searches by text)
    data/q/NNNNN.js         full detail of `questions_per_shard` questions: paths, verdicts,
                            scores, chosen / refined / optimized CoTs, summaries, dataset rows

Question i (collect's order) is row i % R of index shard i // R and entry i % Q of detail
shard i // Q. `build_site` streams every artifact through `join_by_question`, so memory is
one detail shard plus one index shard, whatever the corpus size; texts longer than
`max_chars` are cut with a visible marker. Nothing time-dependent is written: the same
artifacts give the same bytes (reasonmed/report/site.py writes them).

    python -c "from reasonmed.report.explorer import clip; print(clip('x' * 30, 10))"
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import Field

from reasonmed.core.params import Section
from reasonmed.core.records import Chosen, CoTPath, Question, Route, Score, Summary, Verdict, read_jsonl
from reasonmed.core.streams import join_by_question
from reasonmed.report.site import js_shard, shard_path

log = logging.getLogger("reasonmed.explore")

VARIANTS = ("reasonmed", "cotmed", "responsemed")
TIERS = ("easy", "medium", "difficult", "unrouted", "no route")
CHOSEN_STREAMS = ("rank", "refine", "optimize")  # the stage that wrote each chosen stream
# One list row, an array (195k of them must stay small); app.js names the same positions.
INDEX_FIELDS = ("id", "source", "tier", "n_paths", "n_error", "n_error_verdicts", "n_unparsed",
                "n_correct", "error_agents", "unparsed_agents", "agents", "rows", "reason",
                "snippet")
MAX_AGENTS = 30  # agent sets are bit masks (JS bit operations are 32-bit)


class Keyed(NamedTuple):
    """A record of an untyped artifact (accounting line, dataset row) for join_by_question."""

    question_id: str
    value: Any


def clip(text: str | None, max_chars: int) -> str | None:
    """`text`, cut to `max_chars` with a visible marker saying how much was left out."""
    if text is None or len(text) <= max_chars:
        return text
    return (f"{text[:max_chars]}\n… [truncated by the explorer: {max_chars:,} of "
            f"{len(text):,} characters shown; the full text is in the artifact]")


_ROW = re.compile(r'^\{"id": ("(?:[^"\\]|\\.)*"), "question_id": ("(?:[^"\\]|\\.)*")')


def scan_rows(lines: Iterable[str]) -> Iterator[Keyed]:
    """Dataset rows as Keyed(question_id, row id), from the line prefix assemble writes (no
    parse of the outputs, which are most of the bytes); another key order is parsed in full."""
    for line in lines:
        if m := _ROW.match(line):
            rid, qid = json.loads(m.group(1)), json.loads(m.group(2))
        elif line.strip():
            d = json.loads(line)
            rid, qid = d["id"], d["question_id"]
        else:
            continue
        yield Keyed(qid, rid)


def scan_accounting(lines: Iterable[str]) -> Iterator[Keyed]:
    for line in lines:
        if line.strip():
            d = json.loads(line)
            yield Keyed(d["question_id"], d)


# --- one question ----------------------------------------------------------------------


def _path(p: CoTPath, v: Verdict | None, s: Score | None, chosen: list[str], max_chars: int,
          raw: bool) -> dict:
    out = {"id": p.id, "agent": p.agent, "model": p.model, "temperature": p.temperature,
           "slot": p.slot, "sample": p.sample, "seed": p.seed, "answer": p.answer,
           "finish_reason": p.finish_reason, "completion_tokens": p.completion_tokens,
           "markers": p.markers, "cot": clip(p.cot, max_chars)}
    if raw and p.text is not None:
        out["text"] = clip(p.text, max_chars)
    out["verdict"] = None if v is None else {
        "verdict": v.verdict, "reason": clip(v.reason, max_chars), "parsed": v.parsed,
        "attempts": v.attempts, "error": clip(v.error, max_chars), "model": v.model}
    out["score"] = None if s is None else {
        "score": s.score, "justification": clip(s.justification, max_chars), "parsed": s.parsed,
        "attempts": s.attempts, "error": clip(s.error, max_chars), "model": s.model}
    out["chosen"] = chosen
    return out


def _chosen(stream: str, c: Chosen, summary: Summary | None, in_rows: list[str],
            max_chars: int) -> dict:
    return {"stream": stream, "id": c.id, "origin": c.origin, "rank": c.rank, "tier": c.tier,
            "source_path_id": c.source_path_id, "agent": c.agent, "model": c.model,
            "temperature": c.temperature, "cot": clip(c.cot, max_chars), "score": c.score,
            "verdict": c.verdict, "verify_reason": clip(c.verify_reason, max_chars),
            "kept": c.kept, "rows": in_rows,
            "history": [{k: clip(v, max_chars) if isinstance(v, str) else v for k, v in h.items()}
                        for h in c.history],
            "summary": None if summary is None else {
                "summary": clip(summary.summary, max_chars), "answer": summary.answer,
                "states_gold": summary.states_gold, "finish_reason": summary.finish_reason,
                "model": summary.model}}


def question_detail(q: Question, paths: list[CoTPath], verdicts: list[Verdict],
                    routes: list[Route], scores: list[Score], chosen: dict[str, list[Chosen]],
                    summaries: list[Summary], account: dict | None,
                    rows: dict[str, list[str]], *, max_chars: int, raw: bool = False) -> dict:
    """Everything the question view shows, for one question (pure). A verdict, score or
    summary that matches no path or chosen CoT is listed under `unmatched`, not dropped."""
    if len(routes) > 1:
        raise ValueError(f"routes: {len(routes)} records for question {q.id}")
    by_path_v = {v.path_id: v for v in verdicts}
    by_path_s = {s.item_id: s for s in scores}
    by_chosen = {s.chosen_id: s for s in summaries}
    refs: dict[str, list[str]] = {}
    for cs in chosen.values():
        for c in cs:
            refs.setdefault(c.source_path_id, []).append(c.id)
    out_paths = [_path(p, by_path_v.pop(p.id, None), by_path_s.pop(p.id, None),
                       refs.get(p.id, []), max_chars, raw) for p in paths]
    out_chosen = []
    for stream in CHOSEN_STREAMS:
        for c in chosen.get(stream, []):
            in_rows = [v for v in VARIANTS if c.id in rows.get(v, ())]
            out_chosen.append(_chosen(stream, c, by_chosen.pop(c.id, None), in_rows, max_chars))
    r = routes[0] if routes else None
    detail = {
        "id": q.id, "source": q.source, "split": q.split, "source_id": q.source_id,
        "question": clip(q.question, max_chars), "context": clip(q.context, max_chars),
        "options": {k: clip(v, max_chars) for k, v in q.options.items()}, "answer": q.answer,
        "answer_text": clip(q.answer_text, max_chars), "meta": q.meta,
        "route": None if r is None else {
            "tier": r.tier, "n_paths": r.n_paths, "n_error": r.n_error, "n_correct": r.n_correct,
            "n_unparsed": r.n_unparsed, "reason": r.reason},
        "paths": out_paths, "chosen": out_chosen, "account": account,
        "rows": {v: list(rows.get(v, [])) for v in VARIANTS},
    }
    unmatched = {k: v for k, v in (
        ("verdicts", [{"path_id": v.path_id, "verdict": v.verdict, "reason": clip(v.reason, max_chars)}
                      for v in by_path_v.values()]),
        ("scores", [{"item_id": s.item_id, "score": s.score} for s in by_path_s.values()]),
        ("summaries", [{"chosen_id": s.chosen_id, "summary": clip(s.summary, max_chars)}
                       for s in by_chosen.values()])) if v}
    if unmatched:
        detail["unmatched"] = unmatched
    return detail


class Interner:
    """Facet values (sources, agents, drop reasons) as small ints, numbered as first seen."""

    def __init__(self, initial: Iterable[str] = ()):
        self.values: list[str] = []
        self.index: dict[str, int] = {}
        for v in initial:
            self(v)

    def __call__(self, value: str) -> int:
        if value not in self.index:
            self.index[value] = len(self.values)
            self.values.append(value)
        return self.index[value]


def index_row(d: dict, sources: Interner, agents: Interner, reasons: Interner,
              snippet_chars: int) -> list:
    """One compact list row (INDEX_FIELDS) from a question's detail."""
    masks = {"Error": 0, None: 0, "agents": 0}
    counts = Counter()
    for p in d["paths"]:
        a = agents(p["agent"])
        if a >= MAX_AGENTS:
            raise ValueError(f"explorer: more than {MAX_AGENTS} agents ({p['agent']})")
        masks["agents"] |= 1 << a
        v = p["verdict"]
        if v is not None:
            counts[v["verdict"]] += 1
            if v["verdict"] != "Correct":
                masks[v["verdict"]] |= 1 << a
    r, acc = d["route"], d["account"]
    tier = r["tier"] if r else "no route"
    n_rows = len(d["rows"]["reasonmed"]) if acc is None else acc.get("rows", 0)
    reason = -1 if acc is None or acc.get("status") == "in_datasets" else reasons(
        acc.get("reason") or "unknown")
    n_error = r["n_error"] if r else counts["Error"]
    return [d["id"], sources(d["source"]), TIERS.index(tier), len(d["paths"]), n_error,
            counts["Error"], counts[None], counts["Correct"], masks["Error"], masks[None],
            masks["agents"], n_rows, reason, snippet(d["question"], snippet_chars)]


def snippet(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n].rstrip() + "…"


def search_text(q: Question, max_chars: int) -> str:
    """What a text search matches: stem, options and source id, folded to lower case, cut
    to `max_chars` (the list loads all of it once someone searches by text)."""
    parts = [q.question, *(f"{k}. {v}" for k, v in q.options.items()), q.source_id or ""]
    return " ".join(" ".join(parts).split()).lower()[:max_chars]


# --- the whole site --------------------------------------------------------------------


def build_site(questions: Iterable[Question], *, paths: Iterable[CoTPath] = (),
               verdicts: Iterable[Verdict] = (), routes: Iterable[Route] = (),
               scores: Iterable[Score] = (), ranked: Iterable[Chosen] = (),
               refined: Iterable[Chosen] = (), optimized: Iterable[Chosen] = (),
               summaries: Iterable[Summary] = (), accounting: Iterable[Keyed] = (),
               rows: dict[str, Iterable[Keyed]] | None = None, questions_per_shard: int,
               index_rows_per_shard: int, page_size: int, max_chars: int, snippet_chars: int,
               search_chars: int, raw_completions: bool = False, missing: Iterable[str] = (),
               rollouts: dict[str, list[dict]] | None = None,
               title: str = "ReasonMed explorer") -> Iterator[tuple[str, str]]:
    """Yield (relative path, text) of every data file of the site, streaming, in question
    order; data/meta.js comes last. Every stream must be ordered by question (collect's
    order), as every pipeline artifact is."""
    rows = rows or {}
    joined = join_by_question(
        questions, paths=paths, verdicts=verdicts, routes=routes, scores=scores, ranked=ranked,
        refined=refined, optimized=optimized, summaries=summaries, accounting=accounting,
        **{f"rows_{v}": rows.get(v, ()) for v in VARIANTS})
    sources, agents, reasons = Interner(), Interner(), Interner()
    counts: Counter = Counter()
    tiers: Counter = Counter()
    detail_buf: list[dict] = []
    index_buf: list[list] = []
    search_buf: list[str] = []
    n_detail = n_index = 0
    for q, ps, vs, rs, ss, rk, rf, op, sm, acc, *ds in joined:
        if len(acc) > 1:
            raise ValueError(f"accounting: {len(acc)} lines for question {q.id}")
        in_rows = {v: [k.value for k in d] for v, d in zip(VARIANTS, ds)}
        d = question_detail(q, ps, vs, rs, ss, {"rank": rk, "refine": rf, "optimize": op}, sm,
                            acc[0].value if acc else None, in_rows, max_chars=max_chars,
                            raw=raw_completions)
        if rollouts and q.id in rollouts:  # the RL stage's groups on this prompt, if any
            d["rl"] = rollouts[q.id]
            counts.update(rl_groups=len(d["rl"]))
        row = index_row(d, sources, agents, reasons, snippet_chars)
        tiers[TIERS[row[2]]] += 1
        counts.update(questions=1, paths=len(ps), verdicts=len(vs), scores=len(ss),
                      chosen=len(rk) + len(rf) + len(op), summaries=len(sm),
                      in_datasets=row[11] > 0, error_verdicts=row[5], unparsed=row[6],
                      **{f"rows_{v}": len(r) for v, r in in_rows.items()})
        detail_buf.append(d)
        index_buf.append(row)
        search_buf.append(search_text(q, search_chars))
        if len(detail_buf) == questions_per_shard:
            yield shard_path("q", n_detail), js_shard("q", n_detail, detail_buf)
            n_detail, detail_buf = n_detail + 1, []
        if len(index_buf) == index_rows_per_shard:
            yield shard_path("index", n_index), js_shard("index", n_index, index_buf)
            yield shard_path("search", n_index), js_shard("search", n_index, search_buf)
            n_index, index_buf, search_buf = n_index + 1, [], []
    if detail_buf:
        yield shard_path("q", n_detail), js_shard("q", n_detail, detail_buf)
        n_detail += 1
    if index_buf:
        yield shard_path("index", n_index), js_shard("index", n_index, index_buf)
        yield shard_path("search", n_index), js_shard("search", n_index, search_buf)
        n_index += 1
    meta = {
        "title": title, "fields": INDEX_FIELDS, "tiers": TIERS,
        "tier_counts": {t: tiers[t] for t in TIERS if tiers[t]},
        "sources": sources.values, "agents": agents.values, "reasons": reasons.values,
        "variants": VARIANTS, "counts": {k: counts[k] for k in sorted(counts)},
        "index_shards": n_index, "detail_shards": n_detail,
        "index_rows_per_shard": index_rows_per_shard, "questions_per_shard": questions_per_shard,
        "page_size": page_size, "max_chars": max_chars, "search_chars": search_chars,
        "missing": sorted(missing),
    }
    yield "data/meta.js", js_shard("meta", 0, meta)


# --- the explore stage -----------------------------------------------------------------


class Params(Section):
    questions_per_shard: int = Field(50, ge=1)  # questions per detail file (what opening one loads)
    index_rows_per_shard: int = Field(5000, ge=1)  # list rows per index / search file
    page_size: int = Field(50, ge=1)  # list rows per page
    max_chars: int = Field(20000, ge=100)  # longer texts are cut, with a visible marker
    snippet_chars: int = Field(120, ge=0)  # question text shown in the list
    search_chars: int = Field(1000, ge=0)  # question + options text a text search matches
    raw_completions: bool = False  # also show a path's raw completion when markers were stripped


# The artifacts explore reads, relative to the data root (--data), and their record types.
INPUTS: dict[str, tuple[str, Any]] = {
    "questions": ("collect/questions.jsonl", Question),
    "paths": ("generate/paths.jsonl", CoTPath), "verdicts": ("verify/verdicts.jsonl", Verdict),
    "routes": ("route/routes.jsonl", Route), "scores": ("rank/scores.jsonl", Score),
    "ranked": ("rank/chosen.jsonl", Chosen), "refined": ("refine/chosen.jsonl", Chosen),
    "optimized": ("optimize/chosen.jsonl", Chosen),
    "summaries": ("summarize/summaries.jsonl", Summary),
    "accounting": ("assemble/accounting.jsonl", scan_accounting),
    **{f"rows_{v}": (f"assemble/datasets/{v}.jsonl", scan_rows) for v in VARIANTS},
}


def read_rollouts(root: Path, max_chars: int,
                  variants: Iterable[str] = VARIANTS) -> dict[str, list[dict]]:
    """question id -> the RL stage's groups on it, for each of `variants` (rl.variants) that
    ran (rl/<variant>/samples.jsonl: the first and last step's completions with each reward
    term; a few per variant, so they are held in memory rather than streamed). A variant
    left out of rl.variants is not shown, even if an earlier run left its file."""
    out: dict[str, list[dict]] = {}
    for v in (v for v in VARIANTS if v in set(variants)):  # the site's order, not params'
        f = root / "rl" / v / "samples.jsonl"
        if not f.exists():
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            g = json.loads(line)
            g["completions"] = [{**c, "text": clip(c.get("text"), max_chars)} for c in g["completions"]]
            out.setdefault(g.pop("question_id"), []).append({"variant": v, **g})
    return out


def run(questions: Iterable[Question], streams: dict[str, Iterable[Any]], p: Params,
        missing: Iterable[str] = ()) -> Iterator[tuple[str, str]]:
    """(relative path, text) of every data file, streaming; `streams` are named as INPUTS."""
    rows = {v: streams.get(f"rows_{v}", ()) for v in VARIANTS}
    named = {k: v for k, v in streams.items() if not k.startswith("rows_")}
    return build_site(
        questions, **named, rows=rows, questions_per_shard=p.questions_per_shard,
        index_rows_per_shard=p.index_rows_per_shard, page_size=p.page_size,
        max_chars=p.max_chars, snippet_chars=p.snippet_chars, search_chars=p.search_chars,
        raw_completions=p.raw_completions, missing=missing)


def open_streams(root: Path, stack: ExitStack) -> tuple[dict[str, Iterable[Any]], list[str]]:
    """Every INPUTS artifact under `root` as a stream (files stay open on `stack`) and the
    ones that are missing; a missing artifact is logged and shown as absent."""
    streams, missing = {}, []
    for name, (rel, reader) in INPUTS.items():
        f = root / rel
        if not f.exists():
            if name == "questions":
                raise SystemExit(f"explore: {f} is missing (run the collect stage first)")
            log.warning("explore: %s missing; the explorer shows no %s", f, name)
            missing.append(rel)
        elif isinstance(reader, type):
            streams[name] = read_jsonl(f, reader)
        else:
            streams[name] = reader(stack.enter_context(open(f, encoding="utf-8")))
    return streams, missing

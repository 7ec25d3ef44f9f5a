"""explore: a static, offline site for looking at one run's data without writing code.

Not a method step: a view over the artifacts. Per question: the question, its options and
gold answer, its 9 paths (agent, temperature, verdict and reason, ranker score, chosen
marker, CoT), its tier and error count, the refined or optimized CoT beside the original
with its re-verification, the summary, and the rows it put in each dataset (or the
accounting reason it was dropped). The list filters by tier, source, verdict, agent and
dataset membership, and searches ids and question text.

Reads (streamed in lockstep, question order; a missing artifact is logged, listed on the
page and shown as absent): data/collect/questions.jsonl, data/generate/paths.jsonl,
data/verify/verdicts.jsonl, data/route/routes.jsonl, data/rank/{scores,chosen}.jsonl,
data/refine/chosen.jsonl, data/optimize/chosen.jsonl, data/summarize/summaries.jsonl,
data/assemble/accounting.jsonl and data/assemble/datasets/{reasonmed,cotmed,responsemed}.jsonl.
Writes reports/explorer/ (index.html + app.js + style.css from assets/explorer/, and the
data shards: see reasonmed/explorer.py). Open reports/explorer/index.html in a browser.

    python -m stages.explore --params params.yaml --data data --out reports/explorer
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pydantic import Field

from reasonmed import explorer
from reasonmed.params import Section, load
from reasonmed.records import Chosen, CoTPath, Question, Route, Score, Summary, Verdict, read_jsonl
from reasonmed.stage import StageRun, entry

log = logging.getLogger("reasonmed.explore")


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
    "accounting": ("assemble/accounting.jsonl", explorer.scan_accounting),
    **{f"rows_{v}": (f"assemble/datasets/{v}.jsonl", explorer.scan_rows)
       for v in explorer.VARIANTS},
}


def run(questions: Iterable[Question], streams: dict[str, Iterable[Any]], p: Params,
        missing: Iterable[str] = ()) -> Iterator[tuple[str, str]]:
    """(relative path, text) of every data file, streaming; `streams` are named as INPUTS."""
    rows = {v: streams.get(f"rows_{v}", ()) for v in explorer.VARIANTS}
    named = {k: v for k, v in streams.items() if not k.startswith("rows_")}
    return explorer.build_site(
        questions, **named, rows=rows, questions_per_shard=p.questions_per_shard,
        index_rows_per_shard=p.index_rows_per_shard, page_size=p.page_size,
        max_chars=p.max_chars, snippet_chars=p.snippet_chars, search_chars=p.search_chars,
        raw_completions=p.raw_completions, missing=missing)


def open_streams(root: Path, stack: ExitStack) -> tuple[dict[str, Iterable[Any]], list[str]]:
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build the static data explorer.")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default="data", help="root of the pipeline's artifacts")
    ap.add_argument("--out", default="reports/explorer")
    a = ap.parse_args(argv)
    job = StageRun("explore")
    p = load("explore", Params, a.params)
    with ExitStack() as stack:
        streams, missing = open_streams(Path(a.data), stack)
        questions = streams.pop("questions")
        written = explorer.write_site(run(questions, streams, p, missing), a.out)
    job.finish(None, None, **written)
    log.info("explore: wrote %d files (%.1f MB) to %s; open %s/index.html", written["files"],
             written["bytes"] / 1e6, a.out, a.out)


if __name__ == "__main__":
    entry(main)

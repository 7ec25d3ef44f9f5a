"""One entry of a section of entries (params `benchmarks` or `external`) -> OUT/<name>.jsonl,
OUT/<name>.rejects/rejects.jsonl and OUT/<name>.stats.json: the body the benchmark and external
stages share.

Each entry is its own DVC stage (`benchmark@medqa`, `external@medical_o1_demo`: dvc.yaml's
foreach over the section), its file a dep wherever it lives, so an entry added in params
alone gets its stage. The file (or hub dataset) is read with collect's readers and record
caps (params `collect.*`). What differs per section is an `EntryKind`: the entry's schema,
how its records are made, its stats (reasonmed/ingest/benchmarks.py and external.py: `KIND`).

    python -m stages.benchmark data/benchmarks --name medqa --params params.yaml
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reasonmed.core.params import load, load_entry, load_run
from reasonmed.core.records import JsonlWriter, Record, Reject, write_json
from reasonmed.core.stage import StageRun
from reasonmed.ingest.specs import Checks, CollectChecks, FileSpec


@dataclass
class Tally:
    """What one entry's run wrote: kept records per result column, rejects per field."""

    kept: Counter = field(default_factory=Counter)
    reject_fields: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class EntryKind:
    section: str  # the params section of entries
    job: str  # the stage; its run log is work/runs/<job>-<name>.json
    what: str  # what one entry is, for --help
    spec: type[FileSpec]  # an entry's schema
    rows: Callable[[str, Any, Checks], Iterable[Record | Reject]]  # (name, spec, checks)
    stats: Callable[[str, Any, Tally], dict]  # (name, spec, tally); may refuse the result
    column: Callable[[str, Any], str] = lambda name, r: name  # (name, kept record)

    def spec_of(self, name: str, params_path: str) -> Any:
        return load_entry(self.section, name, self.spec, params_path)


def run(kind: EntryKind, name: str, params_path: str, out: Path) -> dict:
    """Write the entry's records and rejects, then its stats; return the stats."""
    st = StageRun(f"{kind.job}-{name}", load_run(params_path, seed=False).log_level)
    spec = kind.spec_of(name, params_path)
    checks = load("collect", CollectChecks, params_path)
    tally = Tally()
    with JsonlWriter(out / f"{name}.jsonl") as wk, \
            JsonlWriter(out / f"{name}.rejects" / "rejects.jsonl") as wr:  # a folder: no empty-file warning
        for r in kind.rows(name, spec, checks):
            if isinstance(r, Reject):
                wr.write(r)
                tally.reject_fields[r.field] += 1
            else:
                wk.write(r)
                tally.kept[kind.column(name, r)] += 1
    stats = kind.stats(name, spec, tally)
    st.finish(None, None)
    write_json(out / f"{name}.stats.json", stats)
    return stats


def arguments(kind: EntryKind, argv: list[str] | None = None) -> argparse.Namespace:
    """The stage's command line: OUT --name NAME [--params FILE]."""
    ap = argparse.ArgumentParser(description=f"Normalise one {kind.what}.")
    ap.add_argument("out", help="the folder of the section's outputs")
    ap.add_argument("--name", required=True, help=f"an entry of params `{kind.section}`")
    ap.add_argument("--params", default="params.yaml")
    return ap.parse_args(argv)

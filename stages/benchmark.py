"""benchmark: normalise one evaluation benchmark (an entry of params `benchmarks`).

One DVC stage per entry (`benchmark@medqa`, ...). Reads the source with collect's loaders and
record checks, stamps each question's result column (`meta.subject`, `meta.benchmark`) and
writes OUT/<name>.jsonl, <name>.rejects/rejects.jsonl and <name>.stats.json, which collect
(decontamination) and evaluate read (reasonmed/ingest/benchmarks.py, entries.py).

    python -m stages.benchmark data/benchmarks --name medqa --params params.yaml
"""

from __future__ import annotations

from pathlib import Path

from reasonmed.core.stage import entry
from reasonmed.ingest.benchmarks import KIND
from reasonmed.ingest.entries import arguments, run


def main(argv: list[str] | None = None) -> None:
    a = arguments(KIND, argv)
    run(KIND, a.name, a.params, Path(a.out))


if __name__ == "__main__":
    entry(main)

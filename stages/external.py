"""external: normalise one external reasoning dataset (an entry of params `external`).

One DVC stage per entry (`external@medical_o1_demo`, ...), so a dataset added in params alone
is scored beside the three variants. Reads the file (or hub dataset) with collect's readers
and record caps, maps its fields and writes OUT/<name>.jsonl (rows the score stage samples
like a variant's), <name>.rejects/rejects.jsonl and <name>.stats.json (reasonmed/ingest/external.py,
entries.py).

    python -m stages.external data/external --name medical_o1_demo --params params.yaml
"""

from __future__ import annotations

from pathlib import Path

from reasonmed.core.stage import entry
from reasonmed.ingest.entries import arguments, run
from reasonmed.ingest.external import KIND


def main(argv: list[str] | None = None) -> None:
    a = arguments(KIND, argv)
    run(KIND, a.name, a.params, Path(a.out))


if __name__ == "__main__":
    entry(main)

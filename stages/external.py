"""external: normalise one external reasoning dataset (an entry of params `external`).

One DVC stage per entry (`external@medical_o1`, ...: dvc.yaml's foreach over the section),
its file a dep wherever it lives, so a dataset added in params alone is scored beside the
three variants. Reads the file (or hub dataset) with collect's readers and record caps, maps
its fields (reasonmed/external.py) and writes data/external/<name>.jsonl (rows the score
stage samples like a variant's), <name>.rejects.jsonl (record, field and reason of every
record left out) and <name>.stats.json.

    python -m stages.external --name medical_o1 --params params.yaml --out data/external
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from reasonmed.external import External, Item, read
from reasonmed.params import load, load_entry, load_run
from reasonmed.records import JsonlWriter, write_json
from reasonmed.sources import Checks, CollectChecks
from reasonmed.stage import StageRun, entry


def external_spec(name: str, params_path: str) -> External:
    return load_entry("external", name, External, params_path)


def run(name: str, spec: External, checks: Checks, out: Path) -> dict:
    """Write the dataset's rows and rejects; return its counts."""
    counts: Counter = Counter()
    with JsonlWriter(out / f"{name}.jsonl") as wi, \
            JsonlWriter(out / f"{name}.rejects.jsonl") as wr:
        for r in read(name, spec, checks):
            if isinstance(r, Item):
                wi.write(r)
                counts["rows"] += 1
            else:
                wr.write(r)
                counts[f"rejected: {r.field}"] += 1
    if not counts["rows"]:
        raise SystemExit(f"external dataset '{name}' ({spec.path or spec.dataset}): no usable "
                         f"record ({dict(counts) or 'the file is empty'}); check its `fields:`")
    rejected = {k.removeprefix("rejected: "): v for k, v in sorted(counts.items())
                if k.startswith("rejected: ")}
    return {"dataset": name, "rows": counts["rows"], "rejected": sum(rejected.values()),
            "reject_fields": rejected}


def main() -> None:
    ap = argparse.ArgumentParser(description="Normalise one external reasoning dataset.")
    ap.add_argument("--name", required=True, help="an entry of params `external`")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/external")
    a = ap.parse_args()
    st = StageRun(f"external-{a.name}", load_run(a.params, seed=False).log_level)
    spec, out = external_spec(a.name, a.params), Path(a.out)
    checks = load("collect", CollectChecks, a.params)
    stats = run(a.name, spec, checks, out)
    st.finish(None, None)
    write_json(out / f"{a.name}.stats.json", stats)


if __name__ == "__main__":
    entry(main)

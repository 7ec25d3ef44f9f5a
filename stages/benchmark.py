"""benchmark: normalise one evaluation benchmark (an entry of params `benchmarks`).

One DVC stage per entry (`benchmark@medqa`, ...: dvc.yaml's foreach over the section), so a
benchmark added in params alone gets its own stage, with its file as a dep wherever it lives.
Reads the source with the same loaders and record checks as collect, stamps each question's
result column (`meta.subject` by the entry's `subject` rule, `meta.benchmark`), and writes
data/benchmarks/<name>.jsonl (Questions), <name>.rejects.jsonl and <name>.stats.json. Both
collect (decontamination) and evaluate read these files: the one benchmark list.

    python -m stages.benchmark --name medqa --params params.yaml --out data/benchmarks
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from reasonmed.benchmarks import Benchmark, path_of, stamp
from reasonmed.params import load, load_entry, load_run
from reasonmed.records import JsonlWriter, Question, Reject, write_json
from reasonmed.sources import CollectChecks, load_source, require_valid
from reasonmed.stage import StageRun, entry


def benchmark_spec(name: str, params_path: str) -> Benchmark:
    return load_entry("benchmarks", name, Benchmark, params_path)


def run(name: str, spec: Benchmark, records: Iterable[Question | Reject]) -> Iterator[Question | Reject]:
    """The benchmark's records, questions stamped with their result column."""
    return stamp(records, spec.rule(), name)


def main() -> None:
    ap = argparse.ArgumentParser(description="Normalise one evaluation benchmark.")
    ap.add_argument("--name", required=True, help="an entry of params `benchmarks`")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/benchmarks")
    a = ap.parse_args()
    st = StageRun(f"benchmark-{a.name}", load_run(a.params, seed=False).log_level)
    spec, out = benchmark_spec(a.name, a.params), Path(a.out)
    checks = load("collect", CollectChecks, a.params)
    counts, subjects = Counter(), Counter()
    with JsonlWriter(path_of(out, a.name)) as wq, \
            JsonlWriter(out / f"{a.name}.rejects.jsonl") as wr:
        for r in run(a.name, spec, require_valid(spec, load_source(spec, checks), "benchmark")):
            if isinstance(r, Question):
                wq.write(r)
                counts["items"] += 1
                subjects[r.meta.get("subject") or a.name] += 1
            else:
                wr.write(r)
                counts["rejected"] += 1
                counts[f"rejected: {r.field}"] += 1
    st.finish(None, None)
    write_json(out / f"{a.name}.stats.json", {
        "benchmark": a.name, "items": counts["items"], "rejected": counts["rejected"],
        "reject_fields": {k[len("rejected: "):]: v for k, v in sorted(counts.items())
                          if k.startswith("rejected: ")},
        "columns": dict(sorted(subjects.items()))})


if __name__ == "__main__":
    entry(main)

#!/usr/bin/env python3
"""The workspace and every experiment in one table that fits 120 columns: the headline
accuracy (%) of each evaluated row (reports/metrics.json `accuracy`, the scorer its
`accuracy_metric` names), then the params each row changes against its baseline commit.
`dvc exp show --md --only-changed` puts every changed metric and dep beside them (one
experiment: 43 columns, 1,757 characters), and DVC cannot rename its columns, so even the
accuracy columns alone are 144 wide there. Arguments go to `dvc exp show` (`make results
ARGS=-A`: experiments of all commits):

    python scripts/results.py -n 2
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

WIDTH = 120
METRICS, KEY = "reports/metrics.json", "accuracy"
HEADER_MAX = 11  # a longer row name wraps at its underscores onto a second header line
GAP = "  "
PARAMS_MIN = 24  # a narrower column leaves the changed params to lines under their row


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def params_of(data: dict | None) -> dict:
    files = (data or {}).get("params") or {}
    return {k: v for f in files.values() for k, v in flatten(f.get("data") or {}).items()}


def changes(params: dict, base: dict) -> list[str]:
    def fmt(v):
        return "(none)" if v is None else v if isinstance(v, str) else json.dumps(v)
    return [f"{k}={fmt(params.get(k))}" for k in sorted(params.keys() | base.keys())
            if params.get(k) != base.get(k)]


def rows_of(entries: list[dict]) -> list[tuple[str, dict | None, list[str]]]:
    """(label, data, changed params) per row: the workspace against the first baseline, each
    experiment against its own baseline."""
    rows = []
    baselines = [e for e in entries if e.get("rev") != "workspace"]
    first = params_of(baselines[0].get("data")) if baselines else {}
    for e in entries:
        data = e.get("data")
        if e.get("rev") == "workspace":
            rows.append(("workspace", data, changes(params_of(data), first)))
            continue
        base = params_of(data)
        rows.append((e.get("name") or e["rev"][:7], data, [] if data else ["(failed)"]))
        for x in e.get("experiments") or []:
            rev = (x.get("revs") or [{}])[0]
            label = "  " + (x.get("name") or rev.get("name") or str(rev.get("rev"))[:7])
            d = rev.get("data")
            rows.append((label, d, changes(params_of(d), base) if d else ["(failed)"]))
    return rows


def headline(data: dict | None) -> dict:
    return (((data or {}).get("metrics") or {}).get(METRICS, {}).get("data") or {})


def header_lines(name: str) -> list[str]:
    if len(name) <= HEADER_MAX:
        return [name]
    lines = [""]
    for part in name.replace("_", "_\0").split("\0"):
        if lines[-1] and len(lines[-1]) + len(part) > HEADER_MAX:
            lines.append("")
        lines[-1] += part
    return lines


def wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False,
                         break_long_words=len(max(text.split(), key=len, default="")) > width)


def table(entries: list[dict], width: int = WIDTH) -> str:
    rows = rows_of(entries)
    cols: list[str] = []
    for _, data, _ in rows:
        cols += [c for c in headline(data).get(KEY) or {} if c not in cols]
    scorer = next((headline(d).get(f"{KEY}_metric") for _, d, _ in rows
                   if headline(d).get(f"{KEY}_metric")), "")
    cells = [[f"{v:.2f}" if isinstance(v, (int, float)) else "-"
              for v in ((headline(d).get(KEY) or {}).get(c) for c in cols)] for _, d, _ in rows]
    heads = [["Experiment"]] + [header_lines(c) for c in cols]
    widths = [max(len(r[0]) for r in rows + [("Experiment",)])] + [
        max(max(map(len, h)), *(len(r[i]) for r in cells)) for i, h in enumerate(heads[1:])]
    used = sum(widths) + len(GAP) * len(widths)
    column = width - used if width - used >= PARAMS_MIN else 0
    depth = max(map(len, heads))
    out = [f"{scorer} {KEY} (%) per evaluated row ({METRICS}); changed params against the "
           "baseline commit"]
    for k in range(depth):
        parts = [(h[k] if k < len(h) else "").ljust(w) if i == 0 else
                 (h[k] if k < len(h) else "").rjust(w) for i, (h, w) in enumerate(zip(heads, widths))]
        last = "changed params" if column and k == depth - 1 else ""
        out.append(GAP.join(parts + [last]).rstrip())
    for (label, _, changed), vals in zip(rows, cells):
        line = GAP.join([label.ljust(widths[0])] + [v.rjust(w) for v, w in zip(vals, widths[1:])])
        # wrapped between changes only; one that cannot fit the column goes below the row
        text = ", ".join(changed)
        if column and all(len(c) < column for c in changed):
            wrapped = wrap(text, column) or [""]
            out.append((line + GAP + wrapped[0]).rstrip())
            out += [" " * used + w for w in wrapped[1:]]
        else:
            out.append(line.rstrip())
            out += ["    " + w for w in wrap(text, width - 4)]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    r = subprocess.run(["dvc", "exp", "show", "--json", "--no-pager", *argv],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr or r.stdout)
        return r.returncode
    print(table(json.loads(r.stdout)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

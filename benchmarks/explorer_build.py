"""Explorer build time and site size (stage `explore`): the sample, a scale-up, paper-shaped data.

  sample    python -m stages.explore over a data folder (default data/: the tiny default run)
  scale-up  the same artifacts repeated with new question ids up to --questions (default
            5,000), in a temp folder: same texts, so the same bytes per question
  paper     with --paper N: benchmarks/data_plane.py's synthetic paper-shaped run of N
            questions (2-4 KB CoTs, refined and optimized CoTs, summaries) through route,
            rank selection and assemble, then explore

Each build runs in its own process (wall s, peak RSS from os.wait4). Prints files, MB,
bytes per question and the largest data file of each kind; with --browser, the seconds
headless Chromium takes to load the whole list, to open a question and to load the search
text. Asserts nothing; temp folders are deleted at the end.

    python benchmarks/explorer_build.py --data data --questions 5000 --paper 20000 --browser
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data_plane import generate  # noqa: E402
from reasonmed.method.assemble import cli_args  # noqa: E402
from reasonmed.report.explorer import INPUTS  # noqa: E402

EXPLORE = {"questions_per_shard": 50, "index_rows_per_shard": 5000, "page_size": 50,
           "max_chars": 20000, "snippet_chars": 120, "search_chars": 1000, "raw_completions": False}


def timed(cmd: list[str], cwd: Path, log) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB, exit code) of one child process, run in `cwd` (its run
    log goes to cwd/work/runs, not the repo's). CPU s (user + system) is the figure that
    holds on a busy machine."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    _, status, usage = os.wait4(proc.pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - t0, cpu, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def with_explore(params: Path, dst: Path) -> Path:
    """A copy of `params` with an `explore` section (the defaults above) when it has none."""
    import yaml
    p = yaml.safe_load(params.read_text())
    p.setdefault("explore", EXPLORE)
    dst.write_text(yaml.safe_dump(p, sort_keys=False))
    return dst


def scale_up(src: Path, dst: Path, n: int) -> int:
    """Repeat the explorer's inputs under `src` with new question ids until >= n questions."""
    qids = [line[7:23] for line in (src / INPUTS["questions"][0]).read_text().splitlines()
            if line.startswith('{"id":"')]
    copies = -(-n // len(qids))
    pat = re.compile("|".join(map(re.escape, qids)))
    maps = [{q: hashlib.sha256(f"{q}:{k}".encode()).hexdigest()[:16] for q in qids}
            for k in range(copies)]
    for rel, _ in INPUTS.values():
        if not (src / rel).exists():
            continue
        text = (src / rel).read_text(encoding="utf-8")
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        with open(dst / rel, "w", encoding="utf-8") as f:
            for m in maps:
                f.write(pat.sub(lambda x, m=m: m[x.group(0)], text))
    return copies * len(qids)


def site_figures(site: Path) -> dict:
    files = [f for f in site.rglob("*") if f.is_file()]
    largest = {}
    for kind in ("index", "search", "q"):
        sizes = [f.stat().st_size for f in (site / "data" / kind).glob("*.js")]
        largest[kind] = max(sizes, default=0)
    return {"files": len(files), "bytes": sum(f.stat().st_size for f in files), "largest": largest}


def build(name: str, data: Path, params: Path, out: Path, n: int) -> None:
    cmd = [sys.executable, "-m", "stages.explore", str(data), str(out), "--params", str(params)]
    with open(out.parent / f"{out.name}.log", "w") as log:
        wall, cpu, rss, rc = timed(cmd, out.parent, log)
    if rc:
        print(f"{name}: FAILED (exit {rc}):\n{(out.parent / f'{out.name}.log').read_text()[-2000:]}")
        return
    s = site_figures(out)
    lg = s["largest"]
    print(f"{name:<10}{n:>9,}{wall:>9.1f}{cpu:>8.1f}{rss:>8.0f}{s['files']:>8,}{s['bytes'] / 1e6:>10.1f}"
          f"{s['bytes'] / n / 1e3:>9.1f}   index {lg['index'] / 1e3:.0f} KB, search "
          f"{lg['search'] / 1e3:.0f} KB, q {lg['q'] / 1e6:.2f} MB")


def browser_timings(site: Path, chromium: str) -> str:
    from playwright.sync_api import sync_playwright
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=chromium,
                                                    headless=True, args=args)
        page = ctx.new_page()
        t0 = time.perf_counter()
        page.goto((site / "index.html").as_uri(), wait_until="commit")  # not "load": it waits
        # for every index file the page adds
        page.wait_for_selector("#list tbody tr[data-id]", timeout=120_000)
        first = time.perf_counter() - t0
        page.wait_for_selector("body[data-index=loaded]", timeout=300_000)
        whole = time.perf_counter() - t0
        t0 = time.perf_counter()
        page.click("#list tbody tr[data-id] td.snippet")
        page.wait_for_selector("body[data-view=question]", timeout=120_000)
        question = time.perf_counter() - t0
        t0 = time.perf_counter()
        page.go_back()
        page.fill("#f-search", "zzzz no such text")
        page.wait_for_selector("body[data-search=loaded]", timeout=300_000)
        search = time.perf_counter() - t0
        ctx.close()
    return (f"first page {first:.2f} s, whole list {whole:.2f} s, open a question "
            f"{question:.2f} s, load the search text {search:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT / "data"), help="a run's artifacts (read only)")
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--questions", type=int, default=5000, help="scale-up size")
    ap.add_argument("--paper", type=int, default=0, help="paper-shaped synthetic questions")
    ap.add_argument("--browser", action="store_true", help="also time the sites in Chromium")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--dir", help="parent of the temp folder (default: system temp)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="explorer-bench-", dir=a.dir))
    try:
        params = with_explore(Path(a.params), tmp / "params.yaml")
        data = Path(a.data)
        n_sample = sum(1 for _ in open(data / INPUTS["questions"][0], encoding="utf-8"))
        sites = [("sample", data, n_sample)]
        t0 = time.perf_counter()
        n_up = scale_up(data, tmp / "scaled", a.questions)
        print(f"scale-up: {n_up:,} questions written in {time.perf_counter() - t0:.1f} s")
        sites.append(("scale-up", tmp / "scaled", n_up))
        if a.paper:
            root = tmp / "paper"
            t0 = time.perf_counter()
            generate(root, a.paper, 0, str(params))
            py = sys.executable
            for cmd in ([py, "-m", "stages.route", str(root / "collect/questions.jsonl"),
                         str(root / "verify/verdicts.jsonl"), str(root / "route"), "--params",
                         str(params)],
                        [py, str(ROOT / "benchmarks/data_plane.py"), "--rank-step", str(root),
                         "--params", str(params)],
                        [py, "-m", "stages.assemble", *cli_args(root, root / "assemble"),
                         "--params", str(params)]):
                with open(tmp / "paper.log", "a") as log:
                    if timed(cmd, tmp, log)[3]:
                        sys.exit(f"paper-shaped data: {' '.join(cmd[1:3])} failed; see {tmp / 'paper.log'}")
            inputs = sum((root / rel).stat().st_size for rel, _ in INPUTS.values())
            print(f"paper-shaped: {a.paper:,} questions ({inputs / 1e6:.0f} MB of explorer inputs)"
                  f" written in {time.perf_counter() - t0:.0f} s")
            sites.append(("paper", root, a.paper))
        print(f"\n{'site':<10}{'questions':>9}{'wall s':>9}{'CPU s':>8}{'RSS MB':>8}{'files':>8}"
              f"{'size MB':>10}{'KB/q':>9}   largest data file")
        for name, d, n in sites:
            build(name, d, params, tmp / f"site-{name}", n)
        if a.browser:
            print()
            for name, _, _ in sites:
                if (tmp / f"site-{name}/data/meta.js").exists():
                    print(f"{name}: {browser_timings(tmp / f'site-{name}', a.chromium)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

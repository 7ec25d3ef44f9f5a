"""Paper-scale data plane: route, rank selection and assemble on synthetic data, no models.

Writes a synthetic run into a temp folder in the layout of data/ (195k questions, 9 paths
each with 2-4 KB CoTs stored twice as in generate's records (raw `text` and `cot`), ~74%
Correct verdicts, ranker scores, refined and optimized CoTs, summaries and ledgers: every
model output precomputed), then times each step in its own process and reads that
process's peak RSS (os.wait4):

  route           python -m stages.route (verdicts -> tiers)
  rank selection  reasonmed.method.rank's join + skip_reason + select_top + to_chosen over the
                  precomputed scores: the rank stage minus the model calls
  assemble        python -m stages.assemble (datasets, Parquet, accounting, card)

Target on a 2-core laptop-class machine: the three steps under 3 minutes and under 2 GiB
peak RSS each. Prints the figures; asserts nothing. The temp folder is deleted at the end.

    python benchmarks/data_plane.py --questions 20000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reasonmed.core.params import load  # noqa: E402
from reasonmed.core.records import LETTERS, question_id  # noqa: E402
from reasonmed.method.assemble import cli_args  # noqa: E402

AGENTS = ("agent1", "agent2", "agent3")
TEMPS = (0.7, 0.9, 1.0)
# Paper composition (docs/method.md section 2): MedMCQA dominates.
SOURCES = (("medmcqa", 182822), ("medqa", 11450), ("pubmedqa", 500), ("mmlu", 153))
BYTES_PER_QUESTION = 110_000  # all artifacts written, measured (~97 KB) + margin


# --- synthetic text ------------------------------------------------------------------


class Text:
    """Random word-like text from a fixed pool of blocks: fast, JSON-safe (no quotes)."""

    def __init__(self, rng: random.Random, n_blocks: int = 512):
        letters = "abcdefghiklmnoprstuy"
        vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 11)))
                 for _ in range(3000)]
        text = " ".join(rng.choice(vocab) + ("." if rng.random() < 0.07 else "")
                        for _ in range(600_000))
        self.big, self.rng = text, rng
        self.blocks = [self.take(rng.randint(2000, 4000)) for _ in range(n_blocks)]

    def take(self, n: int) -> str:
        i = self.rng.randrange(len(self.big) - n)
        return self.big[i:i + n]

    def block(self) -> str:
        return self.blocks[self.rng.randrange(len(self.blocks))]


def jline(**kv) -> str:
    return json.dumps(kv, ensure_ascii=False) + "\n"


def generate(root: Path, n: int, seed: int, params: str) -> dict:
    """Write every input of route, rank selection and assemble for `n` questions."""
    from reasonmed.method.rank import Params as RankParams
    from reasonmed.method.rank import select_top
    from reasonmed.method.route import Params as RouteParams
    from reasonmed.method.route import tier_of

    rng, bands = random.Random(seed), load("route", RouteParams, params).bands
    rp = load("rank", RankParams, params)
    t = Text(rng)
    weights = [w for _, w in SOURCES]
    for d in ("collect", "generate", "verify", "route", "rank", "refine", "optimize", "summarize"):
        (root / d).mkdir(parents=True, exist_ok=True)
    f = {k: open(root / p, "w", encoding="utf-8", buffering=1 << 20) for k, p in {
        "q": "collect/questions.jsonl", "p": "generate/paths.jsonl",
        "v": "verify/verdicts.jsonl", "s": "rank/scores.jsonl", "rf": "refine/chosen.jsonl",
        "op": "optimize/chosen.jsonl", "su": "summarize/summaries.jsonl"}.items()}
    counts = {"easy": 0, "medium": 0, "difficult": 0, "unrouted": 0}
    collect: dict[str, int] = {}
    for i in range(n):
        source = rng.choices(SOURCES, weights)[0][0]
        collect[source] = collect.get(source, 0) + 1
        n_opt = 5 if source == "medqa" else 4
        opts = {LETTERS[k]: t.take(rng.randint(8, 40)) for k in range(n_opt)}
        stem = t.take(rng.randint(300, 900))
        ctx = t.take(1500) if source == "pubmedqa" else None
        qid, gold = question_id(stem, opts, ctx), rng.choice(list(opts))
        f["q"].write(jline(id=qid, source=source, split="train", question=stem, options=opts,
                           answer=gold, answer_text=opts[gold], context=ctx,
                           source_id=f"{source}-{i}", meta={}))
        # Per-question pass probability ~ Beta(2.2, 0.8): mean 0.73, most questions easy,
        # a tail of hard ones (paper: ~74% of paths pass, per a third-party summary).
        p_ok = rng.betavariate(2.2, 0.8)
        paths, verdicts = [], {}
        for a in AGENTS:
            for slot, temp in enumerate(TEMPS):
                pid = f"{qid}/{a}/t{slot}s0"
                cot = t.block()
                v = None if rng.random() < 0.002 else ("Correct" if rng.random() < p_ok else "Error")
                verdicts[pid] = v
                paths.append((pid, a, temp, cot))
                ntok = len(cot) // 4
                f["p"].write(
                    f'{{"id":"{pid}","question_id":"{qid}","agent":"{a}","backend":"vllm",'
                    f'"model":"org/{a}-70B","revision":"r1","temperature":{temp},"top_p":0.9,'
                    f'"slot":{slot},"sample":0,"seed":{rng.getrandbits(31)},"prompt_hash":"ph",'
                    f'"cot":"{cot}","markers":[],"answer":"{gold}",'
                    f'"finish_reason":"stop","prompt_tokens":420,"completion_tokens":{ntok}}}\n')
                f["v"].write(jline(path_id=pid, question_id=qid, agent=a, temperature=temp,
                                   verdict=v, reason=None if v is None else t.take(150),
                                   parsed=v is not None, attempts=1 if v else 3,
                                   error=None if v else "no JSON object", model="org/verifier",
                                   prompt_hash="vh", prompt_tokens=1200, completion_tokens=60))
        n_err = sum(v != "Correct" for v in verdicts.values())  # route.unparsed = error
        tier = tier_of(n_err, bands) or "unrouted"
        counts[tier] += 1
        chosen = []
        if tier in ("easy", "medium"):
            scored = [x for x in paths if verdicts[x[0]] == "Correct"]
            scores = [None if rng.random() < 0.005 else rng.randint(2, 5) for _ in scored]
            for (pid, *_), s in zip(scored, scores):
                f["s"].write(jline(item_id=pid, question_id=qid, score=s,
                                   justification=t.take(80), parsed=s is not None,
                                   attempts=1, error=None, model="org/verifier",
                                   prompt_hash="rh", prompt_tokens=1300, completion_tokens=40))
            chosen = [(scored[j], scores[j], k) for k, j in enumerate(select_top(scores, rp.k))]
        out_ids = []
        if tier == "easy":
            out_ids = [f"{x[0]}/ranked{k}" for x, _, k in chosen]
        elif tier == "medium":
            for (pid, a, temp, _), s, k in chosen:
                cid, kept = f"{pid}/refined{k}", rng.random() < 0.92
                f["rf"].write(chosen_line(t, cid, qid, tier, "refined", pid, k, a, temp, s, kept))
                out_ids += [cid] if kept else []
        elif tier == "difficult":
            src = next((x for x in paths if verdicts[x[0]] == "Correct"), paths[0])
            for k in range(2):
                cid, kept = f"{src[0]}/optimized{k}", rng.random() < 0.85
                f["op"].write(chosen_line(t, cid, qid, tier, "optimized", src[0], k, src[1],
                                          1.0, None, kept))
                out_ids += [cid] if kept else []
        for cid in out_ids:
            if rng.random() < 0.995:  # a few summaries missing: dropped with a reason
                letter = gold if rng.random() < 0.97 else None
                f["su"].write(jline(chosen_id=cid, question_id=qid,
                                    summary=f"The answer is {letter}. " + t.take(rng.randint(200, 500)),
                                    answer=letter, states_gold=letter == gold,
                                    finish_reason="stop", model="gpt-4o-mini", prompt_hash="sh",
                                    prompt_tokens=900, completion_tokens=90))
    for x in f.values():
        x.close()
    write_ledgers(root, n)
    (root / "collect/stats.json").write_text(json.dumps(
        {"sources": {s: {"in": c, "kept": c} for s, c in collect.items()}}))
    return counts


def chosen_line(t: Text, cid, qid, tier, origin, src, k, agent, temp, score, kept) -> str:
    step = origin[:-1]  # refine / optimize
    cot = t.block() + " " + t.take(1000)  # rewrites run longer than the originals
    hist = [{"step": "generate", "path_id": src, "completion_tokens": 700},
            {"step": step, "model": "gpt-4o", "completion_tokens": len(cot) // 4},
            {"step": "reverify", "verdict": "Correct" if kept else "Error"}]
    return jline(id=cid, question_id=qid, tier=tier, origin=origin, source_path_id=src,
                 rank=k, agent=agent, model="gpt-4o", temperature=temp, cot=cot, score=score,
                 verdict="Correct" if kept else "Error", verify_reason=t.take(120),
                 kept=kept, history=hist, prompt_tokens=3000, completion_tokens=len(cot) // 4)


def write_ledgers(root: Path, n: int) -> None:
    """Paper-shaped ledgers (vLLM TP 8 for agents and judges, API models for the rest)."""
    def row(stage, role, backend, model, requests, pt, ct, dev=8, gen_s=0.0):
        return {"stage": stage, "role": role, "backend": backend, "model": model,
                "devices": dev if backend == "vllm" else 1, "requests": requests,
                "cache_hits": 0, "model_calls": requests, "prompt_tokens": requests * pt,
                "completion_tokens": requests * ct, "generate_s": gen_s, "load_s": 0.0}
    rows = {
        "generate": [row("generate", a, "vllm", f"org/{a}-70B", 3 * n, 420, 750,
                         gen_s=3 * n * 750 / 2500) for a in AGENTS],
        "verify": [row("verify", "verifier", "vllm", "org/verifier", 9 * n, 1200, 60,
                       gen_s=9 * n * 60 / 3000)],
        "rank": [row("rank", "ranker", "vllm", "org/verifier", 6 * n, 1300, 40,
                     gen_s=6 * n * 40 / 3000)],
        "refine": [row("refine", "refiner", "openai", "gpt-4o", n // 5, 3000, 1000)],
        "optimize": [row("optimize", "optimizer", "openai", "o1-mini", n // 6, 3000, 2500)],
        "summarize": [row("summarize", "summarizer", "openai", "gpt-4o-mini", 2 * n, 900, 90)],
    }
    for stage, r in rows.items():
        (root / stage / "ledger.json").write_text(json.dumps(r))


# --- the rank selection step (runs in its own process) -------------------------------


def rank_select(root: Path, params: str) -> None:
    """The rank stage without its model: join, skip, select_top and to_chosen per question."""
    from reasonmed.core.records import CoTPath, JsonlWriter, Question, Route, Score, read_jsonl
    from reasonmed.core.streams import Aligned
    from reasonmed.method.rank import Params, join, select_top, skip_reason, to_chosen

    p = load("rank", Params, params)
    scores = Aligned("scores", read_jsonl(root / "rank/scores.jsonl", Score))
    triples = join(read_jsonl(root / "collect/questions.jsonl", Question),
                   read_jsonl(root / "generate/paths.jsonl", CoTPath),
                   read_jsonl(root / "route/routes.jsonl", Route))
    with JsonlWriter(root / "rank/chosen.jsonl") as w:
        for q, r, paths in triples:
            by_id = {s.item_id: s for s in scores.take(q.id)}
            scored = [(x, by_id[x.id]) for x in paths if skip_reason(r, x) is None]
            top = select_top([s.score for _, s in scored], p.k, p.unparsed)
            w.write_all(to_chosen(r, *scored[i], k) for k, i in enumerate(top))
    scores.check_done()


# --- timing --------------------------------------------------------------------------


def timed(cmd: list[str], log) -> tuple[float, float, int]:
    """(wall s, peak RSS MiB, exit code) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, proc.returncode


def du(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--questions", type=int, default=195_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--dir", help="parent of the temp folder (default: system temp)")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic data")
    ap.add_argument("--rank-step", help=argparse.SUPPRESS)  # internal: run rank selection
    a = ap.parse_args()
    if a.rank_step:
        return rank_select(Path(a.rank_step), a.params)
    parent = Path(a.dir or tempfile.gettempdir())
    need, free = a.questions * BYTES_PER_QUESTION / 2**30, shutil.disk_usage(parent).free / 2**30
    if need > free * 0.9:
        sys.exit(f"need ~{need:.0f} GiB in {parent}, {free:.0f} GiB free: use --dir or fewer questions")
    root = Path(tempfile.mkdtemp(prefix="data-plane-", dir=parent))
    py = sys.executable
    try:
        t0 = time.perf_counter()
        tiers = generate(root, a.questions, a.seed, a.params)
        gen_s = time.perf_counter() - t0
        paths_gib = (root / "generate/paths.jsonl").stat().st_size / 2**30
        print(f"synthetic data: {a.questions:,} questions, {9 * a.questions:,} paths "
              f"({paths_gib:.2f} GiB of paths, {du(root):.2f} GiB in all) in {gen_s:.0f} s; "
              f"tiers {tiers}")
        steps = [
            ("route", [py, "-m", "stages.route", str(root / "collect/questions.jsonl"),
                       str(root / "verify/verdicts.jsonl"), str(root / "route"),
                       "--params", a.params]),
            ("rank selection", [py, __file__, "--rank-step", str(root), "--params", a.params]),
            ("assemble", [py, "-m", "stages.assemble", *cli_args(root, root / "assemble"),
                          "--params", a.params]),
        ]
        total_s, peak = 0.0, 0.0
        print(f"\n{'step':<16}{'wall s':>9}{'peak RSS MiB':>14}")
        for name, cmd in steps:
            with open(root / f"{name.replace(' ', '_')}.log", "w") as log:
                wall, rss, rc = timed(cmd, log)
            total_s, peak = total_s + wall, max(peak, rss)
            print(f"{name:<16}{wall:>9.1f}{rss:>14.0f}")
            if rc:
                log_tail = (root / f"{name.replace(' ', '_')}.log").read_text()[-3000:]
                print(f"FAILED (exit {rc}):\n{log_tail}")
                break
        print(f"{'total':<16}{total_s:>9.1f}{peak:>14.0f}")
        ok = total_s < 180 and peak < 2048
        print(f"\ntarget (< 180 s, < 2048 MiB per step): {'met' if ok else 'NOT met'}")
        st = root / "assemble/stats.json"
        if st.exists():
            s = json.loads(st.read_text())
            print(f"assemble: {s['rows']['reasonmed']:,} rows per variant from "
                  f"{s['questions_in_datasets']:,} questions; dropped {s['dropped_by_reason']}; "
                  f"datasets {du(root / 'assemble/datasets'):.2f} GiB")
    finally:
        if a.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

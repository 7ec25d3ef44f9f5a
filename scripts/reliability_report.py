"""Write reports/reliability.md from real runs: the LLM layer against the fault-injecting
OpenAI-compatible server (20 % faults; the failure budget; an expired key), the real collect
stage on the generated hostile corpus (four formats), and every judge parser over the
adversarial reply table with its worst-case timings. Figures only: the tests assert them.

    python scripts/reliability_report.py            # about a minute; writes reports/reliability.md
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reasonmed.core.failures import BudgetExceeded, Failures  # noqa: E402
from reasonmed.core.params import RunParams  # noqa: E402
from reasonmed.llm.client import LLM  # noqa: E402
from reasonmed.llm.types import FatalBackendError  # noqa: E402
from reasonmed.method.judging import MAX_REPLY_CHARS, ParseError  # noqa: E402
from tests import hostile_corpus as hc  # noqa: E402
from tests import test_faults as tf  # noqa: E402
from tests import test_judging as tj  # noqa: E402
from tests.fault_server import serve  # noqa: E402

N_REQUESTS = 400


def faults(tmp: Path) -> list[str]:
    out = ["## Backend faults (`tests/fault_server.py`)", ""]
    with serve(tf.MIX, seed=7, max_faults=2, hang_s=2.0, trickle_s=0.2) as (url, st):
        llm = LLM("verifier", tf.spec(url), RunParams(cache=str(tmp / "c1"),
                                                      roles={"verifier": tf.EXEC}), stage="t")
        t0 = time.monotonic()
        comps = llm.generate(tf.reqs(N_REQUESTS))
        took = time.monotonic() - t0
    attempts = sum(st.attempts.values())
    failed = Counter(c.error_kind for c in comps if c.failed)
    resent = sum(1 for m, n in st.answered.items() if n > 1)
    out += [f"{N_REQUESTS} verifier requests through the openai backend, "
            f"{100 * sum(tf.MIX.values()):.0f} % of attempts faulted (each message at most twice), "
            f"exec: `{tf.EXEC}`; {took:.1f} s.", "",
            "| | count |", "|---|---|",
            f"| requests | {N_REQUESTS} |", f"| attempts (requests + retries) | {attempts} |",
            f"| retries | {attempts - N_REQUESTS} |"]
    out += [f"| faults injected: {k} | {v} |" for k, v in sorted(st.injected.items())]
    out += [f"| completed | {sum(not c.failed for c in comps)} |",
            f"| recorded failed | {sum(failed.values())} "
            f"({', '.join(f'{k} {v}' for k, v in failed.items()) or 'none'}) |",
            f"| completed then sent again | {resent} |",
            f"| peak in flight (bound {tf.EXEC['max_concurrency']}) | {st.max_inflight} |", ""]

    # the budget: a harsher server (every fault class at 30 %, no retries), so requests fail
    harsh = {k: 0.3 / len(tf.MIX) for k in tf.MIX}
    with serve(harsh, seed=8, max_faults=99, hang_s=2.0, trickle_s=0.2) as (url, st):
        ex = {**tf.EXEC, "max_retries": 0}
        llm = LLM("verifier", tf.spec(url), RunParams(cache=str(tmp / "c3"),
                                                      roles={"verifier": ex}), stage="t")
        comps = llm.generate(tf.reqs(200, tag="h"))
    fl = Failures("verify")
    for i, c in enumerate(comps):
        if c.failed:
            fl.add("verifier", f"h{i}", c)
    kinds = Counter(c.error_kind for c in comps if c.failed)
    out += [f"A harsher server (30 % of attempts faulted, no retries), 200 requests: "
            f"{sum(not c.failed for c in comps)} completed, {len(fl)} recorded failed "
            f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), none written as a "
            f"record or cached.", ""]
    rows = llm.ledger.to_list()
    lines = []
    for budget in (0.0, 0.05, 0.5):
        try:
            fl.check(budget, "data/verify/failures/failures.jsonl", rows)
            lines.append(f"| {budget:g} | passes ({len(fl)} failed of {len(comps)}) |")
        except BudgetExceeded as e:
            lines.append(f"| {budget:g} | stops: {str(e).split('. ')[0]} |")
    out += ["The failure budget (`exec.max_failure_rate`) over those failures:", "",
            "| budget | decision |", "|---|---|", *lines, ""]

    with serve({"401": 1.0}) as (url, st):
        llm = LLM("verifier", tf.spec(url), RunParams(cache=str(tmp / "c2"),
                                                      roles={"verifier": tf.EXEC}), stage="t")
        try:
            llm.generate(tf.reqs(500))
            msg = "did not stop"
        except FatalBackendError as e:
            msg = str(e).splitlines()[0][:160]
    out += [f"An expired key (401 on every request), 500 requests: stopped after "
            f"{sum(st.attempts.values())} attempts (those in flight): `{msg}`", ""]
    return out


def hostile(tmp: Path) -> list[str]:
    c = hc.build(tmp / "hostile")
    outcomes = hc.run_all(c)
    rows = hc.summary(c, outcomes)
    n = sum(r["records"] for r in rows)
    ok = sum(r["as_expected"] for r in rows)
    tracebacks = sum("Traceback" in o.stderr for o in outcomes.values())
    kept = sum(len(o.questions) for o in outcomes.values())
    rejected = sum(len(o.rejects) for o in outcomes.values())
    return ["## Hostile input (`tests/hostile_corpus.py`, the real collect stage)", "",
            f"{n} records in {len(hc.FORMATS)} formats ({', '.join(hc.FORMATS)}): {kept} kept, "
            f"{rejected} rejected with record, field and reason; {ok} of {n} as labelled; "
            f"{tracebacks} tracebacks.", "", hc.table(rows), ""]


def parsers() -> list[str]:
    cases = tj.table()
    tally: dict[str, Counter] = {}
    exceptions = 0
    for case in cases:
        for parse in tj.PARSERS.values():
            try:
                got = parse(case.text)
            except ParseError:
                got = None
            except Exception:  # noqa: BLE001  counted: the figure this report exists for
                exceptions += 1
                continue
            tally.setdefault(case.category, Counter())["accepted" if got is not None else "rejected"] += 1
    out = ["## Judge-reply parsers (`tests/test_judging.py`)", "",
           f"{len(cases)} adversarial replies x {len(tj.PARSERS)} parsers (verdict, 0-5 rank, "
           f"1-10 score): {exceptions} exceptions.", "",
           "| category | cases | accepted | rejected |", "|---|---|---|---|"]
    for cat, t in tally.items():
        out.append(f"| {cat} | {sum(t.values()) // len(tj.PARSERS)} | {t['accepted']} | {t['rejected']} |")
    for n in (100_000, MAX_REPLY_CHARS):
        times = {}
        for name, text in tj.worst_inputs(n).items():
            for kind, parse in tj.PARSERS.items():
                best = float("inf")
                for _ in range(3):
                    t0 = time.perf_counter()
                    try:
                        parse(text[:n])
                    except ParseError:
                        pass
                    best = min(best, time.perf_counter() - t0)
                times[f"{name} ({kind})"] = best
        worst = max(times.items(), key=lambda kv: kv[1])
        out.append("")
        out.append(f"Worst-case parse of a {n:,}-character reply: {worst[1] * 1e3:.2f} ms "
                   f"({worst[0]}; bound 50 ms).")
    return out + [""]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        body = [*faults(Path(tmp)), *hostile(Path(tmp)), *parsers()]
    text = "\n".join(["# Reliability", "",
                      "Written by `python scripts/reliability_report.py` from real runs (the tests "
                      "`tests/test_faults.py`, `tests/test_hostile.py` and `tests/test_judging.py` "
                      "assert these figures' bounds).", "", *body])
    out = ROOT / "reports/reliability.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

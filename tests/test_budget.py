"""The failure budget at stage level: the real verify stage (`python -m stages.verify`, the
openai backend) against the fault-injecting server. Over budget the stage exits non-zero
with one message (role, error classes, how to resume) and renames no output into place;
within budget the failed requests are in failures/failures.jsonl and never in the verdicts; the
next run asks exactly the failed requests again (they were never cached)."""

import json
import os
import socket
import subprocess
import sys

import yaml

from reasonmed.core.params import read_params
from reasonmed.core.records import JsonlWriter
from tests.conftest import ROOT
from tests.fault_server import serve
from tests.test_generate import _path, q

N_Q, PER_Q = 10, 2


def inputs(tmp):
    qs = [q(i) for i in range(N_Q)]
    with JsonlWriter(tmp / "questions.jsonl") as w:
        w.write_all(qs)
    with JsonlWriter(tmp / "paths.jsonl") as w:
        for i, qq in enumerate(qs):  # question order, distinct CoTs (distinct messages)
            w.write_all(_path(qq, "a1", s).model_copy(update={"cot": f"reasoning {i}.{s}",
                                                              "text": f"reasoning {i}.{s}"})
                        for s in range(PER_Q))


def params(tmp, url, budget):
    p = read_params(ROOT / "params.yaml")
    p["models"]["verifier"] = {"backend": "openai", "model": "verifier", "options": {"base_url": url}}
    p["exec"]["roles"]["verifier"] = {"max_retries": 0, "timeout_s": 5.0, "max_concurrency": 4}
    p["exec"].update(cache=str(tmp / "cache"), max_failure_rate=budget)
    p["verify"]["max_attempts"] = 1
    f = tmp / f"params-{budget}.yaml"
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    return f


def verify(tmp, f, out):
    return subprocess.run([sys.executable, "-m", "stages.verify", str(tmp / "questions.jsonl"),
                           str(tmp / "paths.jsonl"), str(out), "--params", str(f)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OPENAI_API_KEY": "sk-test"})


def test_over_budget_stops_within_budget_records_and_the_rerun_asks_only_the_failed(tmp_path):
    inputs(tmp_path)
    n = N_Q * PER_Q
    with socket.socket() as sock:  # one base_url for the three servers: it is in the cache key
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with serve({"500": 0.5}, seed=3, max_faults=99, port=port) as (url, st):
        r = verify(tmp_path, params(tmp_path, url, 0.1), tmp_path / "over")
        failed_first = sum(st.injected.values())
    assert 0 < failed_first < n
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    msg = r.stderr.strip().splitlines()[-1]
    assert f"of {n} requests to role verifier failed" in msg and "budget 10%" in msg, msg
    assert "http_500" in msg and "dvc repro" in msg, msg
    assert not (tmp_path / "over/verdicts.jsonl").exists()  # nothing renamed into place

    with serve({"500": 0.5}, seed=4, max_faults=99, port=port) as (url, st):
        r = verify(tmp_path, params(tmp_path, url, 1.0), tmp_path / "within")
        asked_again = sum(st.attempts.values())
    assert r.returncode == 0, r.stderr[-2000:]
    assert asked_again == failed_first  # what completed the first time came from the cache
    out = tmp_path / "within"
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    fails = [json.loads(x) for x in (out / "failures/failures.jsonl").read_text().splitlines()]
    assert len(verdicts) + len(fails) == n and len(fails) > 0
    assert {v["path_id"] for v in verdicts}.isdisjoint({f["item"] for f in fails})
    assert all(f["role"] == "verifier" and f["kind"] == "http_500" for f in fails)
    assert all(v["verdict"] in ("Correct", "Error") for v in verdicts)  # no failure as data
    stats = json.loads((out / "stats.json").read_text())
    assert stats["paths_in"] == n and stats["verdicts_out"] == len(verdicts)

    # The converse of "errors are retried": a healthy server gets exactly the failed ones.
    with serve({}, port=port) as (url, st):
        r = verify(tmp_path, params(tmp_path, url, 0.0), tmp_path / "healed")
        asked = sum(st.attempts.values())
    assert r.returncode == 0, r.stderr[-2000:]
    assert asked == len(fails)
    healed = (tmp_path / "healed/verdicts.jsonl").read_text().splitlines()
    assert len(healed) == n and not (tmp_path / "healed/failures/failures.jsonl").read_text().strip()

"""The embedded default as committed: honest shapes (tests/test_pipeline.py runs the DAG itself
on a smaller copy)."""

import json

from reasonmed.core.params import read_params
from tests.conftest import ROOT


def test_the_committed_default_is_honest():
    """The tiny models follow their output contracts, so every parser and table sees
    realistic shapes: paths state answers, judges emit their JSON, eval outputs answer.
    Read from the artifacts main commits, which CI's `make repro` on a clean clone must
    reproduce byte for byte (.ci/run), so this holds for the default as users run it."""
    dst = ROOT
    st = lambda s: json.loads((dst / f"data/{s}/stats.json").read_text())  # noqa: E731
    for agent, a in st("generate")["by_agent"].items():
        assert a["with_answer"] >= 0.9 * a["paths"], (agent, a)
    assert st("verify")["verdicts"]["unparsed"] == 0
    assert st("rank")["parse_failures"] == 0
    sc = st("score")
    assert all(v["unparsed"] == 0 for g in ("variants", "external") for v in sc[g].values())
    summ = st("summarize")
    assert summ["with_letter"] >= 0.9 * summ["summarized"], summ
    tiers = st("route")["tiers"]
    assert all(tiers.get(t, 0) > 0 for t in ("easy", "medium", "difficult")), tiers
    assert st("optimize")["in"] > 0
    models = read_params(dst / "params.yaml")["evaluate"]["models"]
    for name in models:
        t = json.loads((dst / f"data/evaluate/{name}/results.json").read_text())["total"]["micro"]
        if name != "base":  # the untuned student answers only what SFT taught it
            assert t["unextractable"] <= 0.5 * t["n"], (name, t)
    assert any(json.loads((dst / f"data/evaluate/{n}/metrics.json").read_text())["strict_acc"] > 0
               for n in models)

"""End to end: `dvc repro` of the whole DAG on the tiny default in a fresh copy of the repo."""

import difflib
import json
import re
import sys

import pytest
import yaml

from reasonmed.params import read_params
from tests.conftest import ROOT, sh


@pytest.fixture(scope="module")
def repo(default_repo):
    dst, _, r = default_repo
    return dst, r


@pytest.mark.slow
def test_repro_runs_every_stage_and_second_repro_is_noop(repo):
    dst, first = repo
    for stage, spec in yaml.safe_load((dst / "dvc.yaml").read_text())["stages"].items():
        names = [f"{stage}@{k}" for k in spec["foreach"]] if "foreach" in spec else [stage]
        for name in names:
            assert f"Running stage '{name}'" in first.stdout, name
    second = sh("dvc", "repro", cwd=dst)
    assert "Running stage" not in second.stdout
    assert sh("dvc", "status", cwd=dst).stdout.strip().endswith("up to date.")
    assert "generate" in sh("dvc", "dag", cwd=dst).stdout


@pytest.mark.slow
def test_default_run_verdicts_are_mixed_and_all_parse(repo):
    dst, _ = repo
    gen = json.loads((dst / "data/generate/stats.json").read_text())
    ver = json.loads((dst / "data/verify/stats.json").read_text())
    col = json.loads((dst / "data/collect/stats.json").read_text())
    n_q = sum(1 for _ in open(dst / "data/collect/questions.jsonl"))
    assert n_q >= 40 and gen["paths_out"] == 9 * n_q
    assert ver["paths_in"] == gen["paths_out"]
    v = ver["verdicts"]
    assert v["Correct"] > 0 and v["Error"] > 0 and v["unparsed"] == 0 and ver["failed"] == 0
    assert ver["parse_failure_rate"] == 0
    ledger = json.loads((dst / "data/generate/ledger.json").read_text())
    assert {r["role"] for r in ledger} == {"agent1", "agent2", "agent3"}
    assert col  # stats exist


@pytest.mark.slow
def test_forced_rerun_makes_zero_model_calls(repo):
    dst, _ = repo
    sh("dvc", "repro", "-f", "-s", "verify", cwd=dst)
    assert json.loads((dst / "data/verify/stats.json").read_text())["model_calls"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.py")))
def test_notebooks_run_on_the_tiny_artifacts(repo, notebook):
    # jupytext percent files are plain Python: running one executes its cells in order.
    dst, _ = repo
    r = sh(sys.executable, f"notebooks/{notebook}", cwd=dst)
    assert r.stdout.strip()


@pytest.mark.slow
def test_report_regenerates_figures_and_tables(repo):
    dst, _ = repo
    figs = sorted(p.name for p in (dst / "reports/figures").glob("*.png"))
    assert figs == sorted(["accuracy.png", "composition.png", "error_counts.png", "lengths.png",
                           "pass_rate.png", "quality.png", "sft_loss.png"])
    m = json.loads((dst / "reports/metrics.json").read_text())
    assert set(m["accuracy"]) == {"base", "reasonmed", "cotmed", "responsemed"}
    rows = m["dataset"]["rows"]
    assert rows["reasonmed"] == rows["cotmed"] == rows["responsemed"] > 0
    assert "![" in (dst / "reports/README.md").read_text()


@pytest.mark.slow
def test_the_readme_ablation_command_reruns_only_sft_evaluate_report(repo):
    """`dvc exp run -S sft.config.learning_rate=5e-4`, exactly as the README gives it: DVC
    rewrites params.yaml itself (YAML 1.2, its own layout), and only that line changes."""
    dst, _ = repo
    assert "Running stage" not in sh("dvc", "repro", cwd=dst).stdout  # settled
    before = (dst / "params.yaml").read_text()
    out = sh("dvc", "exp", "run", "-S", "sft.config.learning_rate=5e-4", cwd=dst).stdout
    ran = set(re.findall(r"Running stage '([^'@]+)", out))
    assert ran == {"sft", "evaluate", "report"}, out[-2000:]
    changed = [line for line in difflib.unified_diff(
        before.splitlines(), (dst / "params.yaml").read_text().splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) == 2 and all("learning_rate:" in line for line in changed), changed
    assert read_params(dst / "params.yaml")["sft"]["config"]["learning_rate"] == 5e-4


@pytest.mark.slow
def test_editing_the_summarizer_prompt_reruns_only_downstream(repo):
    # Last in this module: it changes the fixture repo's summaries.
    dst, _ = repo
    prompt = dst / "stages/prompts/summarize.md"
    prompt.write_text(prompt.read_text().rstrip() + " Keep it under three sentences.\n")
    out = sh("dvc", "repro", cwd=dst).stdout
    ran = set(re.findall(r"Running stage '([^'@]+)", out))
    assert {"summarize", "assemble"} <= ran, out[-2000:]
    assert not ran & {"models", "collect", "generate", "verify", "route", "rank", "refine",
                      "optimize"}

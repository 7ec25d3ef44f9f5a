"""Reading results: `make results` in 120 columns, `make diff` against a base the clone lacks,
and the README's TRL snippet run on an exported variant.

    python -m pytest -q tests/test_results.py
"""

import importlib.util
import json
import re
import subprocess
import sys

import pytest

from reasonmed.method.datacard import TRL_SNIPPET
from tests.conftest import ROOT, sh

spec = importlib.util.spec_from_file_location("results", ROOT / "scripts/results.py")
results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results)


def accuracy_cells(repo) -> list[str]:
    acc = json.loads((repo / "reports/metrics.json").read_text())["accuracy"]
    return [f"{v:.2f}" for v in acc.values() if v is not None]


def fits(text: str) -> None:
    assert text.strip() and max(map(len, text.splitlines())) <= 120, text


def test_make_results_runs_the_script():
    assert "scripts/results.py" in sh("make", "-n", "results", cwd=ROOT).stdout


def test_results_fit_120_columns_and_show_the_headline():
    out = sh(sys.executable, "scripts/results.py", cwd=ROOT).stdout
    fits(out)
    acc = json.loads((ROOT / "reports/metrics.json").read_text())
    assert f"{acc['accuracy_metric']} accuracy (%)" in out
    assert all(row in out for row in ("reasonmed", "cotmed", "responsemed"))
    assert all(cell in out for cell in accuracy_cells(ROOT))


def test_an_experiment_row_names_the_params_it_changed(tmp_path):
    """An experiment as `dvc exp run` stores it: a commit on the baseline under refs/exps."""
    repo = tmp_path / "clone"
    sh("git", "clone", "-q", str(ROOT), str(repo), cwd=tmp_path)
    params = (repo / "params.yaml").read_text()
    assert "\n    learning_rate: 3.0e-3" in params
    (repo / "params.yaml").write_text(params.replace("\n    learning_rate: 3.0e-3",
                                                     "\n    learning_rate: 5.0e-4", 1))
    m = json.loads((repo / "reports/metrics.json").read_text())
    m["accuracy"]["reasonmed"] = 99.99
    (repo / "reports/metrics.json").write_text(json.dumps(m))
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@example.org")
    sh(*git, "commit", "-qam", "lr", cwd=repo)
    exp = sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()
    sh("git", "reset", "-q", "--hard", "HEAD~1", cwd=repo)
    base = sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()
    sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/lr-5e-4", exp, cwd=repo)
    out = sh(sys.executable, str(ROOT / "scripts/results.py"), cwd=repo).stdout
    fits(out)
    lines = out.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("  lr-5e-4"))
    # its changes beside the accuracies, or on the lines under them when the row is full
    row = "\n".join([lines[i], *(x for x in lines[i + 1:i + 3] if x.startswith("    "))])
    assert "99.99" in lines[i] and "sft.config.learning_rate=0.0005" in row, out
    assert "learning_rate" not in out.replace(row, "")  # the baseline and workspace changed nothing


def entries(rows: list[str], changed: dict) -> list[dict]:
    def data(acc, params):
        return {"params": {"params.yaml": {"data": params}},
                "metrics": {"reports/metrics.json": {"data": {
                    "accuracy": {r: acc for r in rows}, "accuracy_metric": "strict"}}}}
    return [{"rev": "workspace", "data": data(1.0, {})},
            {"rev": "a" * 40, "name": "main", "data": data(2.0, {}), "experiments": [
                {"name": "wide", "revs": [{"rev": "b" * 40, "data": data(3.0, changed)}]},
                {"name": "broken", "revs": [{"rev": "c" * 40, "data": None}]}]}]


@pytest.mark.parametrize("rows", [
    ["base", "reasonmed", "cotmed", "responsemed", "baseline_agent1", "baseline_agent2"],
    # the paper profile's rows: the changed params no longer fit beside them
    ["base", "reasonmed", "cotmed", "responsemed", "qwen2_5_7b_instruct", "huatuogpt_o1_8b",
     "llama3_1_8b_instruct"]])
def test_wide_rows_and_many_changed_params_still_fit(rows):
    changed = {f"section{i}": {"some_long_parameter_name": f"value-{i}"} for i in range(12)}
    out = results.table(entries(rows, changed))
    fits(out)
    flat = re.sub(r"\s+", " ", out)
    assert all(f"section{i}.some_long_parameter_name=value-{i}" in flat for i in range(12))
    assert "(failed)" in out and "99" not in out


def test_artifact_diff_fails_loudly_on_a_base_this_clone_lacks():
    r = subprocess.run(["scripts/artifact-diff.sh", "no-such-remote/main"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode != 0 and r.stdout == ""
    msg = r.stderr.strip().splitlines()
    assert len(msg) == 1 and "'no-such-remote/main'" in msg[0] and "git fetch" in msg[0]


def test_artifact_diff_against_head_reports_params_metrics_plots():
    r = sh("scripts/artifact-diff.sh", "HEAD", cwd=ROOT)
    for heading in ("# Pipeline artifacts vs `HEAD`", "## Params", "## Metrics", "## Plots"):
        assert heading in r.stdout
    assert "failed" not in r.stdout


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- sft-snippet -->\n```python\n(.*?)```", text, re.S)
    assert m, "README.md: no python block after <!-- sft-snippet -->"
    return m.group(1)


def test_the_readme_snippet_is_the_data_cards():
    assert readme_snippet() == TRL_SNIPPET


@pytest.mark.slow
def test_the_readme_snippet_trains_on_an_exported_variant(tmp_path):
    for need in ("models/student", "data/assemble/datasets/trl/reasonmed.jsonl"):
        if not (ROOT / need).exists():
            pytest.skip(f"{need} not built here (make repro)")
    code = readme_snippet()
    assert 'out = "work/sft-reasonmed"' in code
    (tmp_path / "snippet.py").write_text(code.replace("work/sft-reasonmed", str(tmp_path / "out")))
    sh(sys.executable, str(tmp_path / "snippet.py"), cwd=ROOT, env={"TQDM_DISABLE": "1"})
    assert (tmp_path / "out/model.safetensors").is_file()

"""End to end: `dvc repro` of the whole DAG on the tiny default in a fresh copy of the repo."""

import difflib
import json
import sys

import pytest

from reasonmed.core.params import read_params
from tests.conftest import ROOT, sh, stages_run, up_to_date


@pytest.fixture(scope="module")
def repo(default_repo):
    dst, _, r = default_repo
    return dst, r


@pytest.mark.slow
def test_repro_runs_every_stage_and_second_repro_is_noop(repo):
    dst, first = repo
    names = sh("dvc", "stage", "list", "--name-only", cwd=dst).stdout.split()  # foreach expanded
    assert "benchmark@medqa" in names and "evaluate@base" in names, names
    for name in names:
        assert f"Running stage '{name}'" in first.stdout, name
    second = sh("dvc", "repro", cwd=dst)
    assert stages_run(second.stdout) == set()
    assert up_to_date(dst)
    assert "generate" in sh("dvc", "dag", cwd=dst).stdout


@pytest.mark.slow
def test_default_run_verdicts_are_mixed_and_all_parse(repo):
    dst, _ = repo
    gen = json.loads((dst / "data/generate/stats.json").read_text())
    ver = json.loads((dst / "data/verify/stats.json").read_text())
    col = json.loads((dst / "data/collect/stats.json").read_text())
    n_q = sum(1 for _ in open(dst / "data/collect/questions.jsonl"))
    sample = sum(1 for _ in open(dst / "assets/questions_sample.jsonl"))
    assert n_q >= 0.75 * sample and gen["paths_out"] == 9 * n_q  # a few are dropped as duplicates
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
    before = (dst / "data/verify/verdicts.jsonl").read_bytes()
    sh("dvc", "repro", "-f", "-s", "verify", cwd=dst)
    # execution facts live in the run log (work/runs), not in the artifacts
    run = json.loads((dst / "work/runs/verify.json").read_text())
    assert run["model_calls"] == 0 and run["cache_hits"] > 0, run
    assert (dst / "data/verify/verdicts.jsonl").read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.py")))
def test_notebooks_run_on_the_tiny_artifacts(repo, notebook):
    # jupytext percent files are plain Python: running one executes its cells in order.
    dst, _ = repo
    figs = {"explore_dataset.py": "dataset_overview.png", "explore_predictions.py": "accuracy.png"}
    (dst / "work/notebooks" / figs[notebook]).unlink(missing_ok=True)
    r = sh(sys.executable, f"notebooks/{notebook}", cwd=dst, env={"DISPLAY": ""})
    assert r.stdout.strip()
    png = dst / "work/notebooks" / figs[notebook]  # it drew, headless
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


@pytest.mark.slow
def test_report_regenerates_figures_and_tables(repo):
    dst, _ = repo
    figs = sorted(p.name for p in (dst / "reports/figures").glob("*.png"))
    assert figs == sorted(["accuracy.png", "composition.png", "error_counts.png", "lengths.png",
                           "pass_rate.png", "quality.png", "sft_loss.png"])
    m = json.loads((dst / "reports/metrics.json").read_text())
    spec = read_params(dst / "params.yaml")["evaluate"]["models"]
    # params order, with each RL row right under its SFT parent
    models = []
    for name in (n for n in spec if not spec[n].get("parent")):
        models += [name, *(n for n in spec if spec[n].get("parent") == name)]
    assert sorted(models) == sorted(spec)
    assert list(m["accuracy"]) == models
    rows = m["dataset"]["rows"]
    assert rows["reasonmed"] == rows["cotmed"] == rows["responsemed"] > 0
    readme = (dst / "reports/README.md").read_text()
    assert readme.splitlines()[0].startswith("**The numbers in this report come from tiny models")
    assert "say nothing about medicine" in readme.splitlines()[0] and "![" in readme
    # the main table: every evaluate.models row (two baselines at least), every column, totals
    main = (dst / "reports/tables/accuracy.md").read_text().splitlines()
    # one row per model and scorer, side by side: strict, strict+judge, huatuo
    label = {n: f"{n} (RL after {spec[n]['parent']})" if spec[n].get("parent") else n for n in spec}
    assert [r.split(" | ")[0].strip("| ") for r in main[2:]] == [label[m] for m in models for _ in range(3)]
    assert [r.split(" | ")[1] for r in main[2:5]] == ["strict", "strict+judge", "huatuo"]
    assert sum(m.startswith("baseline") for m in models) >= 2
    for col in ("medqa", "medmcqa", "pubmedqa", "total (micro)", "total (macro)"):
        assert col in main[0]
    assert sum("mmlu/" in c for c in main[0].split(" | ")) == 6
    assert (dst / "reports/tables/accuracy.tex").read_text().count(r"\\") >= len(models) + 1
    # the score comparison with at least one external dataset, the ablation's paired tests
    quality = (dst / "reports/tables/quality.md").read_text()
    assert "| external |" in quality and "medical_o1_demo" in quality
    sig = (dst / "reports/tables/significance.md").read_text().splitlines()
    assert len(sig) == 2 + 3 and "McNemar p" in sig[0]


def one_line_changed(before: str, after: str, key: str) -> None:
    """DVC rewrote params.yaml itself (YAML 1.2, its own layout): only `key`'s line changed."""
    changed = [line for line in difflib.unified_diff(
        before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) == 2 and all(f"{key}:" in line for line in changed), changed


@pytest.mark.slow
def test_the_readme_rl_ablation_reruns_exactly_its_downstream(repo):
    """`dvc exp run -S rl.config.learning_rate=2e-5`, exactly as docs/stages.md gives it: it
    reruns RL, the RL rows' evaluations, the report and the explorer (it shows the rollouts,
    which the knob changes), and nothing else."""
    dst, _ = repo
    assert stages_run(sh("dvc", "repro", cwd=dst).stdout) == set()  # settled
    before = (dst / "params.yaml").read_text()
    out = sh("dvc", "exp", "run", "-S", "rl.config.learning_rate=2e-5", cwd=dst).stdout
    one_line_changed(before, (dst / "params.yaml").read_text(), "learning_rate")
    p = read_params(dst / "params.yaml")
    assert p["rl"]["config"]["learning_rate"] == 2e-5
    rows = {r for r in p["evaluate"]["models"] if r.endswith("_rl")}
    assert stages_run(out) == {f"rl@{v}" for v in p["rl"]["variants"]} | {
        f"evaluate@{r}" for r in rows} | {"report", "explore"}, out[-2000:]


@pytest.mark.slow
@pytest.mark.exhaustive
def test_the_readme_sft_ablation_reruns_exactly_its_downstream(repo):
    """`dvc exp run -S sft.config.learning_rate=5e-4`: SFT, and from it RL (it continues
    from each SFT checkpoint), every evaluation, the report and the explorer. About 4
    minutes on 2 cores, so `make test-all`; CI runs the RL ablation above."""
    dst, _ = repo
    assert stages_run(sh("dvc", "repro", cwd=dst).stdout) == set()  # settled
    before = (dst / "params.yaml").read_text()
    out = sh("dvc", "exp", "run", "-S", "sft.config.learning_rate=5e-4", cwd=dst).stdout
    ran = {name.split("@")[0] for name in stages_run(out)}
    assert ran == {"sft", "rl", "evaluate", "report", "explore"}, out[-2000:]
    one_line_changed(before, (dst / "params.yaml").read_text(), "learning_rate")
    assert read_params(dst / "params.yaml")["sft"]["config"]["learning_rate"] == 5e-4


@pytest.mark.slow
def test_the_trl_export_trains_as_is(repo, tmp_path):
    """datasets/trl/<variant>.jsonl: load_dataset + SFTTrainer, nothing else, one step; the
    rows are the variant's rows through the converter the sft stage trains with."""
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    from reasonmed.core.conversation import Row, to_conversation
    from reasonmed.core.records import read_jsonl

    dst, _ = repo
    for variant in ("reasonmed", "cotmed", "responsemed"):
        rows = list(read_jsonl(dst / f"data/assemble/datasets/{variant}.jsonl", Row))
        trl_rows = [json.loads(x) for x in
                    (dst / f"data/assemble/datasets/trl/{variant}.jsonl").read_text().splitlines()]
        assert [r["id"] for r in trl_rows] == [r.id for r in rows]
        assert [{k: r[k] for k in ("prompt", "completion")} for r in trl_rows] == \
            [to_conversation(r) for r in rows]
    ds = load_dataset("json", data_files=str(dst / "data/assemble/datasets/trl/reasonmed.jsonl"),
                      split="train")
    args = SFTConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2,
                     use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
                     max_length=256)
    trainer = SFTTrainer(model=str(dst / "models/student"), args=args, train_dataset=ds)
    out = trainer.train()
    assert out.global_step == 1 and out.training_loss > 0


@pytest.mark.slow
@pytest.mark.exhaustive  # test_mutations covers the rerun set in CI (dvc status, cheaply)
def test_editing_the_summarizer_prompt_reruns_what_it_reaches_and_nothing_else(repo):
    # Last in this module: it changes the fixture repo's summaries. The summarize prompt is
    # read by summarize and by models: the default's verifier learns the summary contract
    # around that very prompt (and also verifies, ranks and scores), so the verifier is
    # rebuilt and every stage it serves reruns. The agents' and the student's models are
    # other folders, unchanged, so generate, collect and the base/baseline evaluations
    # do not rerun.
    dst, _ = repo
    prompt = dst / "stages/prompts/summarize.md"
    before = (dst / "data/summarize/summaries.jsonl").read_bytes()
    prompt.write_text(prompt.read_text().rstrip() + " Keep it under three sentences.\n")
    out = sh("dvc", "repro", cwd=dst).stdout
    ran = stages_run(out)
    assert {"models", "verify", "summarize", "assemble", "score", "sft@reasonmed"} <= ran, out[-2000:]
    assert not ran & {"collect", "generate", "evaluate@base", "evaluate@baseline_agent1",
                      "evaluate@baseline_agent2", "benchmark@medqa"}, sorted(ran)
    assert (dst / "data/summarize/summaries.jsonl").read_bytes() != before

"""dvc.yaml, params.yaml, stages/ and the Snakefile agree; `snakemake -n` is clean."""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
SHARED = {"run", "models", "models_build", "cost"}


@pytest.mark.parametrize("stage", sorted(DVC))
def test_stage_has_module_params_and_deps(stage):
    spec = DVC[stage].get("do", DVC[stage])  # foreach stages keep their body under `do`
    mod = importlib.import_module(f"stages.{stage}")
    assert mod.__doc__ and "python -m stages." in mod.__doc__, "docstring gives a runnable command"
    assert hasattr(mod, "main") and hasattr(mod, "run")
    deps = spec["deps"]
    assert f"stages/{stage}.py" in deps
    for d in deps:
        if not d.startswith("data/") and "${" not in d:
            assert (ROOT / d).exists() or d == "models", f"{stage}: dep {d} missing"
    params = [p if isinstance(p, str) else next(iter(p)) for p in spec.get("params", [])]
    assert stage in params or stage == "models", f"{stage} must depend on its params section"
    for p in params:
        assert p.split(".")[0] in PARAMS, f"{stage}: param {p} not in params.yaml"
    # A stage's prompt file is a dep, so editing it reruns the stage.
    prompt = PARAMS.get(stage, {}).get("prompt") if isinstance(PARAMS.get(stage), dict) else None
    if prompt:
        assert prompt in deps


def test_every_params_section_has_a_stage():
    assert set(PARAMS) - SHARED <= set(DVC), set(PARAMS) - SHARED - set(DVC)


def test_roles_named_by_stages_exist():
    roles = set(PARAMS["models"])
    assert set(PARAMS["generate"]["agents"]) <= roles
    assert PARAMS["verify"]["model"] in roles


def test_stage_outputs_do_not_overlap():
    outs = [next(iter(o)) if isinstance(o, dict) else o
            for s in DVC.values() for k in ("outs", "metrics", "plots")
            for o in s.get("do", s).get(k, [])]
    assert len(outs) == len(set(outs))


@pytest.mark.parametrize("profile", [[], ["--profile", "configs/slurm"]], ids=["local", "slurm"])
def test_snakemake_dry_run_is_clean(tmp_path, profile):
    exe = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
    if exe is None:
        pytest.skip("snakemake not on PATH")
    if profile:
        pytest.importorskip("snakemake_executor_plugin_slurm")
        shutil.copytree(ROOT / "configs/slurm", tmp_path / "configs/slurm")
    for f in ("Snakefile", "params.yaml"):
        shutil.copy(ROOT / f, tmp_path / f)
    (tmp_path / "data/collect").mkdir(parents=True)
    (tmp_path / "data/collect/questions.jsonl").write_text("")
    r = subprocess.run([exe, "-n", *(profile or ["--cores", "1"]), "--allowed-rules", "generate_shard",
                        "generate_gather", "--", "data/generate/paths.jsonl"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    n_jobs = len(PARAMS["generate"]["agents"]) * PARAMS["generate"]["shards"]
    assert "generate_shard" in r.stdout and str(n_jobs) in r.stdout

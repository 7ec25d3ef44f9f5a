"""dvc.yaml, params.yaml, the code and the Snakefile agree: each stage's deps are exactly what
shapes its outputs, derived from the code (reasonmed/ops/wiring.py), and `snakemake -n` is clean."""

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reasonmed.core.closure import closure, snakefile_closure
from reasonmed.core.params import read_params
from reasonmed.ops.fanout import code_files
from reasonmed.ops.wiring import COARSE, coarsen, covers, dep_problems, get_key, render_stages, roles_of

ROOT = Path(__file__).resolve().parents[1]
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
DVC = DVC_YAML["stages"]
PARAMS = read_params(ROOT / "params.yaml")
SHARED = {"run", "exec", "models", "models_build", "cost"}
SECTION = {"benchmark": "benchmarks"}  # a foreach stage over a section named in the plural
CODE = re.compile(r"^(reasonmed|stages)/(.*\.py|[\w/]+)$")  # a file, or a COARSE layer folder


def get(d: dict, dotted: str):
    return get_key(d, dotted)


def expanded() -> dict[str, tuple[str, dict]]:
    """Every concrete stage (`name` or `name@key`) -> (its dvc.yaml stage, its body), as
    the project renders it (checked against DVC's own rendering below)."""
    return {name: (name.split("@")[0], b)
            for name, b in render_stages({"stages": DVC}, PARAMS).items()}


STAGES = expanded()


def body(stage: str) -> dict:
    return STAGES[stage][1] if stage in STAGES else next(
        b for n, b in STAGES.values() if n == stage)


def params_of(stage: str) -> list[str]:
    return [p if isinstance(p, str) else next(iter(p)) for p in body(stage).get("params", [])]


@pytest.mark.parametrize("stage", sorted(DVC))
def test_code_deps_are_exactly_the_import_closure(stage):
    deps = body(stage)["deps"]
    code = sorted(d for d in deps if CODE.match(d))
    files = closure(f"stages.{stage}")
    if stage == "generate":  # the Snakefile and what it imports run inside the stage too
        assert "Snakefile" in deps
        files = sorted(set(files) | set(snakefile_closure(ROOT / "Snakefile")))
    # every file the stage runs is covered, by itself or by its COARSE layer's folder
    assert all(covers(code, f) for f in files), [f for f in files if not covers(code, f)]
    expected = coarsen(files)
    missing, extra = sorted(set(expected) - set(code)), sorted(set(code) - set(expected))
    assert not missing and not extra, (f"{stage}: add {missing}, remove {extra} "
                                       "(python -m reasonmed.ops.wiring --sync)")
    assert len(code) == len(set(code)), f"{stage}: duplicate deps"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_prompt_and_model_deps_follow_the_params_the_stage_reads(stage):
    deps, params, base = body(stage)["deps"], params_of(stage), STAGES[stage][0]
    sections = [p for p in params if "." not in p and p in PARAMS and isinstance(PARAMS[p], dict)]
    # a section's prompt files: `prompt` and any other `*_prompt` path (evaluate.judge_prompt)
    prompts = {v for s in sections for k, v in PARAMS[s].items()
               if (k == "prompt" or k.endswith("_prompt")) and isinstance(v, str)}
    prompts = sorted(prompts | {get(PARAMS, p) for p in params if p.endswith(".prompt")})
    assert sorted(d for d in deps if d.startswith("stages/prompts/")) == prompts, stage
    roles = sorted(p.split(".", 1)[1] for p in params if p.startswith("models."))
    model_deps = sorted(d.split("/", 1)[1] for d in deps if re.match(r"^models/[^/]+$", d))
    if base == "evaluate":  # a row: a role (its models/<role> and models.<role>) or a checkpoint
        row = PARAMS["evaluate"]["models"][stage.split("@")[1]]
        judge = [PARAMS["evaluate"]["judge"]] if PARAMS["evaluate"].get("judge") else []
        if row["model"] in PARAMS["models"]:
            want = sorted({row["model"], *judge})
            assert (model_deps, roles) == (want, want), stage
        else:
            assert row["dep"] == row["model"] in deps and (model_deps, roles) == (judge, judge), stage
    elif stage == "models":  # it makes them: the whole section, no models/<role> deps
        assert "models" in params and not model_deps
        contracts = {c for s in PARAMS["models"].values() for c in (s.get("build") or {}).get(
            "contracts", [])}
        assert sorted(p for p in params if p.endswith(".prompt")) == sorted(
            f"{c}.prompt" for c in contracts)
    else:
        assert model_deps == roles, f"{stage}: models/<role> deps {model_deps} vs params {roles}"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_params_are_the_keys_the_stage_reads(stage):
    params, base = params_of(stage), STAGES[stage][0]
    mod = importlib.import_module(f"stages.{base}")
    assert mod.__doc__ and "python -m stages." in mod.__doc__, "docstring gives a runnable command"
    assert hasattr(mod, "main")
    for p in params:
        assert not p.startswith("exec"), f"{stage}: exec knobs are never hashed ({p})"
        get(PARAMS, p)  # exists (DVC fails on a declared key that is missing)
    # models makes them; preflight reads every section but runs always and writes constant
    # bytes, so no params key is its dep
    if stage not in ("models", "preflight"):
        own = SECTION.get(base, base)
        assert own in params or f"{own}.{stage.partition('@')[2]}" in params, (
            f"{stage} must depend on its own params section")
    if stage == "generate":
        assert sorted(p for p in params if p.startswith("models.")) == sorted(
            f"models.{a}" for a in PARAMS["generate"]["agents"])
    for sec in ("verify", "rank", "refine", "optimize", "summarize", "score"):
        if stage == sec:
            assert f"models.{PARAMS[sec]['model']}" in params


STAGE_MAX_LINES = 60  # a stage is an entry point: arguments, params, one library call, the tail


@pytest.mark.parametrize("path", sorted((ROOT / "stages").glob("*.py")), ids=lambda p: p.stem)
def test_a_stage_is_only_an_entry_point(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= STAGE_MAX_LINES, f"{path.name}: {n} lines: move the logic into reasonmed/"


def test_no_stage_module_imports_another_stage():
    for f in sorted((ROOT / "stages").glob("*.py")):
        name = f"stages.{f.stem}"
        others = [m for m in closure(name) if m.startswith("stages/") and m not in
                  (f"stages/{f.stem}.py", "stages/__init__.py")]
        assert not others, f"{name} imports {others}: move the shared code into reasonmed/"


def test_coarse_folders_hold_only_what_they_name():
    # a COARSE dep is a folder of the library: no data, no build output, no cache beside the
    # code (__pycache__ is in .dvcignore, so running the code never changes the folder's hash)
    for folder in COARSE:
        assert (ROOT / folder / "__init__.py").is_file(), folder
    assert "__pycache__" in (ROOT / ".dvcignore").read_text()


def test_snakefile_inputs_are_the_generate_closure():
    assert code_files() == closure("stages.generate")


def test_every_params_section_has_a_stage():
    sections = set(PARAMS) - SHARED
    owned = {SECTION.get(s, s) for s in DVC}
    assert sections <= owned, sections - owned
    assert set(PARAMS["exec"]) - {"cache", "offline", "workers", "progress_every_s",
                                  "log_level", "roles"} <= set(DVC)


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
    for d in ("reasonmed", "stages"):
        shutil.copytree(ROOT / d, tmp_path / d)
    (tmp_path / "data/collect").mkdir(parents=True)
    (tmp_path / "data/collect/questions.jsonl").write_text("")
    r = subprocess.run([exe, "-n", *(profile or ["--cores", "1"]), "--allowed-rules", "generate_shard",
                        "generate_gather", "--", "data/generate/paths.jsonl"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    n_jobs = len(PARAMS["generate"]["agents"]) * PARAMS["exec"]["generate"]["shards"]
    assert "generate_shard" in r.stdout and str(n_jobs) in r.stdout
    shard_inputs = re.search(r"rule generate_shard:\s*\n\s*input: ([^\n]+)", r.stdout)
    assert shard_inputs, r.stdout[:2000]
    for f in closure("stages.generate") + [PARAMS["generate"]["prompt"]]:
        assert f in shard_inputs.group(1), f"shard rule does not see {f}"


def test_snakemake_lint_is_clean_and_the_rules_env_is_the_lock(tmp_path):
    """`snakemake --lint` finds nothing, and the rules' conda env (used only under
    --software-deployment-method conda) installs through the same script as `make`, so
    its versions are the lock's, not a second list."""
    exe = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
    if exe is None:
        pytest.skip("snakemake not on PATH")
    for f in ("Snakefile", "params.yaml"):
        shutil.copy(ROOT / f, tmp_path / f)
    for d in ("reasonmed", "stages", "envs"):
        shutil.copytree(ROOT / d, tmp_path / d)
    r = subprocess.run([exe, "--lint"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and "Lints for" not in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    snakefile = (ROOT / "Snakefile").read_text()
    assert snakefile.count("conda:") == snakefile.count("\nrule ")
    assert "scripts/install-env.sh" in (ROOT / "envs/reasonmed.post-deploy.sh").read_text()
    assert "scripts/install-env.sh $(VENV)" in (ROOT / "Makefile").read_text()
    env = yaml.safe_load((ROOT / "envs/reasonmed.yaml").read_text())
    assert [d for d in env["dependencies"] if isinstance(d, dict)] == [], "pins belong in the lock"


def test_the_files_models_build_names_are_deps_of_the_models_stage():
    # the corpus and the tokenizer's vocabulary text shape every tiny model's bytes: an edit
    # to either must rerun `models` (a file left out of its deps would leave stale models)
    files = [v for k, v in PARAMS["models_build"].items()
             if isinstance(v, str) and (ROOT / v).is_file()]
    assert {"assets/corpus.txt", "assets/vocabulary.txt"} <= set(files)
    missing = sorted(set(files) - set(body("models")["deps"]))
    assert not missing, f"models: add {missing} to its deps"


def test_the_project_renders_dvc_yaml_as_dvc_does():
    # the pre-flight check and these tests read deps through reasonmed.ops.wiring.render_stages
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        theirs = {s.addressing.split(":")[-1]: s for s in repo.index.stages}
    ours = render_stages(DVC_YAML, PARAMS)
    assert set(theirs) == set(ours)
    for name, st in theirs.items():
        assert sorted(d.def_path for d in st.deps if not d.def_path.endswith("params.yaml")) == \
            sorted(p for p in ours[name].get("deps", [])), name


@pytest.mark.parametrize("edit", [
    ("rank.model", "agent2"), ("verify.model", "ranker"), ("sft.base_model", "agent1"),
    ("summarize.model", "agent3"), ("score.model", "student"), ("refine.model", "agent1"),
    ("optimize.model", "verifier"), ("generate.agents", ["agent3", "agent1", "verifier"]),
    ("evaluate.judge", "agent3"),
], ids=lambda e: e[0] if isinstance(e, tuple) else str(e))
def test_model_deps_follow_the_role_params_name(edit):
    # dvc.yaml interpolates the role: with rank.model set to agent2, rank depends on
    # models/agent2 and models.agent2 (and no longer on the ranker's)
    key, value = edit
    params = yaml.safe_load(yaml.safe_dump(PARAMS))
    node = params
    *head, last = key.split(".")
    for part in head:
        node = node[part]
    node[last] = value
    assert dep_problems(DVC_YAML, params) == []
    stages = render_stages(DVC_YAML, params)
    for name, b in stages.items():
        for role in roles_of(name, params):
            assert f"models/{role}" in b["deps"] and f"models.{role}" in b["params"], name
    if key == "rank.model":
        assert "models/ranker" not in stages["rank"]["deps"]


def test_what_interpolation_cannot_follow_is_reported():
    params = yaml.safe_load(yaml.safe_dump(PARAMS))
    params["generate"]["agents"] = ["agent1", "agent2", "agent3", "verifier"]
    assert any("verifier" in m for m in dep_problems(DVC_YAML, params))
    params["generate"]["agents"] = ["agent1", "agent2"]
    assert any("as many as generate.agents" in m for m in dep_problems(DVC_YAML, params))
    params = yaml.safe_load(yaml.safe_dump(PARAMS))
    params["models"]["ranker"] = {"backend": "hf", "model": "/data/checkpoints/judge-7b"}
    assert any("/data/checkpoints/judge-7b" in m for m in dep_problems(DVC_YAML, params))
    params = yaml.safe_load(yaml.safe_dump(PARAMS))
    params["evaluate"]["judge"] = None  # no judge: dvc.yaml must drop its dep and param
    assert any("evaluate.judge: null" in m for m in dep_problems(DVC_YAML, params))


def test_a_local_model_folder_becomes_a_dep_of_the_models_stage(tmp_path):
    from reasonmed.ops.wiring import sync_dvc_yaml

    for f in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / f, tmp_path / f)
    text = (tmp_path / "params.yaml").read_text()
    text = text.replace("  ranker:\n    backend: hf\n    model: models/verifier\n",
                        "  ranker:\n    backend: hf\n    model: /data/judge\n")
    (tmp_path / "params.yaml").write_text(text)
    assert sync_dvc_yaml(tmp_path / "dvc.yaml", ROOT)
    dvc = yaml.safe_load((tmp_path / "dvc.yaml").read_text())
    assert "/data/judge" in dvc["stages"]["models"]["deps"]
    assert dep_problems(dvc, read_params(tmp_path / "params.yaml")) == []
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    assert sync_dvc_yaml(tmp_path / "dvc.yaml", ROOT)  # and out again
    assert (tmp_path / "dvc.yaml").read_text() == (ROOT / "dvc.yaml").read_text()


COMPUTE = {"reasonmed/llm/backends/hf.py", "reasonmed/method/tinymodels.py", "stages/sft.py",
           "reasonmed/method/rl.py"}


@pytest.mark.parametrize("stage", sorted(DVC))
def test_stages_that_compute_depend_on_the_environment_lock(stage):
    # torch/transformers/trl versions shape their bytes: requirements/ (the locks and the
    # torch version) is a dep exactly where a computing module is in the closure
    computes = bool(COMPUTE & set(closure(f"stages.{stage}")))
    assert ("requirements" in body(stage)["deps"]) == computes, stage


def test_the_default_has_no_dep_nothing_makes():
    # every dep of the default is made by a stage or held by the checkout (code, assets,
    # configs): the pre-flight's dep check passes on it, whether or not a run came first
    assert dep_problems(DVC_YAML, PARAMS, root=ROOT) == []


def test_a_shorter_rl_variants_list_is_reported_and_synced(tmp_path):
    """rl.variants without two of the default's variants: the explorer's rollout deps and
    the two `*_rl` evaluate rows name files no stage makes any more (absent from a fresh
    clone, stale leftovers in a run workspace); --sync rewrites the explorer's block, and
    dropping the rows leaves nothing to report."""
    from reasonmed.ops.wiring import sync_dvc_yaml

    for f in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / f, tmp_path / f)
    text = (tmp_path / "params.yaml").read_text()
    old = "  variants:\n  - reasonmed\n  - cotmed\n  - responsemed\n  tiers:"
    assert old in text
    (tmp_path / "params.yaml").write_text(text.replace(old, "  variants:\n  - reasonmed\n  tiers:"))
    params = read_params(tmp_path / "params.yaml")
    got = dep_problems(DVC_YAML, params, root=ROOT)
    assert any(line.startswith("dvc.yaml: stage explore depends on [") and "--sync" in line
               for line in got), got
    for row in ("cotmed", "responsemed"):
        assert any(f"evaluate@{row}_rl depends on data/rl/{row}/model, which no stage makes"
                   in line for line in got), got
    assert sync_dvc_yaml(tmp_path / "dvc.yaml", ROOT)
    dvc = yaml.safe_load((tmp_path / "dvc.yaml").read_text())
    assert [d for d in dvc["stages"]["explore"]["deps"] if d.startswith("data/rl/")] == [
        "data/rl/reasonmed/samples.jsonl"]
    for row in ("cotmed_rl", "responsemed_rl"):
        del params["evaluate"]["models"][row]
    got = dep_problems(dvc, params, root=ROOT)
    # where a run came first, the dropped rows' outputs are left in data/evaluate: named
    assert all(line.startswith(("data/evaluate/cotmed_rl/ (", "data/evaluate/responsemed_rl/ ("))
               for line in got), got
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    assert sync_dvc_yaml(tmp_path / "dvc.yaml", ROOT)  # and back
    assert (tmp_path / "dvc.yaml").read_text() == (ROOT / "dvc.yaml").read_text()


def test_a_dep_no_stage_makes_is_reported_unless_the_checkout_holds_it(tmp_path):
    dvc = yaml.safe_load(yaml.safe_dump(DVC_YAML))
    dvc["stages"]["route"]["deps"].append("data/nowhere/routes.jsonl")
    dvc["stages"]["route"]["deps"].append("assets/questions_sample.jsonl")  # held: fine
    got = dep_problems(dvc, PARAMS, root=ROOT)
    assert got == ["dvc.yaml: stage route depends on data/nowhere/routes.jsonl, which no stage "
                   "makes and this checkout does not hold"], got


def test_the_default_repo_group_holds_every_test_of_the_shared_copy():
    # tests/conftest.py GROUPS: a test file using default_repo outside the group would build
    # a second copy on the other worker, or meet the group's changes to the shared one
    from tests.conftest import GROUPS

    users = {f"tests/{f.name}" for f in (ROOT / "tests").glob("test_*.py")
             if re.search(r"^\s*def \w+\([^)]*\bdefault_repo\b", f.read_text(), re.M)}
    assert users == set(GROUPS["default_repo"]), users ^ set(GROUPS["default_repo"])


def test_an_earlier_runs_leftover_in_a_folder_dep_is_reported(tmp_path):
    """A file no stage makes inside a folder dep that holds stage outputs (data/evaluate,
    data/benchmarks) changes that folder's hash: this checkout's dvc.lock would not be a
    fresh clone's. Leftover folders come as one line; a killed writer's temp file, a file
    git tracks and a file a stage makes are not reported."""
    from reasonmed.ops.wiring import stray_files

    files = ["data/evaluate/base/predictions.jsonl",          # made by evaluate@base
             "data/evaluate/base/failures/failures.jsonl",    # made (an out folder)
             "data/evaluate/oldrow/predictions.jsonl",        # a row no longer in params
             "data/evaluate/oldrow/results.json",
             "data/benchmarks/medqa.rejects.jsonl",           # an old layout's file
             "data/benchmarks/.medqa.jsonl.vm.7.tmp",         # a killed writer's temp file
             "data/benchmarks/README.md"]                     # tracked by git
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x\n")
    (tmp_path / ".gitignore").write_text("/data/*\n!/data/benchmarks/\n/data/benchmarks/*\n"
                                         "!/data/benchmarks/README.md\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    got = stray_files(render_stages(DVC_YAML, PARAMS), tmp_path)
    assert [line.split(":")[0] for line in got] == [
        "data/benchmarks/medqa.rejects.jsonl", "data/evaluate/oldrow/ (2 files)"], got
    assert "a dep of" in got[0] and "delete it" in got[0]

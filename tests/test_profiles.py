"""The three complete profiles (params.yaml, configs/paper.yaml, configs/api.yaml) stay valid.

Each section validates with the Params class of the stage that owns it, the files have the
same sections and keys (free-form dicts aside), every role a stage names has a model spec,
every file a profile names exists, and the cost estimate runs on every profile without
touching a model or the network (the paper-scale table is printed).
"""

import importlib
import re
import socket
from pathlib import Path

import pytest
import yaml

from reasonmed.core.params import ModelSpec, load_run, read_params
from reasonmed.core.params import load as load_section
from reasonmed.llm.backends import hf, openai_api, vllm_engine
from reasonmed.ops.check import SECTIONS

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ["params.yaml", "configs/paper.yaml", "configs/api.yaml"]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# Sections that are not a DVC stage of the same name, and the class that reads each.
OWNERS = {"run": None, "exec": None}  # the rest: reasonmed/ops/check.py SECTIONS
# Sections of named entries, one foreach stage each: the class one entry validates with.
ENTRIES = {"benchmarks": ("reasonmed.ingest.benchmarks", "Benchmark"),
           "external": ("reasonmed.ingest.external", "External")}
# Dicts whose keys are free (passed through one-for-one, or keyed by name).
FREE = {"models", "sft.config", "sft.lora", "rl.config", "evaluate.backend_options", "cost.api_prices",
        "exec.roles", "benchmarks", "external", "evaluate.models"}
PAPER_QUESTIONS = 194_925  # docs/method.md section 2


def load(profile: str) -> dict:
    return read_params(ROOT / profile)


def params_class(section: str):
    owner = OWNERS.get(section, SECTIONS.get(section, "").partition(":")[0])
    return importlib.import_module(owner).Params if owner else None


def key_paths(d: dict, prefix: str = "") -> set[str]:
    """Dotted paths of every key, descending into dicts that are not free-form."""
    out = set()
    for k, v in d.items():
        path = f"{prefix}{k}"
        out.add(path)
        if isinstance(v, dict) and path not in FREE:
            out |= key_paths(v, path + ".")
    return out


def roles_used(p: dict) -> set[str]:
    """Roles the stages name: `model`/`base_model` keys, the agents, evaluate's role items
    and its judge."""
    roles = set(p["generate"]["agents"])
    for sec in p.values():
        if isinstance(sec, dict):
            roles |= {sec[k] for k in ("model", "base_model") if isinstance(sec.get(k), str)}
    roles |= {it["model"] for it in p["evaluate"]["models"].values()
              if Path(it["model"]).parts[0] not in ("data", "models")}
    roles |= {p["evaluate"]["judge"]} if p["evaluate"].get("judge") else set()
    return roles


@pytest.mark.parametrize("profile", PROFILES)
def test_every_section_validates_with_its_owner(profile):
    p = load(profile)
    assert p["models"], "no model specs"
    for spec in p["models"].values():
        ModelSpec.model_validate(spec)
    load_run(ROOT / profile)  # run.seed + the global exec knobs
    for section in p:
        if section in ("models", "run", "exec"):
            continue
        if section in ENTRIES:
            mod, cls = ENTRIES[section]
            for name, entry in p[section].items():
                getattr(importlib.import_module(mod), cls).model_validate({"source": name, **entry})
            continue
        assert section in OWNERS or section in SECTIONS, f"{profile}: section {section} has no owner"
        load_section(section, params_class(section), ROOT / profile)  # + exec.<section>
    for section in set(p["exec"]) - {"cache", "offline", "workers", "progress_every_s",
                                      "log_level", "roles"}:
        assert section in DVC, f"{profile}: exec.{section} names no stage"


def test_every_dvc_stage_with_params_is_in_the_profiles():
    # Stages whose module has a Params class read a section of the same name.
    for stage in DVC:
        if stage in ("benchmark", "external"):  # one stage per entry of their section
            assert ("benchmarks" if stage == "benchmark" else stage) in load("params.yaml")
        elif stage not in ("models", "preflight"):  # preflight reads them all
            # every other stage reads the section named after it
            assert stage in SECTIONS and stage in load("params.yaml"), stage


@pytest.mark.parametrize("profile", PROFILES[1:])
def test_profiles_have_the_same_sections_and_keys(profile):
    base, other = load("params.yaml"), load(profile)
    assert list(other) == list(base), "same sections, in the same order"
    assert key_paths(other) == key_paths(base), (
        f"only in {profile}: {sorted(key_paths(other) - key_paths(base))}; "
        f"only in params.yaml: {sorted(key_paths(base) - key_paths(other))}")


@pytest.mark.parametrize("profile", PROFILES)
def test_roles_named_by_stages_have_specs(profile):
    p = load(profile)
    missing = roles_used(p) - set(p["models"])
    assert not missing, f"{profile}: roles without a spec under `models`: {sorted(missing)}"
    assert len(set(p["generate"]["agents"])) == 3


@pytest.mark.parametrize("profile", PROFILES)
def test_model_specs_are_servable(profile):
    for role, raw in load(profile)["models"].items():
        spec = ModelSpec.model_validate(raw)
        if spec.build is not None:  # the models stage builds only under models/
            assert Path(spec.model).parts[0] == "models", f"{role}: built model outside models/"
        ex = (load(profile)["exec"]["roles"] or {}).get(role, {})
        if spec.backend == "openai":
            unknown = set(spec.options) - openai_api.OPTIONS
            assert not unknown, f"{role}: options the openai backend refuses: {sorted(unknown)}"
            assert not set(ex) - openai_api.EXEC, f"{role}: exec options the backend refuses"
            if spec.options.get("azure_endpoint"):
                assert spec.options.get("azure_api_version"), f"{role}: Azure needs a version"
        if spec.backend == "hf":
            hf.check_options(spec, ex)
        if spec.backend == "vllm":
            assert not set(spec.options) & vllm_engine.EXEC, f"{role}: exec knobs in options"
            assert not set(ex) - vllm_engine.EXEC, f"{role}: shaping options under exec"
            tp = ex.get("tensor_parallel_size", 1)
            assert isinstance(tp, int) and tp >= 1


@pytest.mark.parametrize("profile", PROFILES)
def test_gpu_shard_jobs_do_not_share_a_node_blindly(profile):
    # Each generate shard job declares gpus = its agent's tensor_parallel_size; with only
    # --cores, Snakemake would start several TP-N jobs on the same GPUs.
    p = load(profile)
    gpus = [(p["exec"]["roles"].get(a) or {}).get("tensor_parallel_size", 0)
            for a in p["generate"]["agents"]]
    cmd = p["exec"]["generate"]["snakemake"]
    if any(gpus) and "--profile" not in cmd:
        m = re.search(r"--resources\b[^-]*\bgpus=(\d+)", cmd)
        assert m, f"{profile}: generate.snakemake needs --resources gpus=N (or a --profile)"
        assert int(m.group(1)) >= max(gpus)


@pytest.mark.parametrize("profile", PROFILES)
def test_files_a_profile_names_exist(profile):
    p = load(profile)
    files = [p["models_build"]["corpus"], p["models_build"]["vocabulary"]]
    files += [p[s]["prompt"] for s in p if isinstance(p[s], dict) and "prompt" in p[s]]
    files += [s["path"] for s in p["collect"]["sources"] if s["kind"] == "local"]
    # every benchmark and external dataset names a file: its dvc.yaml dep (a hub one names
    # params.yaml, where its revision is pinned)
    files += [s["path"] for s in (*p["benchmarks"].values(), *p["external"].values())]
    for f in files:
        assert (ROOT / f).is_file(), f"{profile}: {f} not found"


def test_paper_profile_is_the_paper_setup():
    p = load("configs/paper.yaml")
    assert not p["exec"]["offline"]
    assert not any("build" in s for s in p["models"].values()), "nothing is built locally"
    m = {r: s["model"] for r, s in p["models"].items()}
    assert [m[a] for a in p["generate"]["agents"]] == [
        "Qwen/Qwen2.5-72B-Instruct", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "FreedomIntelligence/HuatuoGPT-o1-70B"]
    assert m["verifier"] == m["ranker"] == "Qwen/Qwen2.5-72B-Instruct"
    assert m["student"] == "Qwen/Qwen2.5-7B"
    g = p["generate"]
    assert (g["temperatures"], g["top_p"], g["max_tokens"]) == ([0.7, 0.9, 1.0], 0.9, 8192)
    # MedQA, MedMCQA, PubMedQA and 6 MMLU subjects x (dev, validation), all from the hub
    src = p["collect"]["sources"]
    assert len(src) == 15 and all(s["kind"] == "hf" for s in src)
    assert {s["split"] for s in src if s["loader"] == "mmlu"} == {"dev", "validation"}
    assert p["collect"]["decontaminate"] == load("params.yaml")["collect"]["decontaminate"]
    assert not any("limit" in b for b in p["benchmarks"].values()), "full test sets"
    assert p["score"]["sample_size"] == 3000
    rows = p["evaluate"]["models"]
    assert {"qwen2_5_7b_instruct", "huatuogpt_o1_8b", "llama3_1_8b_instruct"} <= set(rows)
    for name in ("qwen2_5_7b_instruct", "huatuogpt_o1_8b", "llama3_1_8b_instruct"):
        assert "/" in m[rows[name]["model"]], f"{name}: a hub id"
    assert p["external"]["medical_o1"]["dataset"] == "FreedomIntelligence/medical-o1-reasoning-SFT"


def test_api_profile_serves_every_llm_role_over_openai():
    p = load("configs/api.yaml")
    llm_roles = roles_used(p) - {p["sft"]["base_model"]}
    assert llm_roles >= {"agent1", "agent2", "agent3", "verifier", "ranker", "refiner",
                         "optimizer", "summarizer", "scorer"}
    for role in llm_roles:
        assert p["models"][role]["backend"] == "openai", role
    assert len({p["models"][a]["model"] for a in p["generate"]["agents"]}) == 3
    # the student stays the default's tiny built model, so the models stage has work to do
    assert p["models"]["student"] == load("params.yaml")["models"]["student"]
    assert p["collect"] == load("params.yaml")["collect"]


@pytest.mark.parametrize("profile", PROFILES)
def test_sft_config_is_a_valid_sftconfig(profile, tmp_path):
    from reasonmed.method import sft

    cfg = load(profile)["sft"]["config"]
    sft.make_config(sft.config_kwargs(cfg, str(tmp_path), seed=0, has_cuda=False))


@pytest.fixture
def no_models_no_network(monkeypatch):
    """Fail loudly if anything builds a backend or opens a socket."""
    import reasonmed.llm.client

    def refuse(*a, **k):
        raise AssertionError("the cost estimate must not touch a model or the network")

    monkeypatch.setattr(reasonmed.llm.client, "make_backend", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def sample_questions(tmp_path_factory) -> str:
    """assets/questions_sample.jsonl as collected `Question` records (what `estimate` reads),
    through the default's own source spec: the raw file is not in the Question schema."""
    from reasonmed.core.records import JsonlWriter, Question
    from reasonmed.ingest.load import load_source
    from reasonmed.method.collect import Params

    spec = Params.model_validate(load("params.yaml")["collect"]).sources[0]
    f = tmp_path_factory.mktemp("collect") / "questions.jsonl"
    with JsonlWriter(f) as w:
        w.write_all(q for q in load_source(spec) if isinstance(q, Question))
    return str(f)


@pytest.mark.parametrize("profile", PROFILES)
def test_cost_estimate_runs_without_models(profile, sample_questions, no_models_no_network,
                                           capsys):
    from reasonmed.ops import estimate

    estimate.main(["--params", profile, "--questions", sample_questions,
               "--scale-to", str(PAPER_QUESTIONS)])
    out = capsys.readouterr().out
    p = load(profile)
    n_paths = PAPER_QUESTIONS * len(p["generate"]["temperatures"]) * p["generate"][
        "samples_per_temperature"]
    for agent in p["generate"]["agents"]:
        spec = p["models"][agent]
        assert f"| generate | {agent} | {spec['backend']} | {spec['model']} | {n_paths:,} |" in out
    assert f"| verify | {p['verify']['model']} |" in out
    assert f"| {n_paths * len(p['generate']['agents']):,} |" in out  # verify requests
    assert "| **total** |" in out
    if profile == "configs/paper.yaml":
        with capsys.disabled():  # the paper-scale estimate, visible in the test log
            print(f"\n\npython -m reasonmed.ops.estimate --params {profile} --questions "
                  f"<collected assets/questions_sample.jsonl> --scale-to {PAPER_QUESTIONS}\n")
            print(out)


# Every `dvc exp run -S` override the README or a profile's comments suggest.
DOCUMENTED_OVERRIDES = ["sft.config.learning_rate=5e-4", "sft.config.num_train_epochs=4",
                        "exec.generate.snakemake='--profile configs/slurm'",
                        "generate.max_tokens=128", "route.unparsed=unrouted",
                        "refine.reasons=others_errors", "assemble.joiner='{cot}\\n\\n{response}'"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("override", DOCUMENTED_OVERRIDES)
def test_dvc_set_param_changes_one_line_and_keeps_the_profile_valid(profile, override, tmp_path):
    """DVC rewrites params itself under `-S` (ruamel, its own layout, YAML 1.2): the profiles
    are kept in that layout, so an override changes only its own line, and what DVC writes
    (e.g. a bare `no` for save_strategy) still validates."""
    from dvc.utils.hydra import apply_overrides

    f = tmp_path / "params.yaml"
    f.write_text((ROOT / profile).read_text())
    apply_overrides(str(f), [override])
    before, after = (ROOT / profile).read_text().splitlines(), f.read_text().splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(before) == len(after) and len(changed) == 1, (override, changed[:5])
    load_run(f)
    for section in ("generate", "route", "refine", "assemble", "sft"):
        load_section(section, params_class(section), f)
    from reasonmed.method import sft

    sft.make_config(sft.config_kwargs(read_params(f)["sft"]["config"], str(tmp_path), 0, False))


def test_the_default_profile_is_the_embedded_default():
    """`make profile P=default` restores exactly the params.yaml main ships."""
    assert (ROOT / "configs/default.yaml").read_bytes() == (ROOT / "params.yaml").read_bytes()


def test_make_profile_never_loses_an_edit(tmp_path):
    import shutil
    import subprocess

    profiles = [f"configs/{p}.yaml" for p in ("default", "paper", "api")]
    for f in ("scripts/profile.sh", "params.yaml", *profiles):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, tmp_path / f)

    def profile(name, **env):
        return subprocess.run(["bash", str(tmp_path / "scripts/profile.sh"), name], cwd=tmp_path,
                              capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env})

    params = tmp_path / "params.yaml"
    assert profile("paper").returncode == 0
    assert params.read_bytes() == (ROOT / "configs/paper.yaml").read_bytes()
    assert profile("api").returncode == 0  # a profile's bytes are no edit
    edited = params.read_text() + "# my note\n"
    params.write_text(edited)
    r = profile("default")
    assert r.returncode == 1 and "not overwriting" in r.stderr
    assert params.read_text() == edited  # refused: untouched
    r = profile("default", FORCE="1")
    assert r.returncode == 0 and (tmp_path / "params.yaml.orig").read_text() == edited
    assert params.read_bytes() == (ROOT / "params.yaml").read_bytes()
    r = profile("nosuch")
    assert r.returncode == 2 and "profiles: " in r.stderr and "paper" in r.stderr

"""The pre-flight check: each misconfiguration gets exactly one clear line, the shipped
profiles' only complaints are the ones a user must act on, and the CLI exits non-zero."""

import copy
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reasonmed.core.params import read_params
from reasonmed.ops.check import problems
from tests.conftest import ROOT

DEFAULT = read_params(ROOT / "params.yaml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_key(p: dict, key: str, value) -> None:
    *head, last = key.split(".")
    for part in head:
        p = p.setdefault(part, {})
    if value is DELETE:
        del p[last]
    else:
        p[last] = value


DELETE = object()
# (what, [(key, value)], env to drop, the one line's pattern)
CASES = [
    ("unknown key", [("generate.temperatuers", [0.7])], (),
     r"generate\.temperatuers: Extra inputs are not permitted \(did you mean 'temperatures'\?\)"),
    ("wrong type", [("rank.k", "two")], (), r"rank\.k: Input should be a valid integer"),
    ("unknown section", [("genrate", {})], (), r"unknown section 'genrate' \(did you mean 'generate'\?\)"),
    # The student and agent1 own their folders (the verifier's also serves the ranker,
    # summarizer and scorer, whose lines a change of its model would add, rightly).
    ("missing model path", [("models.ranker.model", "models/verifer")],
     (), r"models\.ranker\.model: no such model folder 'models/verifer'.*did you mean 'verifier'"),
    ("missing model path outside models/", [("models.student.model", "./checkpoints/student-7b"),
                                             ("models.student.build", DELETE)],
     (), r"models\.student\.model: no such model folder '\./checkpoints/student-7b'"),
    ("unpinned hub id", [("models.student.model", "Qwen/Qwen2.5-0.5B-Instruct"),
                         ("models.student.build", DELETE), ("exec.offline", False)],
     (), r"models\.student\.model: hub id 'Qwen/Qwen2.5-0.5B-Instruct' has no `revision`"),
    ("hub id not cached, offline", [("models.student.model", "Qwen/Qwen2.5-0.5B-Instruct"),
                                    ("models.student.revision", "7ae557604adf67be50417f59c2c2f167def9a775"),
                                    ("models.student.build", DELETE)],
     (), r"hub id 'Qwen/Qwen2.5-0.5B-Instruct' is not in the local Hugging Face cache"),
    ("missing API key variable", [("models.agent1", {"backend": "openai", "model": "gpt-4o-mini",
                                                     "options": {"base_url": "http://127.0.0.1:9/v1"}}),
                                  ("exec.roles.agent1", {"api_key_env": "NO_SUCH_KEY_VAR"})],
     ("NO_SUCH_KEY_VAR",), r"models\.agent1: the API key variable NO_SUCH_KEY_VAR is not set"),
    ("bad SFTConfig value", [("sft.config.lr_scheduler_type", "cosine_wobble")], (),
     r"sft\.config is invalid: .*cosine_wobble"),
    ("unknown SFTConfig field", [("sft.config.learning_rat", 1e-4)], (),
     r"unknown SFTConfig field\(s\): sft\.config\.learning_rat"),
    ("bad GRPOConfig type", [("rl.config.num_generations", "four")], (),
     r"rl\.config\.num_generations: 'four' is not accepted: the field takes int"),
    ("unknown GRPOConfig field", [("rl.config.num_generation", 4)], (),
     r"unknown GRPOConfig field\(s\): rl\.config\.num_generation"),
    ("bad GRPOConfig value", [("rl.config.num_generations", 3)], (),
     r"rl\.config is invalid: .*num_generations"),
    ("unknown hf option", [("models.agent1.options", {"dtyp": "float32"})], (),
     r"models\.agent1: .*unknown hf option 'dtyp' \(did you mean 'dtype'\?\)"),
    ("undefined agent", [("generate.agents", ["agent1", "agent4"])], (),
     r"role 'agent4' is used but not defined under `models`"),
    ("bad benchmark field", [("benchmarks.medqa.limt", 3)], (),
     r"benchmarks\.medqa\.limt: Extra inputs are not permitted \(did you mean 'limit'\?\)"),
    ("exec knob in a hashed section", [("generate.shards", 8)], (),
     r"generate\.shards says how the stage runs.*exec\.generate\.shards"),
    ("a shaping option under exec", [("exec.roles.verifier", {"batch_size": 8})], (),
     r"models\.verifier: .*'batch_size'.*it shapes outputs: set it under models\.<role>\.options"),
    ("threads under exec", [("exec.threads", 1)], (),
     r"exec\.threads changes output bytes.*run\.threads"),
    ("a chat template no dep covers", [("sft.chat_template", "/tmp/mine.jinja")], (),
     r"sft\.chat_template: /tmp/mine\.jinja must live under configs/chat_templates/"),
    ("an accelerate config no dep covers",
     [("sft.launcher", "accelerate launch --config_file /tmp/ds.yaml")], (),
     r"sft\.launcher: /tmp/ds\.yaml must live under configs/accelerate/"),
]


def test_the_default_is_ready():
    assert problems(str(ROOT / "params.yaml")) == []


def test_the_default_is_ready_on_a_fresh_clone(tmp_path, monkeypatch):
    """Before the models stage ran: no models/ folder yet, and roles that share a built
    folder (ranker on models/verifier) are no hub ids."""
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "models").exists()
    assert problems(str(ROOT / "params.yaml")) == []


def make_workspace(root: Path, built: bool) -> Path:
    """Where the check runs: a checkout before the models stage ran (no models/), or one
    whose models/ holds every folder of an earlier build. The answer must not differ: the
    models stage rebuilds models/ from params, so a leftover folder proves nothing."""
    ws = root / "ws"
    ws.mkdir()
    if built:
        for role in ("agent1", "agent2", "agent3", "verifier", "student"):
            (ws / "models" / role).mkdir(parents=True)
            (ws / "models" / role / "config.json").write_text("{}")
    return ws


@pytest.fixture(params=["fresh clone", "after a build"])
def workspace(request, tmp_path):
    return make_workspace(tmp_path, request.param == "after a build")


# Every case on a fresh clone; the cases about model folders after a build too.
FOLDER_CASES = {"missing model path", "missing model path outside models/", "unpinned hub id",
                "hub id not cached, offline"}
WORKSPACE_CASES = [pytest.param(*c, False, id=f"fresh clone-{c[0]}") for c in CASES] + [
    pytest.param(*c, True, id=f"after a build-{c[0]}") for c in CASES if c[0] in FOLDER_CASES]


@pytest.mark.parametrize("what, edits, unset, pattern, built", WORKSPACE_CASES)
def test_one_clear_line_per_misconfiguration(tmp_path, monkeypatch, what, edits, unset,
                                             pattern, built):
    workspace = make_workspace(tmp_path, built)
    p = copy.deepcopy(DEFAULT)
    for key, value in edits:
        set_key(p, key, value)
    for var in unset:
        monkeypatch.delenv(var, raising=False)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    monkeypatch.chdir(workspace)  # the default's model folders are relative to the checkout
    found = problems(str(f))
    assert len(found) == 1, found
    assert __import__("re").search(pattern, found[0]), found[0]
    assert "\n" not in found[0] and "Traceback" not in found[0]


def test_an_unreachable_endpoint_is_one_line_when_asked(tmp_path, monkeypatch):
    p = copy.deepcopy(DEFAULT)
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    p["models"]["agent1"] = {"backend": "openai", "model": "gpt-4o-mini", "options": {"base_url": url}}
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    monkeypatch.chdir(tmp_path)  # a fresh clone: no models/ yet
    assert problems(str(f)) == []  # not asked: no network
    found = problems(str(f), reach=True)
    assert len(found) == 1 and f"endpoint {url} is unreachable" in found[0], found


def test_the_api_profile_asks_only_for_its_key(tmp_path, monkeypatch):
    """Its roles are keyless (a local server): ready without a key; without `keyless`, the
    key is the only thing missing."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert problems(str(ROOT / "configs/api.yaml")) == []
    f = tmp_path / "api.yaml"
    f.write_text((ROOT / "configs/api.yaml").read_text().replace(" keyless: true,", ""))
    found = problems(str(f))
    assert len(found) == 9 and all("the API key variable OPENAI_API_KEY is not set" in m
                                   for m in found), found
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert problems(str(f)) == []


def test_a_shared_folder_nobody_builds_any_more_is_named_for_every_role_even_if_left_over(
        tmp_path, monkeypatch, workspace):
    """The verifier's build removed: the ranker, summarizer and scorer that load its folder
    are broken too, whether or not an earlier build left models/verifier behind."""
    p = copy.deepcopy(DEFAULT)
    set_key(p, "models.verifier.build", DELETE)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    monkeypatch.chdir(workspace)
    found = problems(str(f))
    sharing = {r for r, b in DEFAULT["models"].items() if b.get("model") == "models/verifier"}
    assert {m.split("models.")[1].split(".")[0] for m in found} == sharing, found
    assert all("no such model folder 'models/verifier': no role builds it" in m for m in found)


def test_the_cli_exits_non_zero_naming_the_problem(tmp_path):
    p = copy.deepcopy(DEFAULT)
    p["route"]["bands"] = "wide"
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "reasonmed.ops.check", "--params", str(f)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "route.bands" in r.stderr and "1 problem(s)" in r.stderr, r.stderr
    f.write_text("generate: [unclosed\n")
    r = subprocess.run([sys.executable, "-m", "reasonmed.ops.check", "--params", str(f)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "not readable YAML" in r.stderr and "Traceback" not in r.stderr


def test_once_remembers_a_pass_only_for_the_same_bytes_and_never_a_failure(tmp_path, monkeypatch):
    """`--once` (make repro, then the generate stage) skips a check that passed for these
    params bytes, check code and variable names; an edit to either, a new variable or a
    failure checks again."""
    import reasonmed.ops.check as check

    calls, live = [], []
    answer: list[str] = []

    def problems(path, reach=False, static=True):
        (calls if static else live).append(path)  # static=False: only the endpoints
        return answer if static else []

    monkeypatch.setattr(check, "problems", problems)
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "params.yaml"
    f.write_text("run: {seed: 1}\n")
    check.main(["--once", "--params", str(f)])
    check.main(["--once", "--params", str(f)])
    assert len(calls) == 1
    assert len(live) == 1  # endpoints are asked again: a server is up or down now
    check.main(["--params", str(f)])  # without --once: always checked
    assert len(calls) == 2
    f.write_text("run: {seed: 2}\n")
    check.main(["--once", "--params", str(f)])
    assert len(calls) == 3
    monkeypatch.setenv("OPENAI_API_KEY_FOR_THIS_TEST", "x")
    check.main(["--once", "--params", str(f)])
    assert len(calls) == 4
    import reasonmed.core.closure as wiring  # an edit to any module the check runs

    monkeypatch.setattr(wiring, "files_digest", lambda paths, root=None: "edited")
    check.main(["--once", "--params", str(f)])
    assert len(calls) == 5
    answer.append("route.bands: not a list")
    f.write_text("run: {seed: 3}\n")
    for _ in range(2):
        with pytest.raises(SystemExit, match="1 problem"):
            check.main(["--once", "--params", str(f)])
    assert len(calls) == 7


def test_dvc_yaml_deps_that_do_not_follow_the_params_are_named(tmp_path, monkeypatch):
    # what DVC's interpolation cannot follow: a fourth agent, a local checkpoint folder
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    p = copy.deepcopy(DEFAULT)
    p["models"]["agent4"] = copy.deepcopy(p["models"]["agent1"])
    p["models"]["agent4"].pop("build")
    p["models"]["agent4"]["model"] = "models/agent1"
    p["generate"]["agents"].append("agent4")
    p["models"]["ranker"]["model"] = str(tmp_path / "judge")
    (tmp_path / "judge").mkdir()
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    found = problems(str(f))
    assert any("stage generate uses role 'agent4'" in m for m in found), found
    assert any(f"does not depend on {tmp_path / 'judge'}" in m for m in found), found

"""The pre-flight check: each misconfiguration gets exactly one clear line, the shipped
profiles' only complaints are the ones a user must act on, and the CLI exits non-zero."""

import copy
import socket
import subprocess
import sys

import pytest
import yaml

from reasonmed.check import problems
from reasonmed.params import read_params
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
    ("missing model path", [("models.verifier.model", "models/verifer"), ("models.verifier.build", DELETE)],
     (), r"models\.verifier\.model: no such model folder 'models/verifer'"),
    ("unpinned hub id", [("models.verifier.model", "Qwen/Qwen2.5-0.5B-Instruct"),
                         ("models.verifier.build", DELETE), ("exec.offline", False)],
     (), r"models\.verifier\.model: hub id 'Qwen/Qwen2.5-0.5B-Instruct' has no `revision`"),
    ("hub id not cached, offline", [("models.verifier.model", "Qwen/Qwen2.5-0.5B-Instruct"),
                                    ("models.verifier.revision", "7ae557604adf67be50417f59c2c2f167def9a775"),
                                    ("models.verifier.build", DELETE)],
     (), r"hub id 'Qwen/Qwen2.5-0.5B-Instruct' is not in the local Hugging Face cache"),
    ("missing API key variable", [("models.verifier", {"backend": "openai", "model": "gpt-4o-mini",
                                                       "options": {"base_url": "http://127.0.0.1:9/v1"}}),
                                  ("exec.roles.verifier", {"api_key_env": "NO_SUCH_KEY_VAR"})],
     ("NO_SUCH_KEY_VAR",), r"models\.verifier: the API key variable NO_SUCH_KEY_VAR is not set"),
    ("bad SFTConfig value", [("sft.config.lr_scheduler_type", "cosine_wobble")], (),
     r"sft\.config is invalid: .*cosine_wobble"),
    ("unknown SFTConfig field", [("sft.config.learning_rat", 1e-4)], (),
     r"unknown SFTConfig field\(s\): sft\.config\.learning_rat"),
    ("unknown hf option", [("models.agent1.options", {"dtyp": "float32"})], (),
     r"models\.agent1: .*unknown hf option 'dtyp' \(did you mean 'dtype'\?\)"),
    ("undefined agent", [("generate.agents", ["agent1", "agent4"])], (),
     r"role 'agent4' is used but not defined under `models`"),
    ("bad benchmark field", [("benchmarks.medqa.limt", 3)], (),
     r"benchmarks\.medqa\.limt: Extra inputs are not permitted \(did you mean 'limit'\?\)"),
    ("exec knob in a hashed section", [("rank.batch_questions", 8)], (),
     r"rank\.batch_questions says how the stage runs.*exec\.rank\.batch_questions"),
]


def test_the_default_is_ready():
    assert problems(str(ROOT / "params.yaml")) == []


def test_the_default_is_ready_on_a_fresh_clone(tmp_path, monkeypatch):
    """Before the models stage ran: no models/ folder yet, and roles that share a built
    folder (ranker on models/verifier) are no hub ids."""
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "models").exists()
    assert problems(str(ROOT / "params.yaml")) == []


@pytest.mark.parametrize("what, edits, unset, pattern", CASES, ids=[c[0] for c in CASES])
def test_one_clear_line_per_misconfiguration(tmp_path, monkeypatch, what, edits, unset, pattern):
    p = copy.deepcopy(DEFAULT)
    for key, value in edits:
        set_key(p, key, value)
    for var in unset:
        monkeypatch.delenv(var, raising=False)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    monkeypatch.chdir(ROOT)  # the default's model folders are relative to the repository
    found = problems(str(f))
    assert len(found) == 1, found
    assert __import__("re").search(pattern, found[0]), found[0]
    assert "\n" not in found[0] and "Traceback" not in found[0]


def test_an_unreachable_endpoint_is_one_line_when_asked(tmp_path, monkeypatch):
    p = copy.deepcopy(DEFAULT)
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    p["models"]["verifier"] = {"backend": "openai", "model": "gpt-4o-mini", "options": {"base_url": url}}
    del p["exec"]["roles"]["verifier"]  # its hf knobs would not fit an openai role
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    monkeypatch.chdir(ROOT)
    assert problems(str(f)) == []  # not asked: no network
    found = problems(str(f), reach=True)
    assert len(found) == 1 and f"endpoint {url} is unreachable" in found[0], found


def test_the_api_profile_asks_only_for_its_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    found = problems(str(ROOT / "configs/api.yaml"))
    assert found and all("the API key variable OPENAI_API_KEY is not set" in m for m in found), found
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert problems(str(ROOT / "configs/api.yaml")) == []


def test_the_cli_exits_non_zero_naming_the_problem(tmp_path):
    p = copy.deepcopy(DEFAULT)
    p["route"]["bands"] = "wide"
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "reasonmed.check", "--params", str(f)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "route.bands" in r.stderr and "1 problem(s)" in r.stderr, r.stderr
    f.write_text("generate: [unclosed\n")
    r = subprocess.run([sys.executable, "-m", "reasonmed.check", "--params", str(f)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "not readable YAML" in r.stderr and "Traceback" not in r.stderr

"""The pre-flight stops a run before any model call, one line per problem, on a plain `dvc repro`.

A table of misconfigurations that used to fail late (inside SFT, after every LLM stage) or
never (a dead endpoint retried for minutes): each is one line from the check, naming the key
or role. Then the DVC side: the `preflight` stage runs first on every `dvc repro`, stops the
run on each problem before any other stage starts and before any request reaches a server,
and a pass writes the same bytes (so nothing below it reruns).
"""

import copy
import hashlib
import http.server
import json
import re
import threading

import pytest
import yaml

from reasonmed.core.params import read_params
from reasonmed.ops import runtime
from reasonmed.ops.check import problems, resolve
from tests.conftest import ROOT, clone_like, sh, stages_run

DEFAULT = read_params(ROOT / "params.yaml")


class Server:
    """A tiny OpenAI-compatible server: /v1/models lists `served`; every other request is
    counted (a model call) and refused."""

    def __init__(self, served=("served-model",)):
        calls = self.calls = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"data": [{"id": m} for m in served]}).encode()
                self.send_response(200 if self.path.endswith("/models") else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                calls.append(self.path)
                self.send_response(500)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def openai_agent(url, model="served-model", keyless=False, key_env="PREFLIGHT_TEST_KEY"):
    return [("models.agent1", {"backend": "openai", "model": model, "options": {"base_url": url}}),
            ("exec.roles.agent1", {"api_key_env": key_env, **({"keyless": True} if keyless else {})})]


def edited(edits):
    p = copy.deepcopy(DEFAULT)
    for key, value in edits:
        *head, last = key.split(".")
        d = p
        for part in head:
            d = d.setdefault(part, {})
        d[last] = value
    return p


DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing answers
# (what, edits, env to set, the one line's pattern); "SERVER" in a value is the live server
CASES = [
    ("SFTConfig int as a word", [("sft.config.per_device_train_batch_size", "eight")], {},
     r"sft\.config\.per_device_train_batch_size: 'eight' is not accepted: the field takes int"),
    ("SFTConfig float as a word", [("sft.config.learning_rate", "fast")], {},
     r"sft\.config\.learning_rate: 'fast' is not accepted: the field takes float"),
    ("SFTConfig flag as a word", [("sft.config.bf16", "yes")], {},
     r"sft\.config\.bf16: 'yes' is not accepted: the field takes bool or null"),
    ("unreachable endpoint", openai_agent(DEAD), {"PREFLIGHT_TEST_KEY": "k"},
     r"models\.agent1: endpoint http://127\.0\.0\.1:9/v1 is unreachable"),
    ("wrong model name", openai_agent("SERVER", model="gpt-4o-mni"), {"PREFLIGHT_TEST_KEY": "k"},
     r"models\.agent1: endpoint .* does not serve model 'gpt-4o-mni' \(it lists: served-model\)"),
    ("missing key", openai_agent("SERVER"), {},
     r"models\.agent1: the API key variable PREFLIGHT_TEST_KEY is not set .*keyless: true"),
]


def fill(value, url):
    if isinstance(value, dict):
        return {k: fill(v, url) for k, v in value.items()}
    return url if value == "SERVER" else value


@pytest.mark.parametrize("what, edits, env, pattern", CASES, ids=[c[0] for c in CASES])
def test_one_line_per_misconfiguration(tmp_path, monkeypatch, server, what, edits, env, pattern):
    monkeypatch.delenv("PREFLIGHT_TEST_KEY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(edited([(k, fill(v, server.url)) for k, v in edits]), sort_keys=False))
    monkeypatch.chdir(tmp_path)  # a fresh clone: no models/ yet
    found = problems(str(f), reach="all")
    assert len(found) == 1, found
    assert re.search(pattern, found[0]), found[0]
    assert "\n" not in found[0] and "Traceback" not in found[0]
    assert server.calls == []  # the check only lists models, never generates


def test_a_keyless_role_with_its_model_served_is_ready(tmp_path, monkeypatch, server):
    monkeypatch.delenv("PREFLIGHT_TEST_KEY", raising=False)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(edited(openai_agent(server.url, keyless=True)), sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert problems(str(f), reach="all") == []


def test_a_local_endpoint_is_asked_only_when_told(tmp_path, monkeypatch):
    """`make check` asks endpoints off this machine by default; --reach (and the DVC stage)
    asks every one."""
    monkeypatch.setenv("PREFLIGHT_TEST_KEY", "k")
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(edited(openai_agent(DEAD)), sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert problems(str(f), reach="remote") == []
    assert len(problems(str(f), reach="all")) == 1


@pytest.mark.parametrize("installed, cpu_build, gpu, pattern", [
    (False, False, False, r"models\.agent1: backend vllm, but vLLM is not installed here"),
    (True, False, False, r"models\.agent1: backend vllm needs a GPU and none is visible here"),
], ids=["vllm missing", "no GPU"])
def test_a_vllm_role_needs_vllm_and_a_gpu(tmp_path, monkeypatch, installed, cpu_build, gpu, pattern):
    monkeypatch.setattr(runtime, "installed", lambda m: installed if m == "vllm" else True)
    monkeypatch.setattr(runtime, "vllm_is_cpu_build", lambda: cpu_build)
    monkeypatch.setattr(runtime, "has_gpu", lambda: gpu)
    monkeypatch.setattr(runtime, "engine_problems", lambda *a: [])  # vLLM itself: test_vllm_backend
    monkeypatch.setattr(runtime, "sampling_problem", lambda *a, **k: None)
    f = tmp_path / "params.yaml"
    spec = {**DEFAULT["models"]["agent1"], "backend": "vllm"}
    spec["options"] = {}
    f.write_text(yaml.safe_dump(edited([("models.agent1", spec)]), sort_keys=False))
    monkeypatch.chdir(ROOT)  # the default's model folders
    found = problems(str(f))
    assert len(found) == 1 and re.search(pattern, found[0]), found


def test_a_deepspeed_launch_needs_deepspeed_and_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "installed", lambda m: m != "deepspeed")
    monkeypatch.setattr(runtime, "has_gpu", lambda: False)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(edited([(
        "sft.launcher", "accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml")]),
        sort_keys=False))
    monkeypatch.chdir(ROOT)
    found = problems(str(f))
    assert [m.split(": ", 2)[1] for m in found] == ["sft.launcher"] * 2, found
    assert "DeepSpeed, which is not installed" in found[0] and "needs a GPU" in found[1], found


def test_a_profile_is_named_or_given_as_a_path(monkeypatch):
    """`make check P=paper` and `make check P=configs/paper.yaml` check the same file."""
    monkeypatch.chdir(ROOT)
    assert resolve("paper") == "configs/paper.yaml" == resolve("configs/paper.yaml")
    assert resolve("params.yaml") == "params.yaml"
    assert resolve("no-such-profile") == "no-such-profile"  # then: "no such params file"
    assert problems("no-such-profile") == ["no-such-profile: no such params file"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return clone_like(tmp_path_factory.mktemp("preflight"))


@pytest.mark.slow
@pytest.mark.parametrize("what", ["SFTConfig int as a word", "wrong model name", "missing key"])
def test_a_plain_dvc_repro_stops_at_the_preflight(clone, server, what):
    """Before any stage that could load a model or send a request: the pre-flight stage fails
    with the one line, DVC runs nothing else, the server saw no request."""
    _, edits, env, pattern = next(c for c in CASES if c[0] == what)
    params = clone / "params.yaml"
    original = params.read_text()
    params.write_text(yaml.safe_dump(edited([(k, fill(v, server.url)) for k, v in edits]),
                                     sort_keys=False))
    try:
        r = sh("dvc", "repro", cwd=clone, check=False, env={"PREFLIGHT_TEST_KEY": "", **env})
    finally:
        params.write_text(original)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "Running stage 'preflight'" in out and stages_run(out) == set(), out[-3000:]
    assert re.search(pattern, out) and "Traceback" not in out, out[-3000:]
    assert server.calls == []


@pytest.mark.slow
def test_a_pass_writes_the_same_bytes_and_is_fast_the_second_time(clone):
    """The stage's output does not move on a pass (nothing below reruns), and the second
    pass, outside DVC or inside, is remembered (work/check/: the marker is not rewritten)."""
    sh("dvc", "repro", "preflight", cwd=clone)
    ready = clone / "data/preflight/ready.txt"
    first = hashlib.md5(ready.read_bytes()).hexdigest()
    (marker,) = (clone / "work/check").iterdir()
    stamp = marker.stat().st_mtime_ns
    r = sh("python", "-m", "stages.preflight", "params.yaml", "data/preflight", cwd=clone)
    assert r.stderr == "" and hashlib.md5(ready.read_bytes()).hexdigest() == first
    out = sh("dvc", "repro", "preflight", cwd=clone).stdout
    assert stages_run(out) == set() and hashlib.md5(ready.read_bytes()).hexdigest() == first
    assert marker.stat().st_mtime_ns == stamp  # remembered, not checked again
    (clone / "params.yaml").write_text((clone / "params.yaml").read_text() + "\n")
    sh("python", "-m", "stages.preflight", "params.yaml", "data/preflight", cwd=clone)
    assert len(list((clone / "work/check").iterdir())) == 2  # new bytes: checked again

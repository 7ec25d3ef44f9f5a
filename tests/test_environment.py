"""What computes an artifact: the compute fingerprint moves with code, libraries and pins (so
a cache keyed on it cannot replay the old computation), the run record describes the machine
and never reaches a key, and `make doctor` prints it."""

import subprocess
import sys

import pytest

from reasonmed import CPU_PINS
from reasonmed.core.closure import closure
from reasonmed.core.environment import record
from reasonmed.llm import fingerprint as fp
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def fresh():
    fp._fingerprint.cache_clear()
    fp.code_digest.cache_clear()
    yield
    fp._fingerprint.cache_clear()
    fp.code_digest.cache_clear()


def test_the_fingerprint_covers_the_code_that_computes_a_completion():
    files = set(closure(*fp.MODULES["hf"]))
    # the sampler, the backend, the LLM layer, the cache keys and the pins all shape it
    assert {"reasonmed/llm/sampling.py", "reasonmed/llm/backends/hf.py", "reasonmed/llm/client.py",
            "reasonmed/llm/cache.py", "reasonmed/__init__.py"} <= files
    assert {"reasonmed/method/tinymodels.py", "stages/models.py"} <= set(closure(*fp.MODULES["build"]))


def test_the_fingerprint_moves_with_a_library_version_and_a_pin(monkeypatch):
    base = fp.fingerprint("hf")
    assert fp.fingerprint("hf") == base
    real = fp.version
    monkeypatch.setattr(fp, "version", lambda d: "9.9.9" if d == "transformers" else real(d))
    fp._fingerprint.cache_clear()
    upgraded = fp.fingerprint("hf")
    assert upgraded != base
    monkeypatch.setattr(fp, "version", real)
    fp._fingerprint.cache_clear()
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    assert fp.fingerprint("hf") not in (base, upgraded)
    # the client library of a hosted model computes nothing: its upgrade re-buys nothing
    monkeypatch.delenv("MKL_CBWR")
    fp._fingerprint.cache_clear()
    api = fp.fingerprint("openai")
    monkeypatch.setattr(fp, "version", lambda d: "9.9.9" if d == "openai" else real(d))
    fp._fingerprint.cache_clear()
    assert fp.fingerprint("openai") == api


def test_the_fingerprint_moves_with_an_edit_of_the_code(monkeypatch):
    from reasonmed.core import closure as wiring

    base = fp.fingerprint("hf")
    monkeypatch.setattr(wiring, "files_digest", lambda paths, root=None: "edited")
    fp._fingerprint.cache_clear()
    fp.code_digest.cache_clear()
    assert fp.fingerprint("hf") != base


def test_the_run_record_describes_the_machine_and_is_never_hashed(monkeypatch):
    from reasonmed.core import environment

    rec = record()
    assert set(CPU_PINS) == set(rec["pins"]) and rec["pins_overridden"] == []
    assert rec["cpu"]["logical_cpus"] >= 1 and "torch" in rec["libraries"]
    # another CPU (vendor, model, cores) is another record but the same fingerprint: an
    # Intel and an AMD machine must key, and write, the same bytes
    base = fp.fingerprint("hf")
    monkeypatch.setattr(environment, "_cpu", lambda: {"vendor": "AuthenticAMD", "logical_cpus": 64})
    fp._fingerprint.cache_clear()
    assert record()["cpu"]["vendor"] == "AuthenticAMD" and fp.fingerprint("hf") == base


def test_doctor_prints_the_record():
    r = subprocess.run([sys.executable, "-m", "reasonmed.llm.fingerprint"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for word in ("cpu", "pins", "MKL_CBWR=COMPATIBLE", "libraries", "compute", "torch"):
        assert word in r.stdout, r.stdout

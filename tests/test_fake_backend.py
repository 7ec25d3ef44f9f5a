"""The `fake` backend: replies that are a pure function of the request, schema-valid JSON,
registration where backends are chosen, and use from Python with scripted replies.

    python -m pytest -q tests/test_fake_backend.py
"""

import json

import pytest

from reasonmed.core.params import ModelSpec, RunParams
from reasonmed.llm.backends.fake import FakeBackend, check_options, schema_instance
from reasonmed.llm.client import LLM, make_backend
from reasonmed.llm.types import Completion, Request
from reasonmed.method.judging import check_object, parse_score, score_schema
from reasonmed.method.verification import parse_verdict, verdict_schema
from tests.doubles import fake_llm


def spec(**options):
    return ModelSpec(backend="fake", model="judge", options=options)


def ask(backend, requests):
    got = {}
    backend.generate(requests, lambda done: got.update(done))
    return [got[i] for i in range(len(requests))]


def reqs(n, **kw):
    return [Request.chat("sys", f"q{i}", seed=i, **kw) for i in range(n)]


def test_replies_are_a_pure_function_of_the_request():
    default = ask(FakeBackend(spec()), reqs(3))
    assert [c.text for c in default] == [c.text for c in ask(FakeBackend(spec()), reqs(3))]
    assert len({c.text for c in default}) == 3 and default[0].text.startswith("fake reply ")
    assert default[0].finish_reason == "stop" and default[0].prompt_tokens == 2  # "sys q0"
    assert [c.text for c in ask(FakeBackend(spec(reply="Yes.")), reqs(2))] == ["Yes.", "Yes."]
    cycled = FakeBackend(spec(reply=["a", "b", "c"]))
    assert [c.text for c in ask(cycled, reqs(4))] == ["a", "b", "c", "a"]  # by seed + sample
    [again] = ask(cycled, [Request.chat("sys", "other", seed=1, sample=1)])
    assert again.text == "c"
    fixed = ask(FakeBackend(spec(tokens=[10, 5])), reqs(1))[0]
    assert (fixed.prompt_tokens, fixed.completion_tokens) == (10, 5)


@pytest.mark.parametrize("schema", [
    verdict_schema(120), verdict_schema(None), score_schema(range(6), 100),
    {"type": "object", "properties": {
        "n": {"type": "integer", "minimum": 3, "maximum": 9},
        "x": {"type": "number", "exclusiveMinimum": 1},
        "neg": {"type": "integer", "maximum": -2},
        "s": {"type": "string", "minLength": 6, "maxLength": 8},
        "tiny": {"type": "string", "maxLength": 2},
        "flag": {"type": "boolean"}, "none": {"type": "null"},
        "opt": {"type": ["null", "string"]},
        "list": {"type": "array", "items": {"const": 7}, "minItems": 2},
        "pick": {"anyOf": [{"$ref": "#/$defs/Leaf"}, {"type": "string"}]},
        "both": {"allOf": [{"type": "integer"}, {"minimum": 4}]}},
     "$defs": {"Leaf": {"type": "object", "properties": {"k": {"enum": ["first", "second"]}}}}},
], ids=["verdict", "verdict-unbounded", "score", "keywords"])
def test_a_schema_request_gets_a_valid_instance(schema):
    jsonschema = pytest.importorskip("jsonschema")
    [c] = ask(FakeBackend(spec()), [Request.chat(None, "judge", schema=schema)])
    jsonschema.validate(json.loads(c.text), schema)
    assert c.text == json.dumps(schema_instance(schema))


def test_the_judges_parse_its_replies():
    [v, s] = ask(FakeBackend(spec()), [Request.chat(None, "v", schema=verdict_schema(10)),
                                       Request.chat(None, "s", schema=score_schema(range(6), 5))])
    assert parse_verdict(v.text, 10) == ("Correct", "fake")  # the first enum value
    assert check_object(json.loads(s.text), score_schema(range(6), 5))["score"] == 0
    assert parse_score(s.text, range(6))[0] == 0


def test_python_callers_script_replies_and_failures():
    def reply(r):
        text = r.messages[-1][1]
        return Completion("", "error", 0, 0, error="boom") if text == "q1" else f"echo {text}"

    be = FakeBackend(spec(), reply=reply, tokens=(3, 2))
    out = ask(be, reqs(3))
    assert [c.text for c in out] == ["echo q0", "", "echo q2"] and out[1].failed
    assert (out[0].prompt_tokens, out[0].completion_tokens) == (3, 2)
    assert be.seen == [3] and be.calls == 3 and [r.seed for r in be.requests] == [0, 1, 2]


def test_batch_size_sets_the_commit_batches():
    sizes = []
    FakeBackend(spec(), exec_opts={"batch_size": 2}).generate(
        reqs(5), lambda done: sizes.append(len(done)))
    assert sizes == [2, 2, 1]


def test_unknown_or_misplaced_options_are_refused():
    with pytest.raises(ValueError, match="did you mean 'reply'"):
        check_options(spec(replys="x"), {})
    with pytest.raises(ValueError, match="move it to exec.roles"):
        check_options(spec(batch_size=2), {})
    with pytest.raises(ValueError, match="unknown fake exec option"):
        check_options(spec(), {"max_concurrency": 2})
    with pytest.raises(ValueError, match="non-empty list"):
        check_options(spec(reply=[]), {})
    with pytest.raises(ValueError, match="prompt_tokens"):
        check_options(spec(tokens=[1]), {})


def test_a_model_spec_selects_it_and_the_cache_replays_it(tmp_path):
    run = RunParams(cache=str(tmp_path / "c"))
    assert isinstance(make_backend(spec(), run, {}), FakeBackend)
    first = LLM("judge", spec(reply=["a", "b"]), run, stage="t")
    out = first.generate(reqs(4))
    assert [c.text for c in out] == ["a", "b", "a", "b"] and first.revision == "fake:judge"
    again = LLM("judge", spec(reply=["a", "b"]), run, stage="t",
                backend_factory=lambda *_: pytest.fail("a warm rerun builds no backend"))
    assert [c.text for c in again.generate(reqs(4))] == ["a", "b", "a", "b"]
    [row] = first.ledger.to_list()
    assert row["backend"] == "fake" and row["revision"] == "fake:judge" and row["requests"] == 4
    # another reply is another model: its options are in every key
    other = LLM("judge", spec(reply="c"), run, stage="t")
    assert [c.text for c in other.generate(reqs(1))] == ["c"]


def test_registered_where_backends_are_chosen():
    from reasonmed.llm.fingerprint import MODULES, fingerprint
    from reasonmed.ops.check import roles

    assert "reasonmed.llm.backends.fake" in MODULES["fake"] and len(fingerprint("fake")) == 16
    good = {"models": {"judge": {"backend": "fake", "model": "anything/at-all"}},
            "exec": {"roles": {"judge": {"batch_size": 4}}}}
    assert list(roles("p.yaml", good)) == []  # no weights looked for, no key needed
    bad = {"models": {"judge": {"backend": "fake", "model": "m", "options": {"reply": 3}}}}
    assert list(roles("p.yaml", bad)) == ["p.yaml: models.judge: options: fake option 'reply' "
                                          "is a string or a non-empty list of strings"]
    with pytest.raises(ValueError):
        ModelSpec(backend="fakes", model="m")


def test_the_test_double_is_the_real_client():
    llm = fake_llm(lambda r: f"seen {r.seed}")
    assert isinstance(llm, LLM) and llm.spec.backend == "fake"
    assert [c.text for c in llm.generate(reqs(2))] == ["seen 0", "seen 1"]
    assert [c.text for c in llm.generate(reqs(3))] == ["seen 0", "seen 1", "seen 2"]
    assert llm.backend.seen == [2, 1]  # the cache answered the repeats
    assert [c.text for c in fake_llm(lambda r: "fresh").generate(reqs(1))] == ["fresh"]  # own cache


def test_the_docstring_command_runs_a_role_with_no_model(tmp_path, monkeypatch, capsys):
    from reasonmed.llm.client import main

    params = tmp_path / "fake.yaml"
    params.write_text('models:\n  judge: {backend: fake, model: judge, options: {reply: "Yes."}}\n'
                      f"exec: {{cache: {tmp_path / 'cache'}}}\n")
    monkeypatch.chdir(tmp_path)
    main(["judge", "Is aspirin an NSAID?", "--params", str(params), "--seed", "4"])
    out = capsys.readouterr()
    # the reply, then one summary line (generation tokens/s without the load, cache or not)
    assert out.out == "Yes.\n"
    [line] = out.err.splitlines()
    assert line.startswith("judge (fake:judge): ") and " completion tokens | " in line
    assert "tok/s generation" in line and "| load " in line and "| model call | seed 4 |" in line
    main(["judge", "Is aspirin an NSAID?", "--params", str(params), "--seed", "4", "--json"])
    out = capsys.readouterr()
    assert out.out.startswith("Yes.\n") and json.loads(out.out[out.out.index("["):])[0]["cache_hits"] == 1
    [line] = out.err.splitlines()
    assert "| no generation | " in line and "| cache hit | seed 4 |" in line


def test_python_dash_m_reasonmed_llm_is_the_client(tmp_path):
    import subprocess
    import sys

    params = tmp_path / "fake.yaml"
    params.write_text('models:\n  judge: {backend: fake, model: judge, options: {reply: "Yes."}}\n'
                      f"exec: {{cache: {tmp_path / 'cache'}}}\n")
    r = subprocess.run([sys.executable, "-m", "reasonmed.llm", "judge", "Is aspirin an NSAID?",
                        "--params", str(params)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Yes.\n" and r.stderr.startswith("judge (fake:judge): "), r.stderr

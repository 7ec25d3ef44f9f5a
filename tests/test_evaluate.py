"""evaluate: answer extraction tables, prompt, sampling, bootstrap CIs, metrics, real loaders."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from reasonmed.core.records import Question, question_id
from reasonmed.ingest.benchmarks import Benchmark, stamp
from reasonmed.ingest.load import load_source
from reasonmed.method.accuracy import metrics_of
from reasonmed.method.answers import extract as read_answer
from reasonmed.method.answers_huatuo import Huatuo
from reasonmed.method.bootstrap import interval, resample_means
from reasonmed.method.evaluate import Params, Prediction, extract, request_for, resolve_model, run, select
from stages.evaluate import main
from tests.doubles import fake_llm

ROOT = Path(__file__).resolve().parents[1]
OPTS = {"A": "gout", "B": "asthma", "C": "cystitis", "D": "pneumonia"}
YNM = {"A": "yes", "B": "no", "C": "maybe"}  # PubMedQA, lettered as the loader does

# (output, options, strict letter, (huatuo first, huatuo last, huatuo match type)).
# Hand-labelled; the huatuo column is what HuatuoGPT-o1's scorer returns (checked against
# the original code), quirks included; type 0 = dropped by its eval script (never scored).
# The full labelled table (300+ outputs, per class) is tests/answers_table.py.
TABLE = [
    ("The answer is (B)", OPTS, "B", ("B", "B", 1)),
    ("**Answer: C**", OPTS, "C", ("C", "C", 1)),
    ("**Final Answer**: C", OPTS, "C", ("C", "C", 1)),
    ("The correct answer is: **D. pneumonia**", OPTS, "D", ("D", "D", 1)),
    ("A is incorrect because gout is acute. B is incorrect. Therefore the answer is D.", OPTS, "D",
     ("D", "D", 1)),
    # the final-response section wins over an earlier statement in the thinking
    ("## Thinking\n\nA fits poorly; the answer is B.\n\n## Final Response\n\nC. cystitis", OPTS, "C",
     ("C", "C", 1)),
    ("## Thinking\n\nWheeze.\n\n## Final Response\n\nThe patient has asthma, so the answer is B.",
     OPTS, "B", ("B", "B", 1)),
    ("<think>maybe A</think>\nThe answer is D.", OPTS, "D", ("D", "D", 1)),
    # lowercase: strict reads it; huatuo's regexes are case-sensitive (falls to similarity)
    ("the answer is c.", OPTS, "C", ("B", "B", 3)),
    ("The answer is (a)", OPTS, "A", ("D", "D", 3)),
    ("answer: b) asthma", OPTS, "B", ("B", "B", 2)),
    ("the answer is a bit unclear", OPTS, None, ("D", "D", 3)),
    # no explicit statement: strict refuses, huatuo takes any bare letter
    ("Option B", OPTS, "B", ("B", "B", 1)),  # an answer line, as "**B**" (answers.py: answer first)
    ("Vitamin C is the correct answer.", OPTS, None, ("C", "C", 1)),
    ("Therefore, option C is the correct answer.", OPTS, "C", ("C", "C", 1)),
    # hedges and several answers
    ("The answer is B or C.", OPTS, None, ("B", "B", 1)),
    ("The correct answers are B and D.", OPTS, None, ("B", "D", 1)),
    ("The answer is not B; it is C.", OPTS, "C", ("B", "C", 1)),
    # the article "A": not an answer for either extractor
    ("Answer: A 45-year-old man with gout.", OPTS, None, ("A", "A", 2)),
    ("Answer: B\nExplanation: A is wrong.", OPTS, "B", ("B", "B", 1)),
    ("The answer is A because gout is acute.", OPTS, "A", ("A", "A", 1)),
    # letters outside the options: huatuo accepts any of A-N
    ("The answer is E.", OPTS, None, ("E", "E", 1)),
    ("answer is I think B", OPTS, None, ("I", "I", 1)),
    # the last statement wins (strict); first/last readings differ (huatuo)
    ("The answer is B\n\nOn second thought, the answer is C", OPTS, "C", ("B", "C", 1)),
    ("Final answer: A ... on reflection, the final answer is B", OPTS, "B", ("B", "B", 1)),
    ("\\boxed{D}", OPTS, "D", ("D", "D", 1)),
    ("The best option is (C) cystitis", OPTS, "C", ("C", "C", 1)),
    # option texts
    ("The final answer is pneumonia.", OPTS, "D", ("D", "D", 2)),
    ("Asthma. Wheeze and reversible obstruction point to asthma.", OPTS, None, ("B", "B", 2)),
    # PubMedQA: yes/no/maybe by text
    ("The answer is yes.", YNM, "A", ("A", "A", 2)),
    ("Final answer: maybe", YNM, "C", ("C", "C", 2)),
    ("Answer: (B) no", YNM, "B", ("B", "B", 1)),
    ("Based on the abstract, the evidence says no.", YNM, None, ("B", "B", 2)),
    # huatuo's "first" quirk: the option whose FIRST occurrence is latest ("maybe"), not "no"
    ("No, maybe not; the data are not conclusive.", YNM, None, ("C", "B", 2)),
    # empty outputs: strict reads nothing; the original eval script drops an output only
    # when nothing is left after removing </s> and one leading space
    ("", OPTS, None, (None, None, 0)),
    (" ", OPTS, None, (None, None, 0)),
    ("</s>", OPTS, None, (None, None, 0)),
    ("   \n ", OPTS, None, ("D", "D", 3)),  # kept: scored by similarity, as the original
    ("The answer is B.</s>", OPTS, "B", ("B", "B", 1)),
]


@pytest.mark.parametrize("text,options,strict,huatuo", TABLE)
def test_extraction_table(text, options, strict, huatuo):
    x = extract(text, options)
    assert x["strict"] == strict
    assert (x["huatuo_first"], x["huatuo_last"], x["huatuo_type"]) == huatuo
    assert x["empty"] == (huatuo[2] == 0)


def test_strict_takes_letters_only():
    assert read_answer("Final answer: C", "ABCD") == "C"
    assert read_answer("Final answer: C", "AB") is None


def test_huatuo_similarity_fallback_prefers_later_option_on_ties():
    assert read_answer("zzz", {"A": "x", "B": "y"}, "huatuo") == Huatuo("B", "B", 3)


# --- prompt and requests ---------------------------------------------------------------

P = Params(models={}, prompt="stages/prompts/evaluate.md", temperature=0.5, top_p=0.9,
           max_tokens=16, n_resamples=200)


def q(i: int, answer: str = "B", context: str | None = None, **meta) -> Question:
    stem = f"Case {i}: wheeze. Diagnosis?"
    return Question(id=question_id(stem, OPTS, context), source="t", split="test", question=stem,
                    options=OPTS, answer=answer, answer_text=OPTS[answer], context=context,
                    source_id=str(i), meta=meta)


def test_prompt_is_the_training_instruction_plus_strict_suffix():
    from reasonmed.method.assemble import instruction

    qq = q(1, context="Abstract text.")
    plain = request_for(qq, P.model_copy(update={"strict_prompt": False}), seed=3)
    assert plain.messages == (("user", instruction(qq, "Please answer the following "
                                                        "multiple-choice question:")),)
    strict = request_for(qq, P, seed=3).messages[-1][1]
    assert strict.startswith(plain.messages[0][1] + "\n\n") and '"The answer is X."' in strict
    assert "Abstract text.\nCase 1" in strict and "D. pneumonia" in strict


def test_run_scores_each_item_with_stable_seeds():
    items = [("t", "t", q(1, "B")), ("t", "t", q(2, "C"))]
    llm = fake_llm("## Final Response\n\nThe answer is B.", model="fake")  # every reply
    preds = list(run(items, llm, P, run_seed=1))
    assert [p.strict_correct for p in preds] == [True, False]
    assert [p.huatuo_last_correct for p in preds] == [True, False]
    assert preds[0].seed != preds[1].seed
    assert [p.seed for p in run(items, fake_llm("", model="fake"), P, run_seed=1)] == [p.seed for p in preds]
    asked = llm.backend.requests
    assert {r.temperature for r in asked} == {0.5} and asked[0].max_tokens == 16


def test_resolve_model_role_or_checkpoint(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("models:\n  student: {backend: hf, model: models/student}\n")
    assert resolve_model("student", P, params)[1].model == "models/student"
    role, spec = resolve_model(str(tmp_path), P.model_copy(update={"backend": "vllm"}), params)
    assert (role, spec.backend, spec.model) == ("checkpoint", "vllm", str(tmp_path))
    with pytest.raises(SystemExit, match="neither a role"):
        resolve_model("nope/missing", P, params)


# --- sampling ------------------------------------------------------------------------------

FIXTURE = ROOT / "tests/data/evaluate_bench.jsonl"


def _bench(limit=None, subject="subject", path=FIXTURE):
    return Benchmark(source="mmlu", kind="local", split="test", loader="mmlu",
                     path=str(path), subject=subject, limit=limit)


def _sel(b, seed, cap=None):
    """What evaluate does with the benchmark stage's output: stamped records, sampled."""
    return select(b.source, b.limit, stamp(load_source(b), b.rule(), b.source), seed, cap)


def test_select_limits_per_column_and_accounts_for_every_record():
    b = _bench(limit=2)
    items, st = _sel(b, seed=1)
    assert st["records_in"] == 6 and st["rejected"] == 1 and st["selected"] == 4
    assert st["not_sampled"] == 1
    assert st["columns"] == {"mmlu/anatomy": {"available": 3, "selected": 2},
                             "mmlu/clinical_knowledge": {"available": 2, "selected": 2}}
    ids = [it[2].source_id for it in items]
    assert ids == sorted(ids, key=int), "file order kept"
    assert items == _sel(b, seed=1)[0], "seeded: same draw"
    one, _ = _sel(_bench(limit=1), seed=1)
    assert {it[2].id for it in one} <= {it[2].id for it in items}, "larger limit: superset"
    capped, _ = _sel(b, seed=1, cap=1)
    assert len(capped) == 2
    whole, st = _sel(_bench(subject=None), seed=1)
    assert len(whole) == 5 and list(st["columns"]) == ["mmlu"], "no rule: one column"


# --- bootstrap and metrics ---------------------------------------------------------------


def test_bootstrap_is_deterministic_contains_estimate_and_narrows_with_n():
    rng = np.random.default_rng(0)
    small = (rng.random((40, 1)) < 0.6).astype(float)
    big = np.repeat(small, 25, axis=0)  # same accuracy, 25x the items
    a = resample_means(small, 1000, seed=7)
    assert np.array_equal(a, resample_means(small, 1000, seed=7))
    assert a.shape == (1001, 1) and a[0, 0] == small.mean()
    lo, hi = interval(a[:, 0], 0.95)
    assert lo <= a[0, 0] <= hi and 0 < lo < hi < 1
    b_lo, b_hi = interval(resample_means(big, 1000, seed=7)[:, 0], 0.95)
    assert lo < b_lo <= big.mean() <= b_hi < hi
    assert (b_hi - b_lo) < (hi - lo) / 3
    allright = resample_means(np.ones((10, 1)), 100, seed=1)[:, 0]
    assert interval(allright, 0.95) == (1.0, 1.0)


def _pred(col, bench, strict, first, last, empty=False, i=0):
    return Prediction(
        benchmark=bench, column=col, subject=None, question_id=f"q{i}", source=bench,
        source_id=str(i), gold="A", letters="ABCD", output="" if empty else "x",
        finish_reason="stop", empty=empty, strict="A" if strict else None,
        huatuo_first=None if empty else ("A" if first else "B"),
        huatuo_last=None if empty else ("A" if last else "B"), huatuo_type=0 if empty else 1,
        strict_correct=strict, huatuo_first_correct=first, huatuo_last_correct=last,
        model="m", revision="r", seed=i, prompt_hash="h", prompt_tokens=1, completion_tokens=2)


def test_metrics_huatuo_is_max_of_first_and_last_per_column_and_totals():
    preds = (
        # medqa: 4 items; strict 1/4; first 2/4, last 3/4 -> huatuo 75; one empty
        [_pred("medqa", "medqa", True, True, True, i=0), _pred("medqa", "medqa", False, False, True, i=1),
         _pred("medqa", "medqa", False, True, True, i=2),
         _pred("medqa", "medqa", False, False, False, empty=True, i=3)]
        # mmlu/anatomy 2 items all right; mmlu/genetics 2 items all wrong
        + [_pred("mmlu/anatomy", "mmlu", True, True, True, i=i) for i in (4, 5)]
        + [_pred("mmlu/genetics", "mmlu", False, False, False, i=i) for i in (6, 7)])
    m = metrics_of(preds, n_resamples=300, confidence=0.95, seed=1)
    c = m["columns"]["medqa"]
    assert (c["n"], c["strict_acc"], c["huatuo_acc"]) == (4, 25.0, 75.0)
    assert (c["huatuo_first_acc"], c["huatuo_last_acc"]) == (50.0, 75.0)
    assert c["huatuo_acc_excl_empty"] == 100.0  # the original's number: empty dropped
    assert (c["empty"], c["unextractable"]) == (1, 2)
    assert c["strict_ci_lo"] <= c["strict_acc"] <= c["strict_ci_hi"]
    assert c["huatuo_ci_lo"] <= c["huatuo_acc"] <= c["huatuo_ci_hi"]
    assert list(m["columns"]) == ["medqa", "mmlu/anatomy", "mmlu/genetics"]
    assert m["benchmarks"]["mmlu"]["strict_acc"] == 50.0 and m["benchmarks"]["mmlu"]["columns"] == 2
    t = m["total"]
    assert t["micro"]["n"] == 8 and t["micro"]["strict_acc"] == 37.5  # 3/8
    assert t["micro"]["huatuo_acc"] == 62.5  # (0.75*4 + 1*2 + 0*2) / 8
    assert t["macro_columns"]["strict_acc"] == round(100 * (0.25 + 1 + 0) / 3, 2)
    assert t["macro_benchmarks"]["strict_acc"] == 37.5  # (25 + 50) / 2
    assert m == metrics_of(preds, n_resamples=300, confidence=0.95, seed=1)


# --- the real benchmark files ------------------------------------------------------------


def test_real_benchmark_denominators(benchmarks):
    specs = [
        ("medqa", "medqa/4_options/phrases_no_exclude_test.jsonl", None, {"medqa": 1273}),
        ("medmcqa", "medmcqa/dev.jsonl", None, {"medmcqa": 4183}),
        ("pubmedqa", "pubmedqa/test.jsonl", None, {"pubmedqa": 500}),
        ("mmlu", "mmlu_medical/test.jsonl", "subject",
         {"mmlu/anatomy": 135, "mmlu/clinical_knowledge": 265, "mmlu/college_biology": 144,
          "mmlu/college_medicine": 173, "mmlu/medical_genetics": 100,
          "mmlu/professional_medicine": 272}),
    ]
    for name, path, subject, want in specs:
        b = Benchmark(source=name, kind="local", split="test", loader=name,
                      path=str(benchmarks / path), subject=subject)
        items, st = _sel(b, seed=0)
        assert st["rejected"] == 0, st["reject_reasons"]
        assert {c: v["available"] for c, v in st["columns"].items()} == want
        assert len(items) == sum(want.values())
        if name == "pubmedqa":
            assert items[0][2].context and set(items[0][2].options.values()) == {"yes", "no", "maybe"}


# --- end to end on a tiny model ------------------------------------------------------------


@pytest.mark.slow
def test_tiny_model_end_to_end(tiny_models, tmp_path, monkeypatch):
    from stages import benchmark

    monkeypatch.chdir(ROOT)  # benchmark and prompt paths are repo-relative, as under DVC
    params = tmp_path / "params.yaml"
    bench = "".join(f"  {n}: {{kind: local, loader: {n}, split: test, "
                    f"path: assets/benchmarks/{d}/test.jsonl, limit: {k}{s}}}\n"
                    for n, d, k, s in (("medqa", "medqa", 2, ""), ("pubmedqa", "pubmedqa", 2, ""),
                                       ("mmlu", "mmlu_medical", 1, ", subject: subject")))
    params.write_text(
        f"run: {{seed: 1, threads: 1}}\nexec: {{cache: {tmp_path / 'c'}, offline: true}}\n"
        "models: {}\ncollect: {}\nbenchmarks:\n" + bench +
        "evaluate:\n  models: {}\n  backend: hf\n  backend_options: {}\n"
        "  prompt: stages/prompts/evaluate.md\n  temperature: 0.5\n  top_p: 0.9\n"
        "  max_tokens: 12\n  n_resamples: 100\n")
    folder = tmp_path / "bench"
    for n in ("medqa", "pubmedqa", "mmlu"):
        monkeypatch.setattr(sys, "argv", ["benchmark", str(folder), "--name", n, "--params",
                                          str(params)])
        benchmark.main()
    out = tmp_path / "ev"
    argv = ["evaluate", str(folder), str(out), "--model", tiny_models["agent"], "--name", "tiny",
            "--params", str(params)]
    monkeypatch.setattr(sys, "argv", argv)
    main()
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 2 + 2 + 6
    m = json.loads((out / "results.json").read_text())
    head = json.loads((out / "metrics.json").read_text())
    assert head == {"n": 10, "strict_acc": m["total"]["micro"]["strict_acc"],
                    "strict_judge_acc": None,  # no judge in these params
                    "huatuo_acc": m["total"]["micro"]["huatuo_acc"],
                    "strict_acc_macro": m["total"]["macro_columns"]["strict_acc"],
                    "unextractable": m["total"]["micro"]["unextractable"], "failed": 0}
    assert len(m["columns"]) == 8 and m["total"]["micro"]["n"] == 10
    for block in [*m["columns"].values(), *m["total"].values()]:
        assert block["strict_acc"] <= block["huatuo_acc"]
    from reasonmed.core.stage import run_log_path

    assert json.loads((out / "ledger.json").read_text())[0]["requests"] == 10
    assert json.loads(run_log_path("evaluate-tiny").read_text())["model_calls"] == 10
    first = (out / "predictions.jsonl").read_bytes()
    main()  # a rerun is served from the cache, and writes the same predictions
    log = json.loads(run_log_path("evaluate-tiny").read_text())
    assert (log["model_calls"], log["cache_hits"]) == (0, 10)
    assert (out / "predictions.jsonl").read_bytes() == first


# --- the stage on the fake backend: judge and slices ------------------------------------------


def _fake_stage(tmp_path, monkeypatch, judge="j", robustness="{permutations: 2, prefill_wrong: true, "
                "formats: [text], limit: 1}"):
    from stages import benchmark

    monkeypatch.chdir(ROOT)
    params = tmp_path / "params.yaml"
    params.write_text(
        f"run: {{seed: 1, threads: 1}}\nexec: {{cache: {tmp_path / 'c'}, offline: true}}\n"
        "models:\n"
        "  m: {backend: fake, model: m, options: {reply: ['The answer is A.', 'Not sure.', "
        "'The answer is B.']}}\n"
        "  j: {backend: fake, model: j}\n"  # schema replies: the first enum value, "A"
        "collect: {}\nbenchmarks:\n"
        "  medqa: {kind: local, loader: medqa, split: test, path: assets/benchmarks/medqa/test.jsonl, "
        "limit: 6}\n"
        "  mmlu: {kind: local, loader: mmlu, split: test, path: assets/benchmarks/mmlu_medical/test.jsonl, "
        "limit: 2, subject: subject}\n"
        "evaluate:\n  models: {}\n  prompt: stages/prompts/evaluate.md\n  temperature: 0.5\n"
        f"  top_p: 0.9\n  max_tokens: 12\n  n_resamples: 100\n  judge: {judge}\n"
        f"  judge_agreement_sample: 3\n  robustness: {robustness}\n")
    folder = tmp_path / "bench"
    for n in ("medqa", "mmlu"):
        monkeypatch.setattr(sys, "argv", ["benchmark", str(folder), "--name", n, "--params", str(params)])
        benchmark.main()
    out = tmp_path / "ev"
    monkeypatch.setattr(sys, "argv", ["evaluate", str(folder), str(out), "--model", "m", "--name", "x",
                                      "--params", str(params)])
    main()
    return out


def test_stage_reports_strict_strict_judge_and_huatuo_and_the_slices(tmp_path, monkeypatch):
    out = _fake_stage(tmp_path, monkeypatch)
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    res = json.loads((out / "results.json").read_text())
    head = json.loads((out / "metrics.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    no_answer = [p for p in preds if p["strict"] is None]
    assert no_answer and all(p["judge_reason"] == "no_answer" and p["judge"] == "A" for p in no_answer)
    assert sum(p["judge_reason"] == "agreement" for p in preds) == 3
    micro = res["total"]["micro"]
    n = len(preds)
    assert micro["strict_acc"] == round(100 * sum(p["strict_correct"] for p in preds) / n, 2)
    assert micro["strict_judge_acc"] == round(100 * sum(
        p["strict_correct"] or (p["strict"] is None and p["gold"] == "A") for p in preds) / n, 2)
    assert {k: head[k] for k in ("strict_acc", "strict_judge_acc", "huatuo_acc")} == \
        {k: micro[k] for k in ("strict_acc", "strict_judge_acc", "huatuo_acc")} == \
        {f"{k}_acc": v for k, v in stats["accuracy"].items()}
    assert res["judge"]["role"] == "j" and res["judge"]["asked"] == len(no_answer)
    assert res["judge"]["agreement"]["sampled"] == 3 and "judge_kappa" in head
    r = res["robustness"]
    assert list(r["slices"]) == ["permute_1", "permute_2", "prefill_wrong", "format_text"]
    cols = {p["column"] for p in preds}
    assert r["items"] == len(cols) and all(s["n"] == len(cols) for s in r["slices"].values())
    assert r["permutations"]["k"] == 2 and 0 <= r["permutations"]["consistency"] <= 100
    rows = (out / "robustness.jsonl").read_text().splitlines()
    assert len(rows) == 4 * len(cols) == stats["robustness_rows"]
    ledger = {x["role"]: x["requests"] for x in json.loads((out / "ledger.json").read_text())}
    assert ledger == {"m": n + len(rows), "j": len(no_answer) + 3}
    first = {f: (out / f).read_bytes() for f in ("predictions.jsonl", "robustness.jsonl", "results.json")}
    main()  # from the cache: the same bytes
    assert {f: (out / f).read_bytes() for f in first} == first


def test_stage_without_judge_or_slices_reports_neither(tmp_path, monkeypatch):
    out = _fake_stage(tmp_path, monkeypatch, judge="null", robustness="{}")
    res = json.loads((out / "results.json").read_text())
    assert res["judge"] is None and res["robustness"] is None
    assert res["total"]["micro"]["strict_judge_acc"] is None
    assert (out / "robustness.jsonl").read_text() == ""
    assert [x["role"] for x in json.loads((out / "ledger.json").read_text())] == ["m"]

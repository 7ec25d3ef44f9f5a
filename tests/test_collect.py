"""collect: dedup, decontamination, accounting, and the stage CLI on the shipped sample."""

import json
import math
from pathlib import Path

import pytest
import yaml

from reasonmed.core.params import load, read_params
from reasonmed.core.records import Question, Reject, question_id
from reasonmed.ingest.benchmarks import Benchmark
from reasonmed.ingest.load import load_source
from reasonmed.method.collect import Decontaminate, Dedup, EvalIndex, Params, item_words, ngrams, run
from stages import collect
from tests.conftest import write_benchmarks

ROOT = Path(__file__).resolve().parents[1]
PARAMS = load("collect", Params, ROOT / "params.yaml")
# the one benchmark list (params `benchmarks`), which collect decontaminates against
BENCH = [Benchmark.model_validate({"source": n, **b})
         for n, b in read_params(ROOT / "params.yaml")["benchmarks"].items()]


DRUGS = ("Aspirin", "Heparin", "Warfarin", "Alteplase")


def mk(question, options=DRUGS, source="s", sid=None, answer="A", context=None):
    opts = dict(zip("ABCD", options))
    return Question(id=question_id(question, opts, context), source=source, split="train",
                    question=question, options=opts, answer=answer, answer_text=opts[answer],
                    context=context, source_id=sid)


def params(**kw):
    return Params(sources=[], dedup=Dedup(threshold=0.8, num_perm=128, shingle=2),
                  decontaminate=Decontaminate(ngram=kw.pop("ngram", 13),
                                              threshold=kw.pop("threshold", 0.5)))


VIGNETTE = ("A 64-year-old man comes to the emergency department because of sudden weakness of "
            "his right arm and difficulty speaking that began 90 minutes ago. He has hypertension "
            "and atrial fibrillation. A noncontrast CT scan of the head shows no hemorrhage. Which "
            "of the following is the most appropriate next step in management?")


def test_ngrams_short_text_is_one_gram():
    assert ngrams(["a", "b", "c"], 13) == ["a b c"]
    assert ngrams(list("abcd"), 3) == ["a b c", "b c d"]
    assert ngrams([], 13) == []


def test_item_words_cover_context_stem_and_options():
    w = item_words(mk("Is X, really, safe?", ("yes", "no", "maybe", "unclear"), context="An RCT."))
    assert w == ["an", "rct", "is", "x", "really", "safe", "maybe", "no", "unclear", "yes"]


def test_exact_and_near_duplicates_removed_first_one_kept():
    a = mk(VIGNETTE, source="first", sid="a1")
    exact = mk("  " + VIGNETTE.upper(), source="second", sid="b1")  # same normalised text: same id
    near = mk(VIGNETTE.replace("sudden", "abrupt"), source="second", sid="b2")
    other = mk("Which drug is a direct thrombin inhibitor?", ("Dabigatran", *DRUGS[:3]),
               source="second", sid="b3")
    res = run([a, exact, near, other], [], params())
    assert [q.source_id for q in res.questions] == ["a1", "b3"]
    d_exact, d_near = res.report["duplicates"]
    assert (d_exact["kind"], d_exact["kept_id"], d_exact["similarity"]) == ("exact", a.id, 1.0)
    assert (d_near["kind"], d_near["kept_id"]) == ("near", a.id)
    assert 0.8 <= d_near["similarity"] < 1
    assert d_near["kept_source"] == "first" and d_near["same_gold"] is True
    assert res.stats["sources"]["second"] == {"in": 3, "kept": 1, "rejected": 0, "duplicate": 2,
                                              "contaminated": 0, "duplicate_near": 1}


def test_near_duplicate_with_conflicting_gold_is_flagged():
    a = mk(VIGNETTE, answer="A")
    b = mk(VIGNETTE.replace("sudden", "abrupt"), answer="C")
    res = run([a, b], [], params())
    assert res.report["duplicates"][0]["same_gold"] is False


def test_shuffled_options_copy_is_a_near_duplicate_and_contaminated():
    a = mk("Drug of choice for absence seizures in a child is:", DRUGS)
    shuffled = mk(a.question, DRUGS[::-1], answer="D")  # same gold text, other letter
    res = run([a, shuffled], [], params())
    d, = res.report["duplicates"]  # another id (letters differ), same item
    assert (d["kind"], d["similarity"], d["same_gold"]) == ("near", 1.0, True)
    res = run([shuffled], [a], params())
    assert res.report["contaminated"][0]["overlap"] == 1.0


def test_distinct_short_questions_sharing_options_are_kept():
    qs = [mk(f"Drug of choice for {d} is:") for d in ("absence seizures", "status epilepticus",
                                                    "trigeminal neuralgia")]
    assert len(run(qs, [], params()).questions) == 3


def test_decontamination_flags_a_copied_question_and_names_the_eval_item():
    evals = [mk("Which vitamin deficiency causes scurvy?", source="ev", sid="e0"),
             mk(VIGNETTE, source="ev", sid="e1")]
    cand = [mk(VIGNETTE.replace("90 minutes", "2 hours"), sid="c1"),  # paraphrased copy
            mk("Which vitamin deficiency causes scurvy?", sid="c2"),  # short: one whole gram
            mk("Which vitamin deficiency causes rickets?", sid="c3")]
    res = run(cand, evals, params())
    assert [q.source_id for q in res.questions] == ["c3"]
    flagged = {c["source_id"]: c for c in res.report["contaminated"]}
    assert flagged["c1"]["eval_set"] == "ev" and flagged["c1"]["eval_source_id"] == "e1"
    assert 0.5 <= flagged["c1"]["overlap"] < 1 and flagged["c2"]["overlap"] == 1.0
    assert res.stats["eval_sets"] == {"ev": {"items": 2, "rejected": 0}}


def test_eval_index_is_empty_safe_and_threshold_is_a_param():
    assert EvalIndex([], 13).match(["a"] * 20) == (0.0, None)
    half = mk(" ".join(VIGNETTE.split()[:30]) + " completely different ending words that were "
              "never seen anywhere in any evaluation set at all so the overlap falls below half")
    assert run([half], [mk(VIGNETTE)], params()).stats["total"]["kept"] == 1
    assert run([half], [mk(VIGNETTE)], params(threshold=0.2)).stats["total"]["contaminated"] == 1


def test_every_record_is_accounted_for_and_rejects_flow_through():
    rej = Reject(stage="collect", source="s", record="f:3", field="json", reason="invalid JSON")
    items = [mk(VIGNETTE), rej, mk(VIGNETTE), mk("Which vitamin deficiency causes scurvy?")]
    res = run(items, [mk("Which vitamin deficiency causes scurvy?", source="ev")], params())
    assert res.rejects == [rej]
    assert res.stats["total"] == {"in": 4, "kept": 1, "rejected": 1, "duplicate": 1,
                                  "contaminated": 1, "duplicate_near": 0}


def test_sink_streams_in_input_order():
    seen = []
    qs = [mk(f"Question number {w} about anatomy?", (w, "b", "c", "d")) for w in ("one", "two")]
    res = run(qs, [], params(), sink=seen.append)
    assert [q.question for q in seen] == [q.question for q in qs] and res.questions == []


def test_copied_medqa_test_question_is_flagged_against_the_shipped_sets():
    sets = BENCH
    medqa = next(s for s in sets if s.loader == "medqa")
    line = json.loads(Path(ROOT / medqa.path).read_text(encoding="utf-8").splitlines()[5])
    copied = mk(line["question"], tuple(line["options"].values()), answer=line["answer_idx"])
    res = run([copied], (q for s in sets for q in load_source(s)), PARAMS)
    c, = res.report["contaminated"]
    assert (c["eval_set"], c["eval_source_id"], c["overlap"]) == (medqa.source, "5", 1.0)


def test_shipped_sample_is_kept_whole_and_clean_against_the_real_test_sets(monkeypatch):
    monkeypatch.chdir(ROOT)  # params paths are relative to the repository root, as under dvc
    assert [s.path for s in PARAMS.sources] == ["assets/questions_sample.jsonl"]
    sets = BENCH
    assert {s.path for s in sets} == {f"assets/benchmarks/{n}/test.jsonl"
                                      for n in ("medqa", "medmcqa", "pubmedqa", "mmlu_medical")}
    res = run((r for s in PARAMS.sources for r in load_source(s)),
              (q for s in sets for q in load_source(s)), PARAMS)
    assert res.rejects == [] and len(res.questions) >= 48
    assert res.report["contaminated"] == [] and res.report["duplicates"] == []
    by_source = {s: c["kept"] for s, c in res.stats["sources"].items()}
    assert by_source == {f"sample_{k}": 12 for k in ("medqa", "medmcqa", "pubmedqa", "mmlu")}
    assert res.stats["eval_sets"] == {"medqa": {"items": 1273, "rejected": 0},
                                      "medmcqa": {"items": 4183, "rejected": 0},
                                      "pubmedqa": {"items": 500, "rejected": 0},
                                      "mmlu": {"items": 1089, "rejected": 0}}
    pqa = [q for q in res.questions if q.source == "sample_pubmedqa"]
    assert all(q.context and q.options == {"A": "yes", "B": "no", "C": "maybe"} for q in pqa)


def test_cli_writes_four_artifacts_deterministically(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    raw = read_params(ROOT / "params.yaml")
    src = raw["collect"]["sources"][0]
    raw["collect"]["sources"].append({**src, "source": "again"})  # every record twice
    raw["collect"]["sources"].append({"source": "fixture", "kind": "local", "split": "train",
                                      "path": "tests/data/collect_malformed.jsonl",
                                      "fields": {"id": "id", "question": "question",
                                                 "options": "options", "answer": "answer",
                                                 "answer_format": "letter"}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    outs, bench = [], write_benchmarks(tmp_path / "params.yaml", tmp_path / "bench")
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        collect.main([str(bench), str(out), "--params", str(tmp_path / "params.yaml")])
        outs.append(out)
    assert sorted(p.name for p in outs[0].iterdir()) == ["metrics.json", "questions.jsonl",
                                                          "rejects.jsonl", "report.json",
                                                          "stats.json"]
    for name in ("questions.jsonl", "rejects.jsonl", "report.json", "metrics.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    stats = json.loads((outs[0] / "stats.json").read_text())
    t = stats["total"]
    assert t == {"in": 48 * 2 + 14, "kept": 48 + 3, "rejected": 11, "duplicate": 48,
                 "contaminated": 0, "duplicate_near": 0}
    assert t["in"] == t["kept"] + t["rejected"] + t["duplicate"] + t["contaminated"]
    lines = (outs[0] / "questions.jsonl").read_text().splitlines()
    assert len(lines) == t["kept"]
    assert Question.model_validate_json(lines[0]).source == "sample_medqa"
    assert len((outs[0] / "rejects.jsonl").read_text().splitlines()) == 11
    report = json.loads((outs[0] / "report.json").read_text())
    assert len(report["duplicates"]) == 48 and report["per_source"] == stats["sources"]
    assert stats["reject_reasons"] == {"fixture": {
        "answer: out_of_range": 1, "answer: type": 1, "id: duplicate_id": 1, "json: json": 1,
        "options: empty": 1, "options: missing": 1, "options: options_count": 1,
        "options: type": 1, "question: empty": 1, "question: encoding": 1, "record: type": 1}}
    assert stats["cleaned"] == {}


def test_cli_missing_source_file_fails_before_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    raw = read_params(ROOT / "params.yaml")
    raw["collect"]["sources"][0]["path"] = "assets/nope.jsonl"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit, match="collect source 'sample': file not found"):
        collect.main(["data/benchmarks", str(tmp_path / "out"), "--params", str(tmp_path / "params.yaml")])
    assert not (tmp_path / "out").exists()


def test_params_missing_key_is_named(tmp_path):
    raw = read_params(ROOT / "params.yaml")
    del raw["collect"]["dedup"]["threshold"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit, match="collect.dedup.threshold"):
        load("collect", Params, tmp_path / "params.yaml")


def test_stats_count_rejects_by_category_and_what_cleaning_changed():
    from reasonmed.ingest.mapping import records
    from reasonmed.ingest.specs import Fields, SourceSpec

    spec = SourceSpec(source="s", kind="local", split="train", path="f",
                      fields=Fields(id="id", question="question", options="options",
                                    answer="answer", answer_format="letter"))
    raw = [{"id": "a", "question": "Which \x1b[31mdrug\x1b[0m\u200b?", "options": ["x", "y"],
            "answer": "A"},
           {"id": "b", "question": VIGNETTE, "options": ["x", "N/A", "y"], "answer": "C"},
           {"id": "c", "question": "Q?", "options": ["x", math.nan], "answer": "A"},
           {"id": "a", "question": "Another question entirely?", "options": ["x", "y"],
            "answer": "A"}]
    p = params().model_copy(update={"drop_filler_options": True})
    res = run(records(spec, ((f"f:{i}", r) for i, r in enumerate(raw, 1)), p), [], p)
    assert [q.source_id for q in res.questions] == ["a", "b"]
    assert res.questions[1].options == {"A": "x", "B": "y"} and res.questions[1].answer == "B"
    assert res.stats["reject_reasons"] == {"s": {"id: duplicate_id": 1, "options: nan": 1}}
    assert res.stats["cleaned"] == {"s": {"ansi": 2, "filler_options_dropped": 1,
                                          "questions_with_filler_dropped": 1, "zero_width": 1}}
    assert [(r.record, r.location) for r in res.rejects] == [("c", "f:3"), ("a", "f:4")]


def test_record_checks_are_collect_params_with_defaults(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = load("collect", Params, ROOT / "params.yaml")
    assert (p.max_field_chars, p.max_record_bytes, p.max_json_bytes, p.max_depth) == (
        32_768, 4 << 20, 256 << 20, 32)
    assert p.drop_filler_options is False and p.filler_options == ["", "-", "--", "\u2013",
                                                                   "\u2014", "n/a"]
    raw["collect"].update(max_depth=8, drop_filler_options=True, filler_options=["n/a"])
    raw["collect"]["sources"][0]["allow_empty"] = True
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    p = load("collect", Params, tmp_path / "params.yaml")
    assert (p.max_depth, p.drop_filler_options, p.sources[0].allow_empty) == (8, True, True)
    raw["collect"]["max_dept"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit, match="collect.max_dept.*did you mean 'max_depth'"):
        load("collect", Params, tmp_path / "params.yaml")

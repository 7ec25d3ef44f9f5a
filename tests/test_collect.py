"""collect: dedup, decontamination, accounting, and the stage CLI on the shipped sample."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from reasonmed.core.params import load, read_params
from reasonmed.core.records import Question, Reject, question_id
from reasonmed.ingest.benchmarks import Benchmark
from reasonmed.ingest.load import load_source
from reasonmed.method.collect import Dedup, Params, run
from reasonmed.method.decontaminate import CoverageIndex, Decontaminate, EvalIndex, item_words, ngrams
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
    dec = {"ngram": 10, "coverage": 0.5, "overlap_ngram": 13, "threshold": 0.5, **kw}
    return Params(sources=[], dedup=Dedup(threshold=0.8, num_perm=128, shingle=2),
                  decontaminate=Decontaminate(**dec))


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
    c, = res.report["contaminated"]
    assert (c["form"], c["score"]) == ("question", 1.0)  # a 10-word stem: one whole 10-gram


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
    assert flagged["c1"]["form"] == "question" and 0.5 <= flagged["c1"]["score"] < 1
    # a 5-word stem has no 10-gram: the copy is caught by its question + options
    assert (flagged["c2"]["form"], flagged["c2"]["score"]) == ("question_options", 1.0)
    assert res.stats["eval_sets"] == {"ev": {"items": 2, "rejected": 0}}


def test_indexes_are_empty_safe_and_coverage_and_threshold_are_params():
    assert EvalIndex([], 13).match(["a"] * 20) == (0.0, None)
    assert CoverageIndex().freeze().match(np.array([1, 2], np.int64)) is None
    part = mk(" ".join(VIGNETTE.split()[:20]) + " completely different ending words that were "
              "never seen anywhere in any evaluation set at all so the overlap falls below half")
    assert run([part], [mk(VIGNETTE)], params()).stats["total"]["kept"] == 1
    for kw, form in (({"coverage": 0.2}, "question"), ({"threshold": 0.2}, "overlap")):
        c, = run([part], [mk(VIGNETTE)], params(**kw)).report["contaminated"]
        assert c["form"] == form and 0.2 <= c["score"] < 0.3


# --- decontamination as the field does it: 10-grams of the question, and of question + options

SEIZURE = ("Ethosuximide", "Valproate", "Carbamazepine", "Phenytoin")
BENCH_ITEMS = [mk("Drug of choice for absence seizures is:", SEIZURE, source="medqa", sid="7"),
               mk(VIGNETTE, source="mmlu", sid="12"),
               mk("Which vitamin deficiency causes scurvy?", ("Vitamin C", "Vitamin D", "Niacin",
                                                            "Thiamine"), source="medqa", sid="9")]


def test_a_benchmark_question_pasted_with_its_options_reordered_is_caught():
    """A short stem has no 10-gram: only the question + options form sees the copy, and only
    because the options are sorted (II-Medical's `A. text` block in file order would differ)."""
    shuffled = mk("Drug of choice for absence seizures is:", SEIZURE[::-1], answer="D", sid="t1")
    pasted = mk("Exam recall, paediatrics. Drug of choice for absence seizures is:",
                (SEIZURE[2], SEIZURE[0], SEIZURE[3], SEIZURE[1]), answer="B", sid="t2")
    res = run([shuffled, pasted], BENCH_ITEMS, params(threshold=1.0))
    assert res.questions == []
    assert [(c["source_id"], c["eval_set"], c["eval_source_id"], c["form"], c["score"])
            for c in res.report["contaminated"]] == [("t1", "medqa", "7", "question_options", 1.0),
                                                     ("t2", "medqa", "7", "question_options", 1.0)]
    # every removed question is a reject naming the benchmark item and the form
    rej = res.rejects[0]
    assert (rej.record, rej.field, rej.category) == ("t1", "question", "contaminated")
    assert "benchmark 'medqa' item 7" in rej.reason and "form question_options" in rej.reason


def test_a_benchmark_stem_alone_is_caught_by_the_question_form():
    stem_only = mk(VIGNETTE, ("Alteplase", "Observation", "Aspirin and clopidogrel", "Heparin"),
                   sid="t3")
    res = run([stem_only], BENCH_ITEMS, params())
    c, = res.report["contaminated"]
    assert (c["eval_set"], c["eval_source_id"], c["form"], c["score"]) == ("mmlu", "12",
                                                                           "question", 1.0)
    d = res.stats["decontamination"]
    assert d["by_benchmark"]["mmlu"] == {"items": 1, "question": 1, "question_options": 0,
                                         "overlap": 0, "removed": 1}
    assert d["by_benchmark"]["medqa"]["removed"] == 0 and d["by_form"]["question"] == 1
    from reasonmed.core.stage import pick
    from reasonmed.method.collect import HEADLINE

    assert pick(res.stats, HEADLINE)["decontamination"]["by_form"] == {
        "question": 1, "question_options": 0, "overlap": 0}


def test_an_unrelated_question_sharing_nine_words_or_stock_phrasing_is_kept():
    nine = "A 64-year-old man comes to the emergency"  # the vignette's first 9 words
    assert VIGNETTE.startswith(nine) and len(re.findall(r"\w+", nine)) == 9
    q9 = mk(f"{nine} room with a rash on both palms after a new antibiotic. What is the likely "
            "cause?", ("Drug eruption", "Syphilis", "Psoriasis", "Eczema"))
    assert run([q9], BENCH_ITEMS, params(coverage=0.0)).stats["total"]["kept"] == 1
    # one shared 10-gram of stock USMLE phrasing: II-Medical's rule (coverage 0) removes it
    stock = mk("A 30-year-old woman has had a painless neck lump for 2 months; her TSH is normal. "
               "Which of the following is the most appropriate next step in management?",
               ("Fine-needle aspiration", "Thyroidectomy", "Radioiodine scan", "Observation"))
    assert run([stock], BENCH_ITEMS, params()).stats["total"]["kept"] == 1
    c, = run([stock], BENCH_ITEMS, params(coverage=0.0)).report["contaminated"]
    assert (c["eval_source_id"], c["form"], c["shared"]) == ("12", "question", 3)  # 12 words


def test_the_data_card_has_a_decontamination_table_per_benchmark():
    from reasonmed.method.datacard import decontamination

    stem_only = mk(VIGNETTE, ("Alteplase", "Observation", "Aspirin", "Heparin"), sid="t3")
    card = decontamination(run([stem_only], BENCH_ITEMS, params()).stats)
    assert card.startswith("## Decontamination")
    assert "| medqa | 2 | 0 | 0 | 0 | 0 |" in card and "| mmlu | 1 | 1 | 0 | 0 | 1 |" in card
    assert "| total | 3 | 1 | 0 | 0 | 1 |" in card


def test_every_record_is_accounted_for_and_rejects_flow_through():
    rej = Reject(stage="collect", source="s", record="f:3", field="json", reason="invalid JSON")
    items = [mk(VIGNETTE), rej, mk(VIGNETTE), mk("Which vitamin deficiency causes scurvy?")]
    res = run(items, [mk("Which vitamin deficiency causes scurvy?", source="ev")], params())
    assert res.rejects[0] == rej and res.rejects[1].category == "contaminated"
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
    assert (c["eval_set"], c["eval_source_id"], c["form"], c["score"]) == (
        medqa.source, "5", "question", 1.0)


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
                                                          "rejects", "report.json",
                                                          "stats.json"]
    for name in ("questions.jsonl", "rejects/rejects.jsonl", "report.json", "metrics.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    stats = json.loads((outs[0] / "stats.json").read_text())
    t = stats["total"]
    assert t == {"in": 48 * 2 + 14, "kept": 48 + 3, "rejected": 11, "duplicate": 48,
                 "contaminated": 0, "duplicate_near": 0}
    assert t["in"] == t["kept"] + t["rejected"] + t["duplicate"] + t["contaminated"]
    lines = (outs[0] / "questions.jsonl").read_text().splitlines()
    assert len(lines) == t["kept"]
    assert Question.model_validate_json(lines[0]).source == "sample_medqa"
    assert len((outs[0] / "rejects/rejects.jsonl").read_text().splitlines()) == 11
    report = json.loads((outs[0] / "report.json").read_text())
    assert len(report["duplicates"]) == 48 and report["per_source"] == stats["sources"]
    # collect.drop_filler_options is on: the record with options ["x", ""] has one option left
    assert stats["reject_reasons"] == {"fixture": {
        "answer: out_of_range": 1, "answer: type": 1, "id: duplicate_id": 1, "json: json": 1,
        "options: missing": 1, "options: options_count": 2,
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
    assert p.drop_filler_options is True and p.filler_options == ["", "-", "--", "\u2013",
                                                                  "\u2014", "n/a"]
    raw["collect"].update(max_depth=8, drop_filler_options=False, filler_options=["n/a"])
    raw["collect"]["sources"][0]["allow_empty"] = True
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    p = load("collect", Params, tmp_path / "params.yaml")
    assert (p.max_depth, p.drop_filler_options, p.sources[0].allow_empty) == (8, False, True)
    raw["collect"]["max_dept"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit, match="collect.max_dept.*did you mean 'max_depth'"):
        load("collect", Params, tmp_path / "params.yaml")

"""Source loaders: normalisation, one reject per bad record, named loaders on real files."""

import json
import sys
import types
from pathlib import Path

import pytest
from pydantic import ValidationError

from reasonmed.records import Question, Reject, question_id
from reasonmed.sources import MEDQA, Bad, Fields, SourceSpec, load_source, records, to_question

DATA = Path(__file__).parent / "data"
OPTS = {"A": "Aspirin", "B": "Heparin", "C": "Warfarin", "D": "Alteplase"}


def q(rec, **fields):
    f = Fields(**{"question": "question", "options": "options", "answer": "answer", **fields})
    return to_question(rec, f, source="s", split="train", index=7)


# --- normalisation ------------------------------------------------------------------------


DROP = object()


def rec(**kw):
    """A valid record with some fields replaced (or dropped with DROP)."""
    base = {"question": "Q?", "options": OPTS, "answer": "A", **kw}
    return {k: v for k, v in base.items() if v is not DROP}


XY, XYZ = {"A": "x", "B": "y"}, {"A": "x", "B": "y", "C": "z"}
MM = ["Measles", "Mumps"]


@pytest.mark.parametrize("raw, fields, letter, options", [
    (rec(answer="D"), {"answer_format": "letter"}, "D", OPTS),
    # letter keys out of order are sorted; the gold follows its key
    (rec(options={"B": "y", "A": "x"}, answer="B"), {}, "B", XY),
    # numeric keys (HEAD-QA) are relettered in numeric order; the gold names a key
    (rec(options={"1": "x", "2": "y", "10": "z"}, answer="10"), {"answer_format": "letter"},
     "C", XYZ),
    (rec(options=["x", "y", "z"], answer="b"), {}, "B", XYZ),
    (rec(options=DROP, choices=["x", "y"], answer=1),
     {"options": "choices", "answer_format": "index0"}, "B", XY),
    (rec(options=["x", "y"], answer="1"), {"answer_format": "index1"}, "A", XY),
    (rec(options=MM, answer=" mumps "), {"answer_format": "text"}, "B", dict(zip("AB", MM))),
    (rec(options=MM, answer="Measles"), {}, "A", dict(zip("AB", MM))),
    # columns: trailing empty columns of a wide table are dropped; numbers become text
    (rec(options=DROP, a=5, b=10, c=None, answer=2),
     {"options": ["a", "b", "c"], "answer_format": "index1"}, "B", {"A": "5", "B": "10"}),
    (rec(options=DROP, answer=DROP, final_decision="Maybe"),
     {"options": None, "fixed_options": ["yes", "no", "maybe"], "answer": "final_decision",
      "answer_format": "text"}, "C", {"A": "yes", "B": "no", "C": "maybe"}),
])
def test_normalise_options_and_gold(raw, fields, letter, options):
    out = q(raw, **fields)
    assert (out.answer, out.options, out.answer_text) == (letter, options, options[letter])
    assert out.id == question_id(out.question, options, out.context)


def test_normalise_ids_context_meta_and_overrides():
    raw = {"meta": {"id": 42, "exam": "2019"}, "stem": "  Which nerve?  ", "key": "A",
           "opts": ["Axillary", "Radial"], "ctx": {"paras": ["First.", " ", "Second."]},
           "src": "mine"}
    out = q(raw, id="meta.id", question="stem", options="opts", answer="key", context="ctx.paras",
            meta={"exam": "meta.exam", "missing": "nope"}, source="src")
    assert out.source_id == "42" and out.question == "Which nerve?" and out.source == "mine"
    assert out.context == "First.\n\nSecond." and out.meta == {"exam": "2019"}
    assert out.split == "train"
    assert q(rec()).source_id == "7"  # no id field: the record index


def test_same_question_in_any_layout_has_one_id():
    a = q(rec(options={"A": "x", "B": "y"}))
    b = q({"question": "q?", "c": ["x", " y"], "k": 0}, options="c", answer="k",
          answer_format="index0")
    assert a.id == b.id


@pytest.mark.parametrize("raw, fields, field, reason", [
    (rec(question=DROP), {}, "question", "missing"),
    (rec(question=" "), {}, "question", "empty"),
    (rec(question=["Q"]), {}, "question", "expected a string, got list"),
    (rec(options=DROP), {}, "options", "missing"),
    (rec(options="A) x B) y"), {}, "options", "expected a dict or list, got str"),
    (rec(options=[]), {}, "options", "no options"),
    (rec(options=["x"]), {}, "options", "fewer than 2 options"),
    (rec(options=["x", " "]), {}, "options", "option B is empty"),
    (rec(options=["x", {"t": "y"}]), {}, "options", "option B is not a string (dict)"),
    (rec(options=DROP, a="x", c="z"), {"options": ["a", "b", "c"]}, "options",
     "option B is missing"),
    (rec(answer=DROP), {}, "answer", "missing"),
    (rec(answer=["A"]), {}, "answer", "expected a string or integer, got list"),
    (rec(answer=True), {}, "answer", "got bool"),
    (rec(answer="E"), {"answer_format": "letter"}, "answer", "not among options A-D"),
    (rec(answer=4), {"answer_format": "index0"}, "answer", "out of range"),
    (rec(answer="x"), {"answer_format": "index1"}, "answer", "not an integer"),
    (rec(answer=2), {}, "answer", "ambiguous"),
    (rec(answer="Aspirin"), {"answer_format": "letter"}, "answer", "not among"),
    (rec(answer="Ibuprofen"), {}, "answer", "matches no option"),
    (rec(options=["x", "x"], answer="x"), {"answer_format": "text"}, "answer", "matches 2 options"),
    (rec(t="Heparin"), {"answer_text": "t"}, "answer_text", "differs"),
    (rec(c=3), {"context": "c"}, "context", "got int"),
    (rec(), {"id": "id"}, "id", "missing"),
    (rec(id=[1]), {"id": "id"}, "id", "got list"),
])
def test_bad_records_name_field_and_reason(raw, fields, field, reason):
    with pytest.raises(Bad) as e:
        q(raw, **fields)
    assert e.value.field == field and reason in e.value.reason


# --- files: one reject per bad record, everything valid kept ---------------------------------

GENERIC = Fields(id="id", question="question", options="options", answer="answer",
                 answer_format="letter", context="context")


def local(path, **kw):
    return SourceSpec(source=kw.pop("source", "fx"), kind="local", split="train", path=str(path),
                      **({"fields": GENERIC} | kw if "loader" not in kw else kw))


def split(items):
    items = list(items)
    return ([r for r in items if isinstance(r, Question)],
            [r for r in items if isinstance(r, Reject)])


def test_malformed_fixture_gives_one_reject_per_bad_record():
    path = DATA / "collect_malformed.jsonl"
    kept, rejects = split(list(load_source(local(path))))
    assert [k.source_id for k in kept] == ["ok-1", "ok-2", "ok-3"]
    assert kept[1].context == "Paragraph one.\n\nParagraph two." and kept[2].answer == "B"
    loc = f"{path}:"
    got = [(r.record, r.field) for r in rejects]
    assert got == [
        ("no-options", "options"), ("gold-not-option", "answer"), ("empty-question", "question"),
        ("ok-1", "id"), ("options-string", "options"), ("answer-list", "answer"),
        (loc + "9", "encoding"), (loc + "10", "json"), ("one-option", "options"),
        ("empty-option", "options"), (loc + "14", "record")]
    assert all(r.stage == "collect" and r.source == "fx" and r.reason and r.raw for r in rejects)
    assert "duplicate upstream id" in rejects[3].reason and f"{loc}1" in rejects[3].reason
    assert "0xe9" in rejects[6].reason and "Caf" in rejects[6].raw  # the excerpt survives decoding


def test_unseen_parquet_layout_loads_through_a_fields_mapping(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"stem": "Which vitamin deficiency causes scurvy?", "choice_1": "Vitamin A",
         "choice_2": "Vitamin C", "choice_3": "Vitamin D", "choice_4": "Vitamin K",
         "choice_5": None, "key": 2, "meta": {"id": "X-1", "exam": "2021"}},
        {"stem": "Koplik spots are seen in?", "choice_1": "Measles", "choice_2": "Mumps",
         "choice_3": "Rubella", "choice_4": "Roseola", "choice_5": "Chickenpox", "key": 1,
         "meta": {"id": "X-2", "exam": "2022"}},
        {"stem": "Out of range key", "choice_1": "a", "choice_2": "b", "choice_3": None,
         "choice_4": None, "choice_5": None, "key": 6, "meta": {"id": "X-3", "exam": "2022"}},
    ]
    path = tmp_path / "unseen.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    fields = Fields(id="meta.id", question="stem", options=[f"choice_{i}" for i in range(1, 6)],
                    answer="key", answer_format="index1", meta={"exam": "meta.exam"})
    spec = SourceSpec(source="unseen", kind="local", split="train", path=str(path), fields=fields)
    kept, rejects = split(list(load_source(spec)))
    assert [(k.source_id, k.answer, len(k.options), k.meta) for k in kept] == [
        ("X-1", "B", 4, {"exam": "2021"}), ("X-2", "A", 5, {"exam": "2022"})]
    assert [(r.record, r.field) for r in rejects] == [("X-3", "answer")]


def test_json_list_file(tmp_path):
    path = tmp_path / "qs.json"
    path.write_text(json.dumps([rec(id="1"), 3]))
    kept, rejects = split(list(load_source(local(path))))
    assert len(kept) == 1 and rejects[0].record == f"{path}:2"


@pytest.mark.parametrize("name, content, message", [
    ("absent.jsonl", None, "file not found"),
    ("qs.csv", "a,b\n", "unknown format"),
    ("qs.json", '{"not": "a list"}', "must hold a JSON list"),
    ("qs.json", "[{", "is not a JSON file"),
    ("qs.parquet", "not parquet", "is not a Parquet file"),
])
def test_whole_file_problems_stop_at_startup_naming_the_source(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as e:
        load_source(local(path, source="broken_src"))  # not iterated: fails when opened
    assert "broken_src" in str(e.value) and message in str(e.value)


@pytest.mark.parametrize("kw, message", [
    ({"kind": "local", "path": "x.jsonl", "loader": "medqa5"}, "unknown loader 'medqa5'"),
    ({"kind": "local", "path": "x.jsonl"}, "set exactly one of `loader` and `fields`"),
    ({"kind": "local", "loader": "medqa"}, "kind local needs `path`"),
    ({"kind": "hf", "loader": "medqa"}, "kind hf needs `dataset`"),
    ({"kind": "local", "path": "x.jsonl", "loader": "medqa", "colour": "red"}, "colour"),
])
def test_bad_specs_are_refused_by_name(kw, message):
    with pytest.raises(ValidationError) as e:
        SourceSpec(source="my_src", split="train", **kw)
    assert message in str(e.value)


# --- named loaders: the HF layout ------------------------------------------------------------


def hf(loader, *recs):
    spec = SourceSpec(source=loader, kind="hf", dataset="org/ds", split="train", loader=loader)
    return list(records(spec, ((f"org/ds/train:{i}", r) for i, r in enumerate(recs))))


def test_hf_layouts_of_named_loaders():
    medqa, = hf("medqa", {"question": "Q1", "options": OPTS, "answer_idx": "C",
                          "answer": "Warfarin", "meta_info": "step1"})
    assert (medqa.answer, medqa.source_id, medqa.meta) == ("C", "0", {"meta_info": "step1"})
    abcd = {"opa": "a", "opb": "b", "opc": "c", "opd": "d"}
    mcq, = hf("medmcqa", {"id": "u1", "question": "Q2", **abcd, "cop": 3, "choice_type": "single",
                          "exp": None, "subject_name": "Anatomy", "topic_name": None})
    assert (mcq.answer, mcq.source_id, mcq.meta["choice_type"]) == ("D", "u1", "single")
    unlabelled, = hf("medmcqa", {"id": "u2", "question": "Q", **abcd, "cop": -1})  # HF test split
    assert isinstance(unlabelled, Reject) and unlabelled.field == "answer"
    pqa, = hf("pubmedqa", {"pubid": 123, "question": "Does X help?", "final_decision": "no",
                           "long_answer": "It does not.",
                           "context": {"contexts": ["Background.", "Results."],
                                       "labels": ["B", "R"], "meshes": ["Humans"]}})
    assert (pqa.answer, pqa.options, pqa.context) == ("B", {"A": "yes", "B": "no", "C": "maybe"},
                                                      "Background.\n\nResults.")
    assert pqa.source_id == "123" and pqa.meta["meshes"] == ["Humans"]
    mmlu, = hf("mmlu", {"question": "Q4", "subject": "anatomy", "choices": list("wxyz"),
                        "answer": 2})
    assert (mmlu.answer, mmlu.answer_text, mmlu.meta) == ("C", "y", {"subject": "anatomy"})


def test_hf_source_calls_datasets_lazily_and_fails_by_name(monkeypatch):
    calls = []

    def load_dataset(name, config, split, revision):
        calls.append((name, config, split, revision))
        if name == "missing/ds":
            raise FileNotFoundError("not in cache")
        return [{"question": "Q", "subject": "anatomy", "choices": ["x", "y"], "answer": 0}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    spec = SourceSpec(source="mmlu_anatomy", kind="hf", dataset="cais/mmlu", config="anatomy",
                      split="dev", revision="abc", loader="mmlu")
    out, = load_source(spec)
    assert calls == [("cais/mmlu", "anatomy", "dev", "abc")] and out.split == "dev"
    with pytest.raises(SystemExit, match="source 'gone'.*missing/ds"):
        load_source(SourceSpec(source="gone", kind="hf", dataset="missing/ds", split="train",
                               loader="medqa"))


# --- named loaders on the real files in ../shared/data/benchmarks ---------------------------

REAL = [  # loader, file, count
    ("medqa", "medqa/4_options/phrases_no_exclude_test.jsonl", 1273),
    ("medmcqa", "medmcqa/dev.jsonl", 4183),
    ("pubmedqa", "pubmedqa/test.jsonl", 500),
    ("mmlu", "mmlu_medical/test.jsonl", 1089),
]


@pytest.mark.parametrize("loader, rel, count", REAL)
def test_real_benchmark_files_load_completely(benchmarks, loader, rel, count):
    path = benchmarks / rel
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    kept, rejects = split(list(load_source(local(path, loader=loader))))
    assert rejects == [] and len(kept) == len(raw) == count
    if loader == "pubmedqa":
        gold = [{"yes": "A", "no": "B", "maybe": "C"}[r["final_decision"]] for r in raw]
        assert all(k.context.startswith(r["contexts"][0][:50]) for k, r in zip(kept, raw))
    else:
        gold = [r["answer_idx"] for r in raw]
        assert [k.answer_text for k in kept] == [r["answer"].strip() for r in raw]
    assert [k.answer for k in kept] == gold
    assert len({k.source_id for k in kept}) == count


def test_reading_a_real_file_equals_normalising_its_parsed_record(benchmarks):
    path = benchmarks / "medqa/4_options/phrases_no_exclude_test.jsonl"
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    from_file = next(iter(load_source(local(path, loader="medqa"))))
    assert from_file == to_question(first, MEDQA, source="fx", split="train", index=0)

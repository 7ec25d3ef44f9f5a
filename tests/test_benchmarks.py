"""benchmarks: one list for evaluation and decontamination; subjects by params; DVC deps.

The promise: a benchmark added to params `benchmarks` alone gets its own DVC stage with its
file as a dep (wherever the file lives), is decontaminated against by collect and evaluated by
evaluate, its results split per subject by a params rule. Its converse is tested too: an edit
of that file reruns its stage, and an item whose id the rule does not match is `unknown`,
never dropped -- unless the rule leaves more than the entry's `max_unknown_subject` share of
the items unplaced (a wrong key, a regex that matches nothing), which stops the stage.
"""

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from reasonmed.core.records import Question, question_id
from reasonmed.ingest import benchmarks
from reasonmed.ingest.benchmarks import Benchmark, SubjectRule, column_of, stamp, subject_of
from reasonmed.ingest.load import load_source
from reasonmed.method.evaluate import select
from tests.conftest import clone_like, commit, sh

OPTS = {"A": "Ultrasound", "B": "MRI", "C": "CT", "D": "PET"}


def q(sid: str, text: str = "Which imaging modality uses no ionising radiation?", **meta):
    return Question(id=question_id(text + sid, OPTS, None), source="x", split="test",
                    question=text + " " + sid, options=OPTS, answer="A", answer_text="Ultrasound",
                    source_id=sid, meta=meta)


@pytest.mark.parametrize("rule, item, want", [
    (SubjectRule(key="source_id", regex=r"^\d+_(.+)$"), q("12_biomedical_engineer"),
     "biomedical_engineer"),
    (SubjectRule(key="source_id", regex=r"^\d+_(.+)$"), q("nounderscore"), "unknown"),
    (SubjectRule(key="subject"), q("1", subject="anatomy"), "anatomy"),
    (SubjectRule(key="subject"), q("1"), "unknown"),  # the meta key is absent
    (SubjectRule(key="source_id", regex=r"^(\d+)-(\w+)$", group=2), q("3-speech"), "speech"),
    (None, q("1", subject="anatomy"), None),  # no rule: one column, whatever the loader set
])
def test_subject_rule_table(rule, item, want):
    assert subject_of(rule, item) == want


def test_rule_regex_is_checked_when_params_load():
    with pytest.raises(ValueError, match="does not compile"):
        SubjectRule(key="id", regex="(unclosed")
    with pytest.raises(ValueError, match="has no group 2"):
        SubjectRule(key="id", regex="(a)", group=2)
    with pytest.raises(ValueError, match="path: params.yaml"):
        Benchmark(source="hub", kind="hf", dataset="org/set", split="test", loader="medqa")


def test_stamp_sets_the_column_only_by_rule():
    items = [q("1_anatomy", subject="ignored"), q("2_physiology")]
    rule = SubjectRule(key="source_id", regex=r"^\d+_(.+)$")
    assert [column_of("ex", x) for x in stamp(items, rule, "ex")] == ["ex/anatomy",
                                                                      "ex/physiology"]
    assert [column_of("ex", x) for x in stamp(items, None, "ex")] == ["ex", "ex"]


@pytest.mark.parametrize("rule, message", [
    (SubjectRule(key="subjekt"), "key 'subjekt' is absent from 5 items (did you mean 'subject'?); "
     "it is read as a meta key (the items' meta keys: subject)"),
    (SubjectRule(key="source_id", regex=r"^\d+-(.+)$"), r"regex '^\d+-(.+)$' matches none of 5 "
     "values (e.g. '0_anatomy', '1_anatomy', '2_anatomy')"),
])
def test_a_subject_rule_that_places_too_few_items_stops_the_stage(rule, message):
    items = [q(f"{i}_anatomy", subject="anatomy") for i in range(5)]
    with pytest.raises(SystemExit) as e:
        list(stamp(items, rule, "ex"))
    written = "{key: subjekt}" if rule.regex is None else r"{key: source_id, regex: ^\d+-(.+)$}"
    assert str(e.value).startswith(f"benchmark 'ex': its subject rule {written} gives `unknown` "
                                   "to 5 of 5 items, over benchmarks.ex.max_unknown_subject (0.2)")
    assert message in str(e.value)
    # a few unplaced items within the entry's share are `unknown`, not an error
    some = [*items, q("x"), q("y")]  # 2 of 7 without the meta key: 0.29
    assert [column_of("ex", x) for x in stamp(some, SubjectRule(key="subject"), "ex", 0.3)][-2:] == [
        "ex/unknown", "ex/unknown"]
    with pytest.raises(SystemExit, match="gives `unknown` to 2 of 7 items"):
        list(stamp(some, SubjectRule(key="subject"), "ex"))


def test_the_benchmark_stage_stops_on_a_subject_rule_typo(tmp_path):
    from reasonmed.ingest.benchmarks import KIND
    from reasonmed.ingest.entries import run

    params = tmp_path / "params.yaml"
    root = Path(__file__).resolve().parents[1]
    params.write_text(f"run: {{seed: 1}}\ncollect: {{}}\nbenchmarks:\n  mmlu: {{kind: local, "
                      f"loader: mmlu, split: test, path: {root}/assets/benchmarks/mmlu_medical/"
                      f"test.jsonl, subject: subjects}}\n")
    with pytest.raises(SystemExit, match=r"benchmark 'mmlu': its subject rule \{key: subjects\} "
                       r"gives `unknown` to 1089 of 1089 items.*did you mean 'subject'"):
        run(KIND, "mmlu", str(params), tmp_path / "out")
    assert not (tmp_path / "out" / "mmlu.jsonl").exists()


def _add_benchmark(repo: Path) -> None:
    """A MedExQA-shaped benchmark outside assets/, subjects in an id suffix, plus a training
    source holding a copy of one of its questions (to be decontaminated)."""
    rows = [{"id": f"{i}_{s}", "question": f"In {s.replace('_', ' ')}, which finding number {i} "
             "best explains a long vignette about the patient's presentation and workup today?",
             "options": OPTS, "answer": "A"}
            for i, s in enumerate(["biomedical_engineer", "speech_pathology"] * 3)]
    (repo / "extra").mkdir()
    (repo / "extra/medexqa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    leak = {**rows[0], "id": "leak-1"}
    (repo / "extra/train_leak.jsonl").write_text(json.dumps(leak) + "\n")
    y = YAML()
    params = y.load((repo / "params.yaml").read_text())
    fields = {"id": "id", "question": "question", "options": "options", "answer": "answer",
              "answer_format": "letter"}
    params["benchmarks"]["medexqa"] = {
        "kind": "local", "split": "test", "path": "extra/medexqa.jsonl", "fields": fields,
        "subject": {"key": "source_id", "regex": r"^\d+_(.+)$"}, "limit": 2}
    params["collect"]["sources"].append({"source": "leak", "kind": "local", "split": "train",
                                         "path": "extra/train_leak.jsonl", "fields": fields})
    with open(repo / "params.yaml", "w") as f:
        y.dump(params, f)


def test_benchmark_added_in_params_alone_is_a_stage_a_dep_decontaminated_and_evaluated(tmp_path):
    repo = clone_like(tmp_path / "repo", _add_benchmark)
    sh("dvc", "init", "-q", "--force", cwd=repo, check=False)
    listed = sh("dvc", "stage", "list", cwd=repo).stdout
    assert "benchmark@medexqa" in listed
    sh("dvc", "repro", "-q", "collect", cwd=repo)
    commit(repo, "repro collect")
    # tracked as a DVC dep where it lives: the lock records it, an edit reruns its stage
    lock = (repo / "dvc.lock").read_text()
    assert "extra/medexqa.jsonl" in lock
    with open(repo / "extra/medexqa.jsonl", "a") as f:
        f.write(json.dumps({"id": "99_speech_pathology", "question": "A new item about speech "
                            "therapy?", "options": OPTS, "answer": "B"}) + "\n")
    status = sh("dvc", "status", "benchmark@medexqa", cwd=repo).stdout
    assert "extra/medexqa.jsonl" in status and "modified" in status
    # decontaminated against: the copied question is flagged, nothing else from `leak` exists
    stats = json.loads((repo / "data/collect/stats.json").read_text())
    assert stats["sources"]["leak"]["contaminated"] == 1
    report = json.loads((repo / "data/collect/report.json").read_text())
    assert {c["eval_set"] for c in report["contaminated"]} == {"medexqa"}
    # evaluated, split per subject by the params rule, `limit` items per column
    items, st = select("medexqa", 2, benchmarks.read(repo / "data/benchmarks", "medexqa"), 0)
    assert st["columns"] == {"medexqa/biomedical_engineer": {"available": 3, "selected": 2},
                             "medexqa/speech_pathology": {"available": 3, "selected": 2}}
    assert len(items) == 4


def test_shipped_benchmarks_feed_both_lists():
    from reasonmed.core.params import read_params

    specs = read_params("params.yaml")["benchmarks"]
    assert set(specs) == {"medqa", "medmcqa", "pubmedqa", "mmlu"}
    mmlu = Benchmark.model_validate({"source": "mmlu", **specs["mmlu"]})
    cols = {column_of("mmlu", x) for x in stamp(load_source(mmlu), mmlu.rule(), "mmlu")
            if isinstance(x, Question)}
    assert len(cols) == 6 and all(c.startswith("mmlu/") for c in cols)

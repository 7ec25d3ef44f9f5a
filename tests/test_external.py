"""external: other reasoning datasets for the score comparison, read by a field mapping.

Every record ends as a row or a reject naming the record and the field; a file with no
usable record stops the stage; the shipped sample reads whole.
"""

import json
import sys
from pathlib import Path

import pytest

from reasonmed.core.records import Reject
from reasonmed.ingest.external import External, ExternalFields, Item, output_of, read
from stages import external

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"question": "q", "reasoning": "cot", "answer": "a"}


def spec(path, fields=FIELDS, **kw):
    return External(source="x", kind="local", split="s", path=str(path), fields=fields, **kw)


def test_shipped_sample_reads_whole_in_the_variants_layout():
    s = External(source="o1", kind="local", split="demo",
                 path=str(ROOT / "assets/external/medical_o1_demo_sample.json"),
                 fields={"question": "Question", "reasoning": "Complex_CoT", "answer": "Response"})
    rows = list(read("o1", s))
    assert len(rows) == 40 and all(isinstance(r, Item) for r in rows)
    assert rows[0].output.startswith("## Thinking\n\n") and "\n\n## Final Response\n\n" in rows[0].output
    assert [r.id for r in rows] == [str(i) for i in range(40)]


def test_every_hostile_record_is_a_reject_naming_record_and_field(tmp_path):
    lines = [
        {"id": "ok", "q": "Why?", "cot": "Because.", "a": "B"},
        {"id": "no-q", "cot": "x", "a": "B"},
        {"id": "empty-a", "q": "Why?", "a": "   "},
        {"id": "list-q", "q": ["Why?"], "a": "B"},
        {"id": "ok", "q": "Again?", "a": "C"},  # duplicate id
        {"id": "big", "q": "x" * 50_000, "a": "B"},
        {"id": "no-cot", "q": "Why not?", "a": "D"},  # reasoning is optional
        ["not", "an", "object"],
    ]
    f = tmp_path / "d.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines) + "{broken json\n")
    out = list(read("x", spec(f, {**FIELDS, "id": "id"})))
    assert len(out) == len(lines) + 1, "every record accounted for"
    kept = [r for r in out if isinstance(r, Item)]
    assert [r.id for r in kept] == ["ok", "no-cot"] and kept[1].output == "D"
    rej = {(r.record, r.field, r.category) for r in out if isinstance(r, Reject)}
    assert {("no-q", "question", "missing"), ("empty-a", "answer", "empty"),
            ("list-q", "question", "type"), ("ok", "id", "duplicate_id"),
            ("big", "question", "too_large")} <= rej
    assert len(rej) == 7, rej  # + the non-object and the broken line


def test_stage_writes_rows_rejects_stats_and_refuses_an_empty_mapping(tmp_path, monkeypatch):
    data = tmp_path / "d.json"
    data.write_text(json.dumps([{"q": "Why?", "a": "B"}, {"q": "", "a": "C"}]))
    params = tmp_path / "params.yaml"
    params.write_text(f"run: {{seed: 1}}\ncollect: {{}}\nexternal:\n  ds: {{kind: local, "
                      f"split: s, path: {data}, fields: {{question: q, answer: a}}}}\n"
                      f"  wrong: {{kind: local, split: s, path: {data}, "
                      f"fields: {{question: Question, answer: Response}}}}\n")
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["external", str(out), "--name", "ds", "--params", str(params)])
    external.main()
    assert len((out / "ds.jsonl").read_text().splitlines()) == 1
    (rej,) = [json.loads(x) for x in (out / "ds.rejects" / "rejects.jsonl").read_text().splitlines()]
    assert (rej["record"], rej["field"]) == ("1", "question")
    assert json.loads((out / "ds.stats.json").read_text())["rejected"] == 1
    monkeypatch.setattr(sys, "argv", ["external", str(out), "--name", "wrong", "--params", str(params)])
    # a mapping naming columns no record holds names them (not "question: missing x2")
    with pytest.raises(SystemExit, match="external dataset 'wrong'.*`fields.question` names column "
                       "'Question', which none of its 2 records holds.*columns: a, q"):
        external.main()
    monkeypatch.setattr(sys, "argv", ["external", str(out), "--name", "dss", "--params", str(params)])
    with pytest.raises(SystemExit, match="did you mean"):
        external.main()


def test_output_layout():
    assert output_of(None, "B") == "B"
    assert output_of("why", "B") == "## Thinking\n\nwhy\n\n## Final Response\n\nB"


def test_a_mapped_column_typo_names_the_column_and_the_closest_one(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"question": f"Why {i}?", "response": "B", "cot": "..."})
                            + "\n" for i in range(3)))
    typo = spec(data, {"question": "question", "answer": "respnse", "reasoning": "cot"})
    with pytest.raises(SystemExit, match=r"`fields.answer` names column 'respnse', which none of "
                       r"its 3 records holds \(did you mean 'response'\?\)"):
        list(read("x", typo))
    # an optional column no record holds is a warning: the rows still load
    fine = spec(data, ExternalFields(question="question", answer="response", reasoning="cots"))
    assert len(list(read("x", fine))) == 3

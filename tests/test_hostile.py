"""collect on a generated hostile corpus (tests/hostile_corpus.py), one real stage run per
format: no traceback, every valid record kept, every bad one rejected naming the record,
the field and the reason; and a source with no valid record stops the stage by name.

    python -m pytest -q -s tests/test_hostile.py   # -s prints the kept/rejected table
"""

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml

from stages import collect
from tests import hostile_corpus as hc
from tests.conftest import write_benchmarks

ROOT = hc.ROOT


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    c = hc.build(tmp_path_factory.mktemp("hostile"))
    return c, hc.run_all(c)


@pytest.mark.parametrize("fmt", hc.FORMATS)
def test_collect_survives_the_hostile_corpus(corpus, fmt):
    c, outcomes = corpus
    o = outcomes[fmt]
    assert o.rc == 0 and "Traceback" not in o.stderr, o.stderr[-3000:]
    assert hc.check(c.cases[fmt], o) == []
    # 100% of the valid records kept, nothing else
    assert {q["source_id"] for q in o.questions} == {k.id for k in c.cases[fmt] if k.keep}
    assert {r["location"] for r in o.rejects} == {k.loc for k in c.cases[fmt] if not k.keep}
    t = o.stats["total"]
    assert (t["kept"], t["rejected"], t["duplicate"]) == (len(o.questions), len(o.rejects), 0)
    assert sum(n for s in o.stats["reject_reasons"].values() for n in s.values()) == t["rejected"]
    assert not any(k.endswith(": internal") for s in o.stats["reject_reasons"].values() for k in s)


def test_corpus_is_large_and_covers_the_categories(corpus):
    c, _ = corpus
    cases = [k for f in hc.FORMATS for k in c.cases[f]]
    assert len(cases) >= 500 and all(c.cases[f] for f in hc.FORMATS)
    cats = {k.category for k in cases}
    assert cats >= {"surrogate", "invalid_utf8", "deep_nesting", "huge_int", "nan_inf", "field_1mb",
                    "control_chars", "ansi_escapes", "rtl_bidi", "zero_width", "wrong_type",
                    "missing_field", "dup_id_invalid_then_valid", "dup_id_valid_then_valid",
                    "dup_id_valid_then_invalid", "gold_out_of_range", "mixed_4_5_options",
                    "map_options", "filler_option", "filler_gold", "bom_crlf", "record_over_cap",
                    "null_option_in_middle", "wrong_cell_count"}
    assert sum(k.keep for k in cases) > 200 and sum(not k.keep for k in cases) > 300


def test_summary_by_category_and_format(corpus):
    c, outcomes = corpus
    rows = hc.summary(c, outcomes)
    print("\n" + hc.table(rows))  # the reliability report's table (pytest -s)
    assert all(r["as_expected"] == r["records"] for r in rows)
    assert sum(r["records"] for r in rows) == sum(len(c.cases[f]) for f in hc.FORMATS)


def test_the_checker_notices_a_wrong_label(corpus):
    c, outcomes = corpus
    cases = copy.deepcopy(c.cases["jsonl"])
    kept = next(k for k in cases if k.keep)
    kept.keep = False
    rejected = next(k for k in cases if not k.keep and k.field and k.id)
    rejected.field = "elsewhere"
    errors = hc.check(cases, outcomes["jsonl"])
    assert len(errors) == 2 and "elsewhere" in " ".join(errors)


# --- a source with no valid record is an error naming it --------------------------------------

def _params(tmp_path, sources):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["collect"]["sources"] = sources
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(raw))
    write_benchmarks(p, tmp_path / "benchmarks")
    return p


def _src(name, path, **kw):
    return {"source": name, "kind": "local", "split": "train", "path": str(path),
            "fields": {"id": "id", "question": "question", "options": "options",
                       "answer": "answer", "answer_format": "letter"}, **kw}


def _collect(tmp_path, params):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stages.collect", str(tmp_path / "benchmarks"),
                           str(tmp_path / "out"), "--params", str(params)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_source_whose_every_record_is_rejected_stops_collect(tmp_path, monkeypatch):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text(json.dumps({"id": "g1", "question": "Which nerve supplies the deltoid?",
                                "options": ["Axillary", "Radial"], "answer": "A"}) + "\n")
    bad.write_text("".join(json.dumps({"id": f"b{i}", "question": "Q?",
                                       "options": {"A": "x", "C": "z", "B": None}, "answer": "A"})
                           + "\n" for i in range(5)) + "not json\n")
    r = _collect(tmp_path, _params(tmp_path, [_src("good_src", good), _src("all_bad", bad)]))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    msg = r.stderr
    assert "collect source 'all_bad'" in msg and str(bad) in msg and "all 6 records" in msg
    assert "options: options_gap x5" in msg and "json: json x1" in msg and "allow_empty" in msg
    assert not (tmp_path / "out" / "questions.jsonl").exists()  # nothing half-written
    # allowed: collect runs, and the good source's record is kept
    monkeypatch.chdir(tmp_path)
    collect.main([str(tmp_path / "benchmarks"), str(tmp_path / "out"), "--params",
                  str(_params(tmp_path, [_src("good_src", good), _src("all_bad", bad, allow_empty=True)]))])
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["sources"]["all_bad"]["rejected"] == 6 and stats["total"]["kept"] == 1
    assert stats["reject_reasons"]["all_bad"] == {"json: json": 1, "options: options_gap": 5}


def test_an_empty_file_or_eval_set_without_valid_records_stops_collect(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "g1", "question": "Q?", "options": ["x", "y"],
                                "answer": "A"}) + "\n")
    folders = [str(tmp_path / "benchmarks"), str(tmp_path / "out")]
    with pytest.raises(SystemExit, match="collect source 'nothing'.*holds no records"):
        collect.main([*folders, "--params", str(_params(tmp_path, [_src("nothing", empty)]))])
    assert not any((tmp_path / "out").glob("*.jsonl"))  # nothing renamed into place
    # a benchmark without a valid record stops its own stage, by name
    evals = tmp_path / "eval.csv"
    evals.write_text("id,question,options,answer\ne1,Q?,not json,A\n")
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    raw["benchmarks"] = {"my_eval": {k: v for k, v in _src("my_eval", evals).items()
                                     if k != "source"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit, match="benchmark 'my_eval'.*options: type x1"):
        write_benchmarks(tmp_path / "params.yaml", tmp_path / "b2")

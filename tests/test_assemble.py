"""assemble: row formats, the lockstep join, accounting of every question, Parquet, the card."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from reasonmed.core.records import Chosen, JsonlWriter, Question, Route, Score, Summary, Verdict
from reasonmed.method.assemble import (
    VARIANTS,
    Params,
    PathRef,
    cli_args,
    instruction,
    outputs,
    run,
    scan_paths,
)
from reasonmed.method.datacard import TRL_SNIPPET, quantiles
from stages.assemble import main
from tests.test_generate import _path, q

P = Params()
AGENTS = ("a1", "a2", "a3")


def verdicts_for(qq: Question, n_error: int) -> list[Verdict]:
    out = []
    for i, (a, slot) in enumerate((a, s) for a in AGENTS for s in range(3)):
        out.append(Verdict(path_id=_path(qq, a, slot).id, question_id=qq.id, agent=a,
                           temperature=(0.7, 0.9, 1.0)[slot],
                           verdict="Error" if i < n_error else "Correct", reason=f"r{i}",
                           parsed=True, attempts=1, model="v", prompt_hash="h",
                           prompt_tokens=5, completion_tokens=2))
    return out


def route_for(qq: Question, tier: str, vs: list[Verdict], reason: str | None = None) -> Route:
    n_err = sum(v.verdict == "Error" for v in vs)
    return Route(question_id=qq.id, tier=tier, n_paths=len(vs), n_error=n_err,
                 n_correct=len(vs) - n_err, n_unparsed=0, reason=reason,
                 verdicts={v.path_id: v.verdict for v in vs},
                 reasons={v.path_id: v.reason for v in vs})


def chosen(qq: Question, origin: str, rank: int, tier: str, kept: bool = True) -> Chosen:
    src = _path(qq, AGENTS[rank], 2)
    return Chosen(id=f"{src.id}/{origin}{rank}", question_id=qq.id, tier=tier, origin=origin,
                  source_path_id=src.id, rank=rank, agent=src.agent, model="writer",
                  temperature=1.0, cot=f"{origin} cot {rank} of {qq.id}. Final answer: B",
                  score=4, verdict="Correct" if kept else "Error", kept=kept,
                  history=[{"step": "generate", "completion_tokens": 11},
                           {"step": "rank", "completion_tokens": 2},
                           *([{"step": origin[:-1], "completion_tokens": 13}]  # refine/optimize
                             if origin != "ranked" else [])],
                  prompt_tokens=3, completion_tokens=18)


def summary(c: Chosen, letter: str | None = "B") -> Summary:
    return Summary(chosen_id=c.id, question_id=c.question_id,
                   summary=f"The answer is {letter}. Because.", answer=letter,
                   states_gold=letter == "B", finish_reason="stop", model="summ",
                   prompt_hash="h", prompt_tokens=4, completion_tokens=6)


def scenario() -> dict[str, list]:
    """Eight questions, one per outcome; returns the records of every input stream."""
    qs = [q(i) for i in range(8)]
    d = {k: [] for k in ("questions", "routes", "verdicts", "paths", "scores", "ranked",
                         "refined", "optimized", "summaries")}
    d["questions"] = qs
    plan = [  # (tier, n_error, ranked, refined/optimized (kept flags), summarized chosen)
        ("easy", 3, 2, [], "all"),  # 0: two rows
        ("medium", 6, 2, [True, False], "all"),  # 1: one row (one refined CoT not kept)
        ("difficult", 9, 0, [True], "all"),  # 2: one row
        ("difficult", 8, 0, [True], "none"),  # 3: dropped, no summary
        ("unrouted", 0, 0, [], "none"),  # 4: dropped, unrouted
        ("medium", 5, 2, [False, False], "none"),  # 5: dropped, refined CoTs not kept
        ("easy", 4, 0, [], "none"),  # 6: dropped, rank chose nothing
        (None, 0, 0, [], "none"),  # 7: no route, no verdicts at all
    ]
    for qq, (tier, n_err, n_ranked, kept, summ) in zip(qs, plan):
        if tier is None:
            continue
        vs = verdicts_for(qq, n_err)
        d["verdicts"] += vs
        d["paths"] += [_path(qq, a, s) for a in AGENTS for s in range(3)]
        d["routes"].append(route_for(qq, tier, vs, "1 unparsed verdict(s)" if tier == "unrouted" else None))
        d["scores"] += [Score(item_id=v.path_id, question_id=qq.id, score=4, justification="j",
                              parsed=True, attempts=1, model="r", prompt_hash="h",
                              prompt_tokens=1, completion_tokens=1)
                        for v in vs if v.verdict == "Correct" and tier in ("easy", "medium")]
        ranked = [chosen(qq, "ranked", r, tier) for r in range(n_ranked)]
        d["ranked"] += ranked
        origin = {"medium": "refined", "difficult": "optimized"}.get(tier)
        later = [chosen(qq, origin, r, tier, k) for r, k in enumerate(kept)]
        d[origin or "refined"] += later
        if summ == "all":
            used = ranked if tier == "easy" else [c for c in later if c.kept]
            d["summaries"] += [summary(c) for c in used]
    return d


def refs(paths) -> list[PathRef]:
    return [PathRef(x.question_id, x.id, x.model_dump_json().encode()) for x in paths]


def run_scenario(d, p=P):
    return list(run(d["questions"], d["routes"], d["verdicts"], d["scores"], d["ranked"],
                    d["refined"], d["optimized"], d["summaries"], refs(d["paths"]), p))


# --- pure pieces ---------------------------------------------------------------------


def test_instruction_has_header_context_stem_and_lettered_options():
    qq = q(1)
    assert instruction(qq, P.instruction_header) == (
        "Please answer the following multiple-choice question:\n"
        "Case 1: wheeze. Diagnosis?\nA. gout\nB. asthma 1\nC. cystitis")
    ctx = qq.model_copy(update={"context": "Abstract text."})
    assert instruction(ctx, "H").startswith("H\nAbstract text.\nCase 1")


def test_outputs_per_variant_and_braces_in_text_are_safe():
    out = outputs("think {x}", "The answer is B.", P.joiner)
    assert out == {"reasonmed": "## Thinking\n\nthink {x}\n\n## Final Response\n\nThe answer is B.",
                   "cotmed": "think {x}", "responsemed": "The answer is B."}


@pytest.mark.parametrize("joiner,ok", [
    ("{cot}\n\n{response}", True),
    ("<think>{cot}</think>{response}", True),
    ("{{literal}} {cot} {response}", True),
    ("{cot} only", False),
    ("{cot} {response} {other}", False),
    ("{cot} {response} {", False),
])
def test_joiner_must_hold_both_placeholders(joiner, ok):
    if ok:
        Params(joiner=joiner)
    else:
        with pytest.raises(ValidationError):
            Params(joiner=joiner)


def test_scan_paths_reads_ids_from_the_prefix_or_parses_other_orders():
    x = _path(q(1), "a1", 0)
    other_order = json.dumps({"question_id": x.question_id, "id": x.id}).encode()
    got = list(scan_paths([x.model_dump_json().encode() + b"\n", b"\n", other_order]))
    assert [(r.question_id, r.id) for r in got] == [(x.question_id, x.id)] * 2
    assert got[0].load() == x


@pytest.mark.parametrize("hist,expected", [
    ({}, {"n": 0, "mean": None, "median": None, "p95": None, "max": None}),
    ({5: 1}, {"n": 1, "mean": 5.0, "median": 5, "p95": 5, "max": 5}),
    ({1: 50, 10: 45, 100: 5}, {"n": 100, "mean": 10.0, "median": 1, "p95": 10, "max": 100}),
])
def test_quantiles(hist, expected):
    from collections import Counter
    assert quantiles(Counter(hist)) == expected


# --- the join and the accounting -----------------------------------------------------


def test_every_question_is_accounted_for_with_its_reason():
    d = scenario()
    res = run_scenario(d)
    acc = [(x.account["status"], x.account["rows"], x.account["reason"]) for x in res]
    assert acc == [
        ("in_datasets", 2, None), ("in_datasets", 1, None), ("in_datasets", 1, None),
        ("dropped", 0, "no_summary"), ("dropped", 0, "unrouted"), ("dropped", 0, "not_kept"),
        ("dropped", 0, "no_correct_paths"), ("dropped", 0, "no_route")]
    assert res[1].account["cots_dropped"] == {"not_kept": 1}
    assert res[4].account["detail"] == "1 unparsed verdict(s)"
    rows = [r for x in res for r in x.rows]
    assert [r["origin"] for r in rows] == ["ranked", "ranked", "refined", "optimized"]
    r0 = rows[0]
    assert r0["path_seed"] == d["paths"][2].seed and r0["n_error"] == 3 and r0["gold"] == "B"
    assert r0["cot_tokens"] == 11 and r0["response_words"] == 5 and r0["ranker_score"] == 4
    assert json.loads(r0["history"])[-1]["step"] == "rank"
    assert [r["cot_tokens"] for r in rows] == [11, 11, 13, 13]


def test_refine_keep_original_records_are_used_as_ranked_rows():
    d = scenario()
    failed = d["refined"][1]  # question 1's second refined CoT, not kept
    d["refined"][1] = failed.model_copy(update={"origin": "ranked", "kept": True, "history": [
        *failed.history, {"step": "on_fail", "action": "keep_original"}]})
    d["summaries"].insert(3, summary(d["refined"][1]))
    rows = run_scenario(d)[1].rows
    assert [(r["origin"], r["cot_tokens"]) for r in rows] == [("refined", 13), ("ranked", 11)]


def test_summary_mismatch_drops_only_when_asked():
    d = scenario()
    d["summaries"][0] = summary(d["ranked"][0], letter="C")
    assert run_scenario(d)[0].account["rows"] == 2
    res = run_scenario(d, Params(drop_summary_mismatch=True))
    assert res[0].account["rows"] == 1
    assert res[0].account["cots_dropped"] == {"summary_mismatch": 1}


def test_out_of_order_stream_is_an_error():
    d = scenario()
    d["summaries"] = d["summaries"][::-1]
    with pytest.raises(ValueError, match="summaries: records for question .* not in question order"):
        run_scenario(d)


def test_paths_are_optional():
    d = scenario()
    d["paths"] = []
    rows = [r for x in run_scenario(d) for r in x.rows]
    assert len(rows) == 4 and rows[0]["path_seed"] is None


# --- the stage end to end ------------------------------------------------------------


def write_data(root: Path, d: dict) -> None:
    files = {"questions": "collect/questions.jsonl", "paths": "generate/paths.jsonl",
             "verdicts": "verify/verdicts.jsonl", "routes": "route/routes.jsonl",
             "scores": "rank/scores.jsonl", "ranked": "rank/chosen.jsonl",
             "refined": "refine/chosen.jsonl", "optimized": "optimize/chosen.jsonl",
             "summaries": "summarize/summaries.jsonl"}
    for k, f in files.items():
        with JsonlWriter(root / f) as w:
            w.write_all(d[k])
    (root / "collect/stats.json").write_text(json.dumps(
        {"sources": {"t": {"in": 9, "kept": 8, "rejected": 1, "duplicate": 0}}}))
    ledger = {"stage": "generate", "role": "agent1", "backend": "hf", "model": "m", "devices": 1,
              "requests": 72, "cache_hits": 0, "model_calls": 72, "prompt_tokens": 720,
              "completion_tokens": 360, "generate_s": 36.0, "load_s": 0.0}
    (root / "generate/ledger.json").write_text(json.dumps([ledger]))
    api = {**ledger, "stage": "summarize", "role": "summarizer", "backend": "openai",
           "model": "gpt-4o-mini", "prompt_tokens": 1_000_000, "completion_tokens": 0}
    (root / "summarize/ledger.json").write_text(json.dumps([api]))


def test_main_writes_datasets_parquet_accounting_card_and_costs(tmp_path):
    import datasets

    data, out = tmp_path / "data", tmp_path / "out"
    write_data(data, scenario())
    main([*cli_args(data, out), "--params", "params.yaml"])
    ds = out / "datasets"
    rows = {v: [json.loads(line) for line in (ds / f"{v}.jsonl").open()] for v in VARIANTS}
    assert {len(r) for r in rows.values()} == {4}
    assert len({tuple(x["id"] for x in r) for r in rows.values()}) == 1  # same rows everywhere
    assert set(rows["cotmed"][0]) == {"id", "question_id", "instruction", "input", "output"}
    r = rows["reasonmed"][0]
    assert r["output"] == (f"## Thinking\n\n{rows['cotmed'][0]['output']}\n\n## Final Response"
                           f"\n\n{rows['responsemed'][0]['output']}")
    pq = datasets.load_dataset("parquet", data_files=str(ds / "reasonmed.parquet"),
                               split="train", cache_dir=str(tmp_path / "hf"))
    assert pq.num_rows == 4 and pq[0]["output"] == r["output"]
    assert {"tier", "origin", "source_path_id", "n_error", "history", "gold",
            "summary_answer", "path_markers"} <= set(pq.column_names)
    acc = [json.loads(line) for line in (out / "accounting.jsonl").open()]
    assert len(acc) == 8 and sum(a["rows"] for a in acc) == 4
    st = json.loads((out / "stats.json").read_text())
    assert st["rows"] == {v: 4 for v in VARIANTS}
    assert st["questions_in_datasets"] == 3 and st["questions_dropped"] == 5
    assert st["by_tier"]["medium"] == {"questions": 2, "in_datasets": 1, "dropped": 1, "rows": 1}
    costs = json.loads((out / "costs.json").read_text())
    by_stage = {r["stage"]: r for r in costs["rows"]}
    assert by_stage["generate"]["basis"] == "measured"
    assert by_stage["generate"]["device_hours"] == 0.01
    assert by_stage["summarize"]["usd"] == 0.15
    card = (out / "DATA_CARD.md").read_text()
    for heading in ("## Variants", "## Collection", "## Verifier pass rates", "## Error-count",
                    "## Lengths", "## Parse failures", "## Cost", "## Training with TRL",
                    "## Deviations"):
        assert heading in card
    assert f"```python\n{TRL_SNIPPET}```" in card  # the README's code (tests/test_results.py)
    assert "| a1 | 21 |" in card  # 3 paths of agent a1 in each of the 7 verified questions
    assert not list(out.rglob("*.tmp"))

"""report: the main results table, the ablation's paired tests, missing values, the caveat.

Converse checks: a value the artifacts lack is shown as missing (never 0, never a bar); the
significance of two identical models is no difference; the tiny-model caveat appears exactly
when a role is built locally.
"""

import numpy as np
import pytest

from reasonmed.method.bootstrap import mcnemar_exact, paired
from reasonmed.report.figures import two_score_note
from reasonmed.report.gather import TOTALS, Params, accuracy_rows, significance
from reasonmed.report.tables import MISSING, md_table, tex_table

P = Params(variants=["reasonmed", "cotmed", "responsemed"])


def block(acc):
    return {"n": 10, "strict_acc": acc, "strict_ci_lo": acc - 5, "strict_ci_hi": acc + 5,
            "huatuo_acc": acc + 1, "huatuo_ci_lo": acc - 4, "huatuo_ci_hi": acc + 6}


def metrics(cols):
    return {"columns": {c: block(a) for c, a in cols.items()},
            "total": {"micro": block(50.0), "macro_columns": block(40.0),
                      "macro_benchmarks": block(45.0)}}


def test_rows_follow_models_and_a_missing_column_or_model_is_missing():
    evals = {"base": metrics({"medqa": 20.0, "mmlu/anatomy": 30.0}),
             "tuned": metrics({"medqa": 25.0}),  # no MMLU column
             "baseline": None}  # never evaluated
    cols, table = accuracy_rows(evals, "strict")
    assert cols == ["medqa", "mmlu/anatomy", *TOTALS.values()]
    assert list(table) == ["base", "tuned", "baseline"]
    assert "mmlu/anatomy" not in table["tuned"] and table["baseline"] == {}
    assert table["base"]["total (micro)"] == (50.0, 45.0, 55.0)
    rows = [[m] + [table[m].get(c, (None,))[0] for c in cols] for m in table]
    md = md_table(["model", *cols], rows)
    assert f"| tuned | 25.00 | {MISSING} |" in md and "| baseline | " + " | ".join([MISSING] * 4) + " |" in md
    assert " 0.00 " not in md, "a missing value is never drawn as 0"
    assert "--" in tex_table(["model", *cols], rows, "c") and MISSING not in tex_table(
        ["model", *cols], rows, "c")


def test_a_real_zero_stays_zero():
    cols, table = accuracy_rows({"m": metrics({"medqa": 0.0})}, "strict")
    assert table["m"]["medqa"][0] == 0.0


def test_paired_identical_models_differ_by_nothing():
    a = np.array([1, 0, 1, 1, 0, 1])
    r = paired(a, a, 500, 0.95, 0)
    assert (r["diff"], r["ci_lo"], r["ci_hi"], r["only_a"], r["only_b"], r["mcnemar_p"]) == (
        0.0, 0.0, 0.0, 0, 0, 1.0)


def test_paired_detects_a_real_difference_and_is_seeded():
    rng = np.random.default_rng(0)
    b = (rng.random(400) < 0.4).astype(int)
    a = np.maximum(b, (rng.random(400) < 0.3).astype(int))  # A right wherever B is, and more
    r = paired(a, b, 1000, 0.95, 3)
    assert r["diff"] > 0 and r["ci_lo"] > 0 and r["mcnemar_p"] < 1e-6 and r["only_b"] == 0
    assert r == paired(a, b, 1000, 0.95, 3)
    with pytest.raises(ValueError, match="aligned"):
        paired(a, b[:-1], 10, 0.95, 0)


@pytest.mark.parametrize("b, c, p", [(0, 0, 1.0), (5, 5, 1.0), (10, 0, 0.001953125),
                                     (1, 0, 1.0)])
def test_mcnemar_exact_table(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p)


def test_significance_pairs_on_shared_items_only():
    preds = {"reasonmed": {("medqa", "q1"): True, ("medqa", "q2"): True, ("medqa", "q3"): False},
             "cotmed": {("medqa", "q1"): False, ("medqa", "q2"): True},  # q3 failed: absent
             "responsemed": {}}
    sig = significance(preds, 200, 0.95, 1)
    assert [(s["a"], s["b"]) for s in sig] == [("reasonmed", "cotmed"),
                                              ("reasonmed", "responsemed"),
                                              ("cotmed", "responsemed")]
    assert sig[0]["n"] == 2 and sig[0]["only_a"] == 1 and sig[0]["diff"] == 50.0
    assert sig[1] == {"a": "reasonmed", "b": "responsemed", "n": 0}


# --- the evaluation's scorers side by side, the judge, the robustness slices ----------------


def _d(evals):
    from reasonmed.report.gather import SCORERS

    cols, acc = accuracy_rows(evals, "strict")
    return {"evals": evals, "acc_cols": cols, "acc": acc, "confidence": 0.95,
            "acc_by_metric": {s: accuracy_rows(evals, s)[1] for s in SCORERS}}


def test_main_table_has_one_line_per_model_and_scorer_and_a_missing_scorer_is_missing():
    from reasonmed.report.tables import accuracy_table

    judged = metrics({"medqa": 20.0})
    for b in [*judged["columns"].values(), *judged["total"].values()]:
        b.update(strict_judge_acc=b["strict_acc"] + 0.5, strict_judge_ci_lo=1.0,
                 strict_judge_ci_hi=99.0)
    rows = accuracy_table(_d({"a": judged, "b": metrics({"medqa": 30.0}), "c": None}))
    assert [r[:2] for r in rows] == [[m, s] for m in "abc" for s in ("strict", "strict+judge", "huatuo")]
    assert rows[0][2] == "20.0 [15.0, 25.0]" and rows[1][2] == "20.5 [1.0, 99.0]"
    assert rows[2][2] == "21.0 [16.0, 26.0]", "huatuo: its own figure, never max(strict, huatuo)"
    assert rows[4][2] == MISSING, "no judge ran: strict+judge is missing, not strict's"
    assert rows[6][2:] == [MISSING] * 3


def test_judge_and_robustness_tables_read_results_json():
    from reasonmed.report.tables import judge_table, robustness_table

    ev = metrics({"medqa": 20.0})
    ev["judge"] = {"role": "verifier", "no_answer": 9, "asked": 8, "letter": 5, "none": 2,
                   "unread": 1, "rescued": 2,
                   "agreement": {"n": 16, "rate": 75.0, "kappa": 0.5}}
    ev["robustness"] = {"slices": {
        "permute_1": {"n": 27, "clean_acc": 20.0, "acc": 15.0, "diff": -5.0, "ci_lo": -9.0,
                      "ci_hi": -1.0, "mcnemar_p": 0.2},
        "prefill_wrong": {"n": 27, "clean_acc": 20.0, "acc": 10.0, "diff": -10.0, "ci_lo": -20.0,
                          "ci_hi": 0.0, "mcnemar_p": 0.1, "adopted_wrong": 40.0},
        "format_json": {"n": 0}},
        "permutations": {"k": 1, "n": 27, "clean_acc": 20.0, "mean_acc": 15.0, "diff": -5.0,
                         "ci_lo": -9.0, "ci_hi": -1.0, "consistency": 30.0}}
    d = _d({"a": ev, "b": None})
    assert judge_table(d) == [["a", "verifier", 9, 8, 5, 2, 1, 2, 16, 75.0, 0.5], ["b"] + [None] * 10]
    rows = robustness_table(d)
    assert [r[1] for r in rows] == ["permute_1", "prefill_wrong", "format_json", "permutations (mean of 1)"]
    assert rows[1][5:] == [-10.0, "[-20.00, 0.00]", 0.1, "adopted the pre-filled letter 40.0%"]
    assert rows[2][2:] == [0, None, None, None, None, None, None]  # nothing to compare: missing
    assert rows[3][-1] == "consistency 30.0% over 2 orders"
    md = md_table(["model", "slice", "items", "clean", "slice", "diff", "CI", "p", "note"], rows)
    assert f"| a | format_json | 0 | {MISSING} |" in md


def test_the_quality_caption_warns_exactly_when_the_scorer_gives_about_two_scores():
    """Two datasets scored only 1 or 10 in the same shares draw identical bars: the caption
    says why; a spread of scores gets no note."""
    two = {"reasonmed": {"score_histogram": {"1": 18, "10": 12}},
           "cotmed": {"score_histogram": {"1": 18, "3": 1, "10": 11}},  # 29 of 30 on 1 or 10
           "external": {"score_histogram": {"1": 5, "4": 5, "7": 10, "10": 10}}}
    note = two_score_note(two)
    assert "1 or 10" in note and "reasonmed, cotmed" in note and "external" not in note
    assert two_score_note({"external": two["external"]}) == ""
    assert two_score_note({"failed": {"score_histogram": {}}, "old": {}}) == ""

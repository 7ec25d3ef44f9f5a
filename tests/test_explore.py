"""The data explorer (stages/explore.py, reasonmed/report/{explorer,site}.py): its data shards from a tiny,
consistent set of artifacts written here with the real record types, and the site itself in
a real headless Chromium, opened offline from file:// (slow; skipped without Chromium,
failing under CI=true). REASONMED_SCREENSHOT=reports/explorer-screenshot.png saves a
screenshot of a question page."""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from reasonmed.core.records import (
    Chosen,
    CoTPath,
    JsonlWriter,
    Question,
    Route,
    Score,
    Summary,
    Verdict,
    read_jsonl,
)
from reasonmed.report import explorer
from reasonmed.report.site import write_site
from stages import explore

ROOT = Path(__file__).resolve().parents[1]
AGENTS, TEMPS = ("agent1", "agent2", "agent3"), (0.7, 0.9, 1.0)
LONG = "long reasoning " * 100  # 1500 characters: cut by max_chars=500
PARAMS = {"questions_per_shard": 2, "index_rows_per_shard": 2, "page_size": 2, "max_chars": 500,
          "snippet_chars": 40, "search_chars": 200, "raw_completions": True}

# --- a tiny, consistent run: 3 questions (easy, medium, difficult), 9 paths each --------

# question -> (source, tier, verdict per path: C Correct, E Error, U unparsed)
PLAN = {
    "easy": ("fix_medqa", "easy", "CCECCCECC"),
    "medium": ("fix_medmcqa", "medium", "EEECEUCEC"),
    "difficult": ("fix_medqa", "difficult", "EEEEEEEEE"),
}
V = {"C": "Correct", "E": "Error", "U": None}


def _question(name: str, source: str) -> Question:
    opts = {"A": f"{name} option one", "B": f"{name} option two", "C": "neither", "D": "both"}
    stem = f"Which finding best fits the {name} vignette about a patient with chest pain?"
    return Question(id=f"q{name}"[:16], source=source, split="train", question=stem, options=opts,
                    answer="B", answer_text=opts["B"], source_id=f"{source}-{name}")


def _path(qid: str, i: int) -> CoTPath:
    agent, slot = AGENTS[i // 3], i % 3
    cot = LONG if (qid == "qdifficult" and i == 0) else f"{qid} {agent} slot {slot}: so the answer is B."
    return CoTPath(id=f"{qid}/{agent}/t{slot}s0", question_id=qid, agent=agent, backend="hf",
                   model=f"models/{agent}", revision="r", temperature=TEMPS[slot], top_p=0.9,
                   slot=slot, sample=0, seed=100 + i, prompt_hash="p", cot=cot,
                   text=("<think>" + cot) if i == 1 else None, markers=["<think>"] if i == 1 else [],
                   answer="B" if i % 2 else "A", finish_reason="stop", prompt_tokens=10,
                   completion_tokens=20)


def _verdict(p: CoTPath, code: str) -> Verdict:
    return Verdict(path_id=p.id, question_id=p.question_id, agent=p.agent, temperature=p.temperature,
                   verdict=V[code], reason=None if code == "U" else f"reason {code} for {p.id}",
                   parsed=code != "U", attempts=3 if code == "U" else 1,
                   error="no JSON object" if code == "U" else None, model="models/verifier",
                   prompt_hash="v", prompt_tokens=5, completion_tokens=5)


def _chosen(p: CoTPath, tier: str, origin: str, rank: int, **kw) -> Chosen:
    fields = {"id": f"{p.id}/{origin}{rank}", "question_id": p.question_id, "tier": tier,
              "origin": origin, "source_path_id": p.id, "rank": rank, "agent": p.agent,
              "model": p.model, "temperature": p.temperature, "cot": p.cot, "score": 4,
              "verdict": "Correct", "verify_reason": "fine"}
    return Chosen(**{**fields, **kw})


def _summary(c: Chosen) -> Summary:
    return Summary(chosen_id=c.id, question_id=c.question_id, summary=f"summary of {c.id}: B",
                   answer="B", states_gold=True, finish_reason="stop", model="models/agent1",
                   prompt_hash="s", prompt_tokens=5, completion_tokens=5)


def write_artifacts(data: Path) -> dict:
    """The artifacts of a tiny run, in pipeline layout under `data`; returns what was written."""
    out = {k: [] for k in ("questions", "paths", "verdicts", "routes", "scores", "ranked",
                           "refined", "optimized", "summaries", "accounting", "rows")}
    for name, (source, tier, codes) in PLAN.items():
        q = _question(name, source)
        ps = [_path(q.id, i) for i in range(9)]
        vs = [_verdict(p, c) for p, c in zip(ps, codes)]
        n_err = codes.count("E") + codes.count("U")
        out["questions"].append(q)
        out["paths"] += ps
        out["verdicts"] += vs
        out["routes"].append(Route(
            question_id=q.id, tier=tier, n_paths=9, n_error=n_err, n_correct=codes.count("C"),
            n_unparsed=codes.count("U"), verdicts={v.path_id: v.verdict for v in vs},
            reasons={v.path_id: v.reason for v in vs}))
        good = [p for p, c in zip(ps, codes) if c == "C"]
        if tier in ("easy", "medium"):
            out["scores"] += [Score(item_id=p.id, question_id=q.id, score=4 - k % 3,
                                    justification="clear", parsed=True, attempts=1, model="m",
                                    prompt_hash="r", prompt_tokens=1, completion_tokens=1)
                              for k, p in enumerate(good)]
            out["ranked"] += [_chosen(p, tier, "ranked", k) for k, p in enumerate(good[:2])]
        used = []
        if tier == "easy":
            used = out["ranked"][-2:]
        elif tier == "medium":
            refined = _chosen(good[0], tier, "refined", 0, cot="a refined, better CoT: B",
                              model="models/refiner")
            # on_fail keep_original: refine's record keeps its own id, the ranked origin and text
            kept_original = _chosen(good[1], tier, "ranked", 1, id=f"{good[1].id}/refined1", history=[
                {"step": "refine", "model": "models/refiner"},
                {"step": "reverify", "verdict": "Error", "reason": "wrong again"},
                {"step": "on_fail", "action": "keep_original", "why": "re-verified Error",
                 "rejected_cot": "a refined CoT that failed"}])
            out["refined"] += [refined, kept_original]
            used = [refined, kept_original]
        else:
            out["optimized"] += [_chosen(ps[k], tier, "optimized", k, cot=f"optimized {k}",
                                         model="models/optimizer", verdict="Error", kept=False)
                                 for k in range(2)]
        out["summaries"] += [_summary(c) for c in used]
        out["rows"] += [{"id": c.id, "question_id": q.id} for c in used]
        out["accounting"].append(
            {"question_id": q.id, "source": source, "tier": tier,
             "status": "in_datasets" if used else "dropped", "rows": len(used),
             "reason": None if used else "not_kept",
             "detail": None if used else "optimized CoT dropped by its stage",
             "cots_dropped": {} if used else {"not_kept": 2}})
    for name, rel in (("questions", "collect/questions.jsonl"), ("paths", "generate/paths.jsonl"),
                      ("verdicts", "verify/verdicts.jsonl"), ("routes", "route/routes.jsonl"),
                      ("scores", "rank/scores.jsonl"), ("ranked", "rank/chosen.jsonl"),
                      ("refined", "refine/chosen.jsonl"), ("optimized", "optimize/chosen.jsonl"),
                      ("summaries", "summarize/summaries.jsonl"),
                      ("accounting", "assemble/accounting.jsonl")):
        with JsonlWriter(data / rel) as w:
            w.write_all(out[name])
    for v in explorer.VARIANTS:
        with JsonlWriter(data / f"assemble/datasets/{v}.jsonl") as w:
            w.write_all({**r, "instruction": "I", "input": "", "output": f"{v} text"}
                        for r in out["rows"])
    return out


def write_params(path: Path, **over) -> Path:
    path.write_text(yaml.safe_dump({"explore": {**PARAMS, **over}}))
    return path


def parse_js(text: str) -> tuple[str, int, object]:
    """A data file back into (kind, n, data): `window.__shard("kind",n,<json>);`, the JSON
    inside `JSON.parse("...")` for list files."""
    head, _, rest = text.partition("(")
    assert head == "window.__shard" and text.endswith(");\n")
    kind, rest = rest.split(",", 1)
    n, body = rest.split(",", 1)
    body = body[:-3]
    if json.loads(kind) in ("index", "search"):
        assert body.startswith("JSON.parse(") and body.endswith(")")
        body = json.loads(body[len("JSON.parse("):-1])
    return json.loads(kind), int(n), json.loads(body)


def site_files(data: Path, stack: contextlib.ExitStack, **over):
    """The stage's run() over the artifacts under `data` (files stay open on `stack`)."""
    streams, missing = explorer.open_streams(data, stack)
    questions = streams.pop("questions")
    streams["rollouts"] = explorer.read_rollouts(data, PARAMS.get("max_chars", 4000))  # as the stage does
    return explorer.run(questions, streams, explorer.Params(**{**PARAMS, **over}), missing)


def build(data: Path, **over) -> dict[str, tuple]:
    with contextlib.ExitStack() as stack:
        return {rel: parse_js(text) for rel, text in site_files(data, stack, **over)}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_artifacts(root)
    # one RL group on qmedium (the rl stage's samples.jsonl: first/last step, each reward term)
    (root / "rl/reasonmed").mkdir(parents=True)
    (root / "rl/reasonmed/samples.jsonl").write_text(json.dumps({
        "step": 0, "question_id": "qmedium", "completions": [
            {"text": "<think>gout</think>\nThe answer is B.", "answer_reward": 1.0, "format_reward": 1.0},
            {"text": "A or B", "answer_reward": 0.0, "format_reward": 0.0}]}) + "\n")
    return root


# --- the data shards (fast) ------------------------------------------------------------


def test_shards_follow_the_layout_and_meta_comes_last(data):
    files = build(data)
    assert list(files) == ["data/q/00000.js", "data/index/00000.js", "data/search/00000.js",
                           "data/q/00001.js", "data/index/00001.js", "data/search/00001.js",
                           "data/meta.js"]
    kind, n, meta = files["data/meta.js"]
    assert (kind, n) == ("meta", 0)
    assert meta["counts"]["questions"] == 3 and meta["counts"]["paths"] == 27
    assert meta["tier_counts"] == {"easy": 1, "medium": 1, "difficult": 1}
    assert meta["sources"] == ["fix_medqa", "fix_medmcqa"] and meta["agents"] == list(AGENTS)
    assert meta["index_shards"] == 2 and meta["detail_shards"] == 2 and meta["missing"] == []
    assert meta["counts"]["in_datasets"] == 2 and meta["counts"]["rows_cotmed"] == 4
    assert meta["reasons"] == ["not_kept"] and meta["page_size"] == 2


def test_index_rows_are_compact_summaries(data):
    files = build(data)
    rows = files["data/index/00000.js"][2] + files["data/index/00001.js"][2]
    by = {r[0]: dict(zip(explorer.INDEX_FIELDS, r)) for r in rows}
    easy, med, diff = by["qeasy"], by["qmedium"], by["qdifficult"]
    assert [r[0] for r in rows] == ["qeasy", "qmedium", "qdifficult"]  # collect's order
    assert explorer.TIERS[med["tier"]] == "medium" and med["n_error"] == 6
    assert (med["n_error_verdicts"], med["n_unparsed"], med["n_correct"]) == (5, 1, 3)
    assert med["unparsed_agents"] == 0b010  # the unparsed verdict is agent2's
    assert easy["error_agents"] == 0b101 and easy["agents"] == 0b111  # errors: agent1, agent3
    assert (easy["rows"], easy["reason"], diff["rows"], diff["reason"]) == (2, -1, 0, 0)
    assert easy["snippet"].endswith("…") and len(easy["snippet"]) <= 41
    search = files["data/search/00000.js"][2]
    assert "b. easy option two" in search[0] and search[0] == search[0].lower()


def test_question_detail_joins_every_stage(data):
    files = build(data)
    med = files["data/q/00000.js"][2][1]
    assert med["id"] == "qmedium" and med["answer"] == "B" and med["route"]["tier"] == "medium"
    assert len(med["paths"]) == 9
    p = {x["id"]: x for x in med["paths"]}
    unparsed = p["qmedium/agent2/t2s0"]["verdict"]
    assert unparsed["verdict"] is None and not unparsed["parsed"] and unparsed["error"]
    assert p["qmedium/agent2/t0s0"]["score"]["score"] == 4  # the first Correct path, scored
    assert p["qmedium/agent2/t0s0"]["chosen"] == ["qmedium/agent2/t0s0/ranked0",
                                                   "qmedium/agent2/t0s0/refined0"]
    assert p["qmedium/agent1/t1s0"]["text"].startswith("<think>")  # raw_completions: true
    streams = [(c["stream"], c["origin"]) for c in med["chosen"]]
    assert streams == [("rank", "ranked"), ("rank", "ranked"), ("refine", "refined"),
                       ("refine", "ranked")]
    refined = med["chosen"][2]
    assert refined["cot"].startswith("a refined") and refined["summary"]["answer"] == "B"
    assert refined["rows"] == list(explorer.VARIANTS) and med["chosen"][0]["rows"] == []
    assert med["chosen"][3]["history"][-1]["action"] == "keep_original"
    assert med["rows"]["reasonmed"] == ["qmedium/agent2/t0s0/refined0", "qmedium/agent3/t0s0/refined1"]
    assert med["account"]["status"] == "in_datasets" and "unmatched" not in med


def test_dropped_question_shows_its_accounting_and_long_texts_are_cut(data):
    diff = build(data)["data/q/00001.js"][2][0]
    assert diff["account"]["reason"] == "not_kept" and diff["rows"]["reasonmed"] == []
    assert [c["kept"] for c in diff["chosen"]] == [False, False]
    cot = diff["paths"][0]["cot"]
    assert len(cot) < 700 and "[truncated by the explorer: 500 of 1,500 characters shown" in cot


def test_clip_and_scan_rows():
    assert explorer.clip("short", 10) == "short" and explorer.clip(None, 3) is None
    assert explorer.clip("x" * 30, 10).startswith("x" * 10 + "\n… [truncated")
    lines = ['{"id": "q1/a/t0s0/ranked0", "question_id": "q1", "output": "..."}\n',
             '{"question_id": "q2", "id": "q2/x"}\n', "\n"]
    assert list(explorer.scan_rows(lines)) == [explorer.Keyed("q1", "q1/a/t0s0/ranked0"),
                                               explorer.Keyed("q2", "q2/x")]


def test_a_record_out_of_question_order_is_an_error(data, tmp_path):
    shutil.copytree(data, tmp_path / "d")
    f = tmp_path / "d/verify/verdicts.jsonl"
    lines = f.read_text().splitlines(keepends=True)
    f.write_text("".join(lines[9:] + lines[:9]))  # the easy question's verdicts come last
    with pytest.raises(ValueError, match="verdicts: records for question"):
        build(tmp_path / "d")


def test_stage_writes_the_same_bytes_twice_and_lists_missing_artifacts(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run log goes to ./work/runs
    params = write_params(tmp_path / "params.yaml")
    for out in ("a", "b"):
        explore.main([str(data), out, "--params", str(params)])
    a = sorted(f.relative_to("a") for f in Path("a").rglob("*") if f.is_file())
    assert {str(f) for f in a} >= {"index.html", "app.js", "style.css", "data/meta.js"}
    assert all((Path("a") / f).read_bytes() == (Path("b") / f).read_bytes() for f in a)
    assert not list(tmp_path.glob(".a.*"))  # no temp folder left behind
    shutil.copytree(data, "partial")
    Path("partial/optimize/chosen.jsonl").unlink()
    explore.main(["partial", "c", "--params", str(params)])
    meta = parse_js(Path("c/data/meta.js").read_text())[2]
    assert meta["missing"] == ["optimize/chosen.jsonl"] and meta["counts"]["questions"] == 3


def test_params_section_rejects_unknown_keys(tmp_path):
    from reasonmed.core.params import load
    with pytest.raises(SystemExit, match="questions_per_shards"):
        load("explore", explorer.Params, write_params(tmp_path / "p.yaml", questions_per_shards=3))


def test_fixture_records_are_what_the_pipeline_reads(data):
    assert [q.id for q in read_jsonl(data / "collect/questions.jsonl", Question)] == [
        "qeasy", "qmedium", "qdifficult"]


# --- the site in a real headless Chromium (slow) ---------------------------------------

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def unavailable(why: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; under CI=true the browser test must run")
    pytest.skip(why)


def chromium() -> str:
    """$REASONMED_CHROMIUM, a chromium/chrome on PATH, or one scripts/install-chromium.sh installs."""
    if env := os.environ.get("REASONMED_CHROMIUM"):
        return env
    for name in ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome"):
        if (p := shutil.which(name)) and not p.startswith("/snap/"):
            return p
    try:
        r = subprocess.run([str(ROOT / "scripts/install-chromium.sh")], capture_output=True,
                           text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        unavailable(f"Chromium missing and scripts/install-chromium.sh failed: {e}")
    if r.returncode:
        unavailable("Chromium missing and cannot be installed here (needs root or sudo and apt): "
                    + (r.stderr.strip().splitlines() or ["?"])[-1])
    return r.stdout.strip().splitlines()[-1]


class Browser:
    """One Chromium page on the built site, with the page errors and failed loads it saw."""

    def __init__(self, page, site: Path):
        self.page, self.site, self.errors = page, site, []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))

    def url(self, hash_: str = "") -> str:
        return (self.site / "index.html").as_uri() + hash_


@pytest.fixture(scope="module")
def browser(data, tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (a dev dependency)")
    exe = chromium()
    site = tmp_path_factory.mktemp("site") / "explorer"
    with contextlib.ExitStack() as stack:
        write_site(site_files(data, stack), site)
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=exe, headless=True, args=LAUNCH_ARGS, offline=True,
            viewport={"width": 1400, "height": 1000})
        yield Browser(ctx.new_page(), site)
        ctx.close()


def open_list(b: Browser, hash_: str = "") -> list[str]:
    """Load the list (at `hash_`) and return the ids it shows once the index is loaded."""
    b.page.goto(b.url(hash_))
    b.page.wait_for_selector("body[data-view=list][data-index=loaded]")
    return b.page.locator("#list tbody tr[data-id]").evaluate_all("rs => rs.map(r => r.dataset.id)")


@pytest.mark.slow
def test_browser_list_pages_through_the_questions(browser):
    page = browser.page
    assert open_list(browser) == ["qeasy", "qmedium"]  # page_size 2
    assert "3 of 3 questions" in page.inner_text("#status")
    page.click("#pager a[rel=next]")
    page.wait_for_function("location.hash.includes('page=2')")
    page.wait_for_selector("#list tbody tr[data-id=qdifficult]")
    assert "not_kept" in page.inner_text("#list tbody tr[data-id=qdifficult]")
    assert not browser.errors


@pytest.mark.slow
def test_browser_opens_a_question_with_its_nine_paths(browser):
    page = browser.page
    open_list(browser)
    page.click("#list tbody tr[data-id=qmedium] td.snippet")
    page.wait_for_selector("body[data-view=question][data-qid=qmedium]")
    assert page.locator("#question-view details.path").count() == 9
    text = page.inner_text("#question-view")
    assert "✓ gold" in text and "unparsed" in text and "In the datasets" in text
    assert "a refined, better CoT" in text and "rejected refine output" in text
    page.click("#question-view .toggle-all")
    assert page.locator("#question-view details.path[open]").count() == 9
    assert "RL rollouts (1 groups)" in text and "1/2 right" in text  # the RL stage's group
    if shot := os.environ.get("REASONMED_SCREENSHOT"):
        out = Path(shot) if Path(shot).is_absolute() else ROOT / shot
        out.parent.mkdir(parents=True, exist_ok=True)
        page.click("#question-view .toggle-all")
        page.screenshot(path=str(out), full_page=True)
    page.click("text=← back to the list")
    page.wait_for_selector("body[data-view=list]")
    assert not browser.errors


@pytest.mark.slow
def test_browser_filters_narrow_the_list(browser):
    page = browser.page
    open_list(browser)
    page.select_option("#f-tier", "difficult")
    page.wait_for_function("location.hash.includes('tier=difficult')")
    assert open_list(browser, "#tier=difficult") == ["qdifficult"]
    page.select_option("#f-tier", "")
    page.select_option("#f-verdict", "unparsed")
    page.wait_for_selector("#list tbody tr[data-id=qmedium]")
    assert "1 of 3 questions" in page.inner_text("#status")
    assert open_list(browser, "#verdict=error&agent=agent2") == ["qmedium", "qdifficult"]
    assert open_list(browser, "#ds=out") == ["qdifficult"]
    assert open_list(browser, "#source=fix_medmcqa") == ["qmedium"]
    assert not browser.errors


@pytest.mark.slow
def test_browser_searches_by_id_and_text(browser):
    page = browser.page
    open_list(browser)
    page.fill("#f-search", "qdiff")
    page.wait_for_function("location.hash.includes('search=qdiff')")
    page.wait_for_selector("#list tbody tr[data-id=qdifficult]")
    assert page.locator("#list tbody tr[data-id]").count() == 1
    page.fill("#f-search", "medium option two")  # in the options: the search shards' text
    page.wait_for_function("document.body.dataset.search === 'loaded'")
    page.wait_for_function("location.hash.includes('option')")
    page.wait_for_selector("#list tbody tr[data-id=qmedium]")
    assert page.locator("#list tbody tr[data-id]").count() == 1
    page.goto(browser.url("#q=qeasy"))  # a deep link without its shard number
    page.wait_for_selector("body[data-view=question][data-qid=qeasy]")
    assert page.locator("#question-view details.path").count() == 9
    assert not browser.errors

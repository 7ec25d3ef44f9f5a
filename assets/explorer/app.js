/* ReasonMed explorer: one static page over the data shards that reasonmed/explorer.py writes.
   Each data file calls window.__shard(kind, n, data); a <script> tag loads it, which works
   from file:// where fetch() of local files does not. The view lives in the URL hash:
     #q=<question id>&s=<detail shard>          one question
     #tier=easy&agent=agent2&verdict=error&page=2   the list, filtered (any subset of keys)
   Vanilla JS, no build step, no network. */
"use strict";

const store = new Map();
const pending = new Map();
window.__shard = (kind, n, data) => store.set(`${kind}/${n}`, data);

function load(kind, n) {
  const key = `${kind}/${n}`;
  if (store.has(key)) return Promise.resolve(store.get(key));
  if (!pending.has(key)) {
    pending.set(key, new Promise((resolve, reject) => {
      const s = document.createElement("script");
      const src = kind === "meta" ? "data/meta.js" : `data/${kind}/${String(n).padStart(5, "0")}.js`;
      s.src = src;
      s.onload = () => {
        s.remove();
        pending.delete(key);
        if (store.has(key)) resolve(store.get(key));
        else reject(new Error(`${src} did not hand over its data`));
      };
      s.onerror = () => {
        pending.delete(key);
        reject(new Error(`cannot load ${src}: is the site complete?`));
      };
      document.head.append(s);
    }));
  }
  return pending.get(key);
}

const $ = (sel) => document.querySelector(sel);
const esc = (s) => (s == null ? "" : String(s)).replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fmt = (n) => Number(n).toLocaleString("en");
const short = (s, n) => (s && s.length > n ? s.slice(0, n) + "…" : s || "");

let META = null;
const F = {}; // index row field -> position (META.fields)
const rows = []; // every loaded index row, in question order
const texts = []; // lower-cased search text per row, once the search shards are loaded
const position = new Map(); // question id -> row position
let indexShards = 0;
let searchShards = 0;
let indexDone = null; // Promise: the whole index is loaded
let searchStarted = false;
let lastList = "#";
let renderToken = 0;

/* --- the URL hash ------------------------------------------------------------------- */

const FILTERS = ["search", "tier", "source", "verdict", "agent", "ds"];

function parseHash() {
  return Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
}

function hashOf(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== "" && v != null) p.set(k, v);
  const s = p.toString();
  return s ? `#${s}` : "#";
}

/* --- loading ------------------------------------------------------------------------ */

const AHEAD = 4; // shard files requested ahead of the one being added (they parse meanwhile)

async function loadIndex() {
  for (let n = 0; n < META.index_shards; n++) {
    for (let k = n + 1; k <= n + AHEAD && k < META.index_shards; k++) load("index", k).catch(() => {});
    const shard = await load("index", n);
    store.delete(`index/${n}`); // copied into `rows`: do not hold it twice
    for (const r of shard) {
      position.set(r[F.id], rows.length);
      rows.push(r);
    }
    indexShards = n + 1;
    refreshList(indexShards === META.index_shards);
  }
  document.body.dataset.index = "loaded";
}

async function loadSearch() {
  if (searchStarted) return;
  searchStarted = true;
  for (let n = 0; n < META.index_shards; n++) {
    for (let k = n + 1; k <= n + AHEAD && k < META.index_shards; k++) load("search", k).catch(() => {});
    const shard = await load("search", n);
    store.delete(`search/${n}`);
    shard.forEach((t, i) => { texts[n * META.index_rows_per_shard + i] = t; });
    searchShards = n + 1;
    refreshList(searchShards === META.index_shards);
  }
  document.body.dataset.search = "loaded";
}

const detailKeys = []; // the detail shards kept in memory, oldest first
async function loadDetail(n) {
  const shard = await load("q", n);
  const i = detailKeys.indexOf(n);
  if (i >= 0) detailKeys.splice(i, 1);
  detailKeys.push(n);
  while (detailKeys.length > 8) store.delete(`q/${detailKeys.shift()}`);
  return shard;
}

/* --- the list ----------------------------------------------------------------------- */

function matcher(f) {
  const tier = f.tier ? META.tiers.indexOf(f.tier) : -1;
  const src = f.source ? META.sources.indexOf(f.source) : -1;
  const ag = f.agent ? 1 << META.agents.indexOf(f.agent) : 0;
  const words = (f.search || "").toLowerCase().split(/\s+/).filter(Boolean);
  const has = (count, mask, r) => (ag ? r[mask] & ag : r[count]);
  return (r, i) => {
    if (f.tier && r[F.tier] !== tier) return false;
    if (f.source && r[F.source] !== src) return false;
    if (f.agent && !(r[F.agents] & ag)) return false;
    const err = has(F.n_error_verdicts, F.error_agents, r);
    const unp = has(F.n_unparsed, F.unparsed_agents, r);
    if (f.verdict === "error" && !err) return false;
    if (f.verdict === "unparsed" && !unp) return false;
    if (f.verdict === "clean" && (err || unp || !r[F.n_correct])) return false;
    if (f.verdict === "none" && r[F.n_correct] + r[F.n_error_verdicts] + r[F.n_unparsed] > 0) return false;
    if (f.ds === "in" && !r[F.rows]) return false;
    if (f.ds === "out" && r[F.rows]) return false;
    if (words.length) {
      const hay = `${r[F.id]} ${texts[i] === undefined ? r[F.snippet].toLowerCase() : texts[i]}`;
      if (!words.every((w) => hay.includes(w))) return false;
    }
    return true;
  };
}

function tierBadge(tier) {
  return `<span class="tier tier-${esc(tier.replace(" ", "-"))}">${esc(tier)}</span>`;
}

function rowHtml(r, i) {
  const href = hashOf({ q: r[F.id], s: Math.floor(i / META.questions_per_shard) });
  const ds = r[F.rows] ? `<span class="yes">yes</span> <small>${r[F.rows]} rows</small>`
    : `<span class="no">no</span> <small>${esc(r[F.reason] >= 0 ? META.reasons[r[F.reason]] : "")}</small>`;
  return `<tr data-id="${esc(r[F.id])}" data-href="${esc(href)}">
    <td><a href="${esc(href)}"><code>${esc(r[F.id])}</code></a></td>
    <td>${esc(META.sources[r[F.source]])}</td><td>${tierBadge(META.tiers[r[F.tier]])}</td>
    <td class="num">${r[F.n_error]} / ${r[F.n_paths]}</td><td class="num">${r[F.n_unparsed] || ""}</td>
    <td>${ds}</td><td class="snippet">${esc(r[F.snippet])}</td></tr>`;
}

function syncControls(f) {
  for (const k of FILTERS) {
    const el = $(`#f-${k}`);
    if (el !== document.activeElement || k !== "search") el.value = f[k] || "";
  }
}

function renderList(f) {
  show("list-view");
  lastList = location.hash || "#";
  syncControls(f);
  if (f.search) loadSearch().catch(fail);
  const match = matcher(f);
  const hits = [];
  for (let i = 0; i < rows.length; i++) if (match(rows[i], i)) hits.push(i);
  const size = META.page_size;
  const pages = Math.max(1, Math.ceil(hits.length / size));
  const page = Math.min(Math.max(1, parseInt(f.page, 10) || 1), pages);
  const shown = hits.slice((page - 1) * size, page * size);
  $("#list tbody").innerHTML = shown.map((i) => rowHtml(rows[i], i)).join("")
    || `<tr><td colspan="7" class="empty">No question matches these filters.</td></tr>`;
  const loading = [];
  if (indexShards < META.index_shards) loading.push(`loading the list: ${indexShards}/${META.index_shards} files`);
  if (f.search && searchShards < META.index_shards) loading.push(`loading question text: ${searchShards}/${META.index_shards} files`);
  $("#status").textContent = `${fmt(hits.length)} of ${fmt(rows.length)} questions`
    + (loading.length ? ` (${loading.join("; ")})` : "");
  const to = (p) => hashOf({ ...f, page: p });
  $("#pager").innerHTML = pages < 2 ? "" : `
    ${page > 1 ? `<a href="${esc(to(1))}">« first</a> <a href="${esc(to(page - 1))}" rel="prev">‹ prev</a>` : ""}
    <span>page ${fmt(page)} of ${fmt(pages)}</span>
    ${page < pages ? `<a href="${esc(to(page + 1))}" rel="next">next ›</a> <a href="${esc(to(pages))}">last »</a>` : ""}`;
  document.body.dataset.view = "list";
}

let refreshTimer = 0;
let lastRefresh = 0;
function refreshList(now = false) { // re-render the list as shards arrive: every 300 ms, or now
  if ($("#list-view").hidden) return;
  if (now) {
    clearTimeout(refreshTimer);
    refreshTimer = 0;
    renderList(parseHash());
    return;
  }
  if (refreshTimer) return;
  const wait = Math.max(0, lastRefresh + 300 - performance.now());
  refreshTimer = setTimeout(() => {
    refreshTimer = 0;
    lastRefresh = performance.now();
    if (!$("#list-view").hidden) renderList(parseHash());
  }, wait);
}

/* --- one question ------------------------------------------------------------------- */

function verdictBadge(v) {
  if (v === undefined) return `<span class="verdict verdict-none">no verdict</span>`;
  const name = v === null ? "unparsed" : v;
  return `<span class="verdict verdict-${esc(name)}">${esc(name)}</span>`;
}

function answerMark(letter, gold) {
  if (!letter) return `<span class="muted">no answer letter</span>`;
  return `answer <b class="${letter === gold ? "ok" : "bad"}">${esc(letter)}</b>`;
}

function pathHtml(p, d, inRows) {
  const v = p.verdict;
  const sc = p.score;
  const chosen = p.chosen.length ? `<span class="star" title="chosen CoTs built on this path">★ ${p.chosen.map(
    (c) => esc(c.slice(p.id.length + 1)) + (inRows.has(c) ? " (in datasets)" : "")).join(", ")}</span>` : "";
  return `<details class="path" id="path-${esc(p.id)}">
    <summary><span class="agent">${esc(p.agent)}</span> <span class="temp">T=${p.temperature}</span>
      ${verdictBadge(v ? v.verdict : undefined)}
      ${sc ? `<span class="score" title="ranker score (0-5)">score ${sc.parsed ? sc.score : "unparsed"}</span>` : ""}
      ${chosen} ${answerMark(p.answer, d.answer)}
      <span class="reason-short">${esc(short(v && (v.reason || v.error), 110))}</span></summary>
    <div class="body">
      ${v ? `<p><b>Verifier</b> (${esc(v.model)}, ${v.attempts} attempt${v.attempts === 1 ? "" : "s"}):
        ${verdictBadge(v.verdict)} ${esc(v.reason || "")}${v.error ? ` <span class="bad">parse error: ${esc(v.error)}</span>` : ""}</p>` : "<p class=muted>No verdict for this path.</p>"}
      ${sc ? `<p><b>Ranker</b> (${esc(sc.model)}): score ${sc.parsed ? sc.score : "unparsed"}. ${esc(sc.justification || sc.error || "")}</p>` : ""}
      <pre class="cot">${esc(p.cot)}</pre>
      ${p.text != null ? `<details><summary>raw completion (before removing ${esc(p.markers.join(", "))})</summary><pre class="cot">${esc(p.text)}</pre></details>` : ""}
      <p class="meta"><code>${esc(p.id)}</code> · ${esc(p.model)} · seed ${p.seed} · finish ${esc(p.finish_reason)}
        · ${fmt(p.completion_tokens)} tokens${p.markers.length ? ` · markers ${esc(p.markers.join(", "))}` : ""}</p>
    </div></details>`;
}

const FEEDS = { easy: "rank", medium: "refine", difficult: "optimize" }; // tier -> stage whose CoTs become rows
const feeds = (d) => d.route && FEEDS[d.route.tier];

function chosenHtml(c, d, pathsById) {
  const src = pathsById.get(c.source_path_id);
  const rewritten = c.origin !== "ranked";
  const verb = { ranked: "ranked", refined: "refined", optimized: "optimized" }[c.origin];
  const original = `<div><h5>original path <code>${esc(c.source_path_id.slice(d.id.length + 1))}</code>
      ${src ? `(${esc(src.agent)}, T=${src.temperature}) ${verdictBadge(src.verdict ? src.verdict.verdict : undefined)}` : ""}</h5>
      <pre class="cot">${esc(src ? src.cot : "(source path not in paths.jsonl)")}</pre></div>`;
  const text = `<div><h5>${rewritten ? `${verb} by ${esc(c.model)}` : "CoT as ranked"}</h5><pre class="cot">${esc(c.cot)}</pre></div>`;
  // on_fail: keep_original puts the ranked original back; show what re-verification rejected
  const fallback = c.history.find((h) => h.step === "on_fail");
  const check = [...c.history].reverse().find((h) => h.step === "reverify");
  const rejected = fallback && fallback.rejected_cot != null ? `<p class="note">The ${esc(c.stream)}d CoT failed
      re-verification${check ? ` (${verdictBadge(check.verdict)} ${esc(check.reason || "")})` : ""}; on_fail
      <b>${esc(fallback.action)}</b>: the ranked original is kept.</p>
    <div class="side-by-side">${text.replace("CoT as ranked", "kept: the ranked original")}
      <div><h5>rejected ${esc(c.stream)} output</h5><pre class="cot">${esc(fallback.rejected_cot)}</pre></div></div>` : "";
  const s = c.summary;
  return `<article class="chosen ${c.kept ? "" : "not-kept"}">
    <h4>${esc(c.stream)} stage · <code>${esc(c.id.slice(d.id.length + 1))}</code> · ${esc(c.origin)} · rank ${c.rank}
      ${c.score != null ? ` · ranker score ${c.score}` : ""} · ${c.kept ? "kept" : `<span class="bad">not kept</span>`}</h4>
    <p><b>${rewritten ? "Re-verification" : "Verification"}:</b> ${verdictBadge(c.verdict)} ${esc(c.verify_reason || "")}</p>
    ${rejected || `<div class="${rewritten ? "side-by-side" : ""}">${rewritten ? original : ""}${text}</div>`}
    ${s ? `<p class="summary"><b>Summary</b> (${esc(s.model)}): ${esc(s.summary)}
      <br>${answerMark(s.answer, d.answer)}${s.finish_reason === "length" ? " · <span class=bad>truncated</span>" : ""}</p>`
    : `<p class="muted">No summary.</p>`}
    <p>${c.rows.length ? `In the datasets: ${c.rows.map((v) => `<span class="yes">${esc(v)}</span>`).join(" ")}`
    : `<span class="no">not in the datasets</span>${feeds(d) && feeds(d) !== c.stream
      ? ` <span class="muted">(a ${esc(d.route.tier)} question's rows come from ${esc(feeds(d))})</span>` : ""}`}</p>
    <details><summary>history (${c.history.length} steps)</summary><pre>${esc(JSON.stringify(c.history, null, 1))}</pre></details>
  </article>`;
}

function outcomeHtml(d) {
  const a = d.account;
  const rowsOf = META.variants.map((v) => `<tr><th>${esc(v)}</th><td>${d.rows[v].length
    ? d.rows[v].map((id) => `<code>${esc(id.slice(d.id.length + 1))}</code>`).join("<br>") : "—"}</td></tr>`).join("");
  let status;
  if (!a) status = `<p class="muted">No accounting line (assemble not run?).</p>`;
  else if (a.status === "in_datasets") status = `<p><span class="yes">In the datasets</span>: ${a.rows} row${a.rows === 1 ? "" : "s"} per variant.</p>`;
  else status = `<p><span class="no">Dropped</span>: <b>${esc(a.reason)}</b> ${esc(a.detail || "")}</p>`;
  const cd = a && Object.keys(a.cots_dropped || {}).length
    ? `<p class="muted">CoTs dropped: ${Object.entries(a.cots_dropped).map(([k, n]) => `${esc(k)} ×${n}`).join(", ")}</p>` : "";
  return `${status}${cd}<table class="rows">${rowsOf}</table>`;
}

// The RL stage's groups on this prompt (first and last step, per variant): each completion
// with its answer reward (strict letter = gold) and format reward.
function rolloutsHtml(d) {
  if (!d.rl || !d.rl.length) return "";
  const mark = (x) => (x === undefined || x === null ? "—" : x >= 1 ? `<span class="yes">${x}</span>` : `<span class="no">${x}</span>`);
  const groups = d.rl.map((g) => `<details class="rollout"><summary><b>${esc(g.variant)}</b> · step ${g.step} ·
    ${g.completions.filter((c) => c.answer_reward >= 1).length}/${g.completions.length} right</summary>
    <table class="rows"><tr><th>answer</th><th>format</th><th>completion</th></tr>${g.completions.map((c) =>
      `<tr><td>${mark(c.answer_reward)}</td><td>${mark(c.format_reward)}</td><td><pre>${esc(c.text || "")}</pre></td></tr>`).join("")}
    </table></details>`).join("");
  return `<h3>RL rollouts (${d.rl.length} groups)</h3>${groups}`;
}

function questionHtml(d) {
  const r = d.route;
  const tier = r ? r.tier : "no route";
  const pathsById = new Map(d.paths.map((p) => [p.id, p]));
  const inRows = new Set(Object.values(d.rows).flat());
  const opts = Object.entries(d.options).map(([k, t]) => `<li class="${k === d.answer ? "gold" : ""}">
    <b>${esc(k)}.</b> ${esc(t)}${k === d.answer ? ` <span class="gold-mark">✓ gold</span>` : ""}</li>`).join("");
  const unmatched = d.unmatched ? `<h3>Records matching no path or CoT</h3><pre>${esc(JSON.stringify(d.unmatched, null, 1))}</pre>` : "";
  return `<p class="back"><a href="${esc(lastList)}">← back to the list</a></p>
  <h2>Question <code>${esc(d.id)}</code> ${tierBadge(tier)}</h2>
  <p class="facts">${esc(d.source)} · ${esc(d.split)}${d.source_id ? ` · <code>${esc(d.source_id)}</code>` : ""}
    ${r ? ` · <b>${r.n_error}</b> errors of ${r.n_paths} paths (${r.n_correct} Correct, ${r.n_unparsed} unparsed)` : ""}
    ${r && r.reason ? ` · ${esc(r.reason)}` : ""}</p>
  <div class="qgrid">
    <div class="qtext">
      ${d.context ? `<details><summary>context</summary><p>${esc(d.context)}</p></details>` : ""}
      <p class="stem">${esc(d.question)}</p><ol class="options">${opts}</ol>
    </div>
    <aside class="outcome"><h3>Datasets</h3>${outcomeHtml(d)}</aside>
  </div>
  <h3>Paths (${d.paths.length}) <button type="button" class="toggle-all">expand all</button></h3>
  <div class="paths">${d.paths.map((p) => pathHtml(p, d, inRows)).join("") || "<p class=muted>No paths.</p>"}</div>
  <h3>Chosen CoTs (${d.chosen.length})</h3>
  ${d.chosen.map((c) => chosenHtml(c, d, pathsById)).join("") || `<p class="muted">None: no stage chose a CoT for this question.</p>`}
  ${rolloutsHtml(d)}
  ${unmatched}`;
}

async function renderQuestion(id, s) {
  const token = ++renderToken;
  show("question-view");
  const view = $("#question-view");
  view.innerHTML = `<p class="muted">Loading question ${esc(id)}…</p>`;
  let n = s !== undefined && s !== "" ? parseInt(s, 10) : NaN;
  if (Number.isNaN(n)) {
    await indexDone;
    if (!position.has(id)) throw new Error(`no question with id ${id}`);
    n = Math.floor(position.get(id) / META.questions_per_shard);
  }
  const d = (await loadDetail(n)).find((x) => x.id === id);
  if (token !== renderToken) return; // the user moved on meanwhile
  if (!d) throw new Error(`question ${id} is not in data/q/${String(n).padStart(5, "0")}.js`);
  view.innerHTML = questionHtml(d);
  document.title = `${d.id} · ReasonMed explorer`;
  document.body.dataset.view = "question";
  document.body.dataset.qid = d.id;
  window.scrollTo(0, 0);
}

/* --- the page ----------------------------------------------------------------------- */

function show(id) {
  for (const v of ["list-view", "question-view"]) $(`#${v}`).hidden = v !== id;
  delete document.body.dataset.view;
}

function fail(e) {
  const el = $("#error");
  el.textContent = String(e && e.message ? e.message : e);
  el.hidden = false;
}

function render() {
  $("#error").hidden = true;
  const h = parseHash();
  if (h.q) {
    renderQuestion(h.q, h.s).catch(fail);
  } else {
    renderToken++;
    document.title = "ReasonMed explorer";
    renderList(h);
  }
}

function summaryHtml() {
  const c = META.counts;
  const tiers = Object.entries(META.tier_counts).map(([t, n]) => `${tierBadge(t)} ${fmt(n)}`).join(" ");
  const missing = META.missing.length ? ` · <span class="bad">missing: ${META.missing.map(esc).join(", ")}</span>` : "";
  return `${fmt(c.questions || 0)} questions · ${fmt(c.paths || 0)} paths · ${tiers}
    · ${fmt(c.in_datasets || 0)} in the datasets (${META.variants.map((v) => `${esc(v)} ${fmt(c[`rows_${v}`] || 0)}`).join(", ")} rows)${missing}`;
}

function setupControls() {
  const fill = (id, values) => { $(id).insertAdjacentHTML("beforeend", values.map((v) => `<option>${esc(v)}</option>`).join("")); };
  fill("#f-tier", META.tiers.filter((t) => META.tier_counts[t]));
  fill("#f-source", META.sources);
  fill("#f-agent", META.agents);
  const current = () => {
    const f = {};
    for (const k of FILTERS) f[k] = $(`#f-${k}`).value.trim();
    return f;
  };
  for (const k of FILTERS.slice(1)) $(`#f-${k}`).addEventListener("change", () => { location.hash = hashOf(current()); });
  let timer = 0;
  $("#f-search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { history.replaceState(null, "", hashOf(current())); render(); }, 200);
  });
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); location.hash = hashOf(current()); });
  $("#f-reset").addEventListener("click", () => { location.hash = "#"; });
  $("#list tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-href]");
    if (tr && !e.target.closest("a")) location.hash = tr.dataset.href;
  });
  $("#question-view").addEventListener("click", (e) => {
    const b = e.target.closest(".toggle-all");
    if (!b) return;
    const open = b.textContent === "expand all";
    document.querySelectorAll("#question-view .path").forEach((p) => { p.open = open; });
    b.textContent = open ? "collapse all" : "expand all";
  });
}

async function start() {
  META = await load("meta", 0);
  META.fields.forEach((name, i) => { F[name] = i; });
  $("#summary").innerHTML = summaryHtml();
  setupControls();
  indexDone = loadIndex();
  indexDone.catch(fail);
  window.addEventListener("hashchange", render);
  render();
}

start().catch(fail);

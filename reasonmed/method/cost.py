"""cost: price a run from its token ledgers, and estimate a run before making it.

Method step S9 (docs/method.md section 11.2): the paper calls the EMD pipeline cost-efficient;
the only cost record in the authors' code is the optimizer's token log. Here every LLM
stage writes a ledger (reasonmed/llm/client.py LedgerRow: stage, role, backend, model, devices,
requests, tokens, generate_s, load_s) and this module turns ledger rows into a cost table:

  local backends (hf, vllm)  device-hours = (generate_s + load_s) x devices, priced per
                             GPU-hour; a row whose requests all came from the request cache
                             has no measured time, so its device time is estimated from its
                             tokens and the `throughput` knobs (column `basis` says which)
  API backends (openai)      USD per million prompt / completion tokens, per model name

Estimating a run before making it (no model calls) is reasonmed/ops/estimate.py.

    python -c "from reasonmed.method.cost import fmt; print(fmt(1234.5))"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from reasonmed.core.params import Section

LOCAL = ("hf", "vllm")
TIERS = ("easy", "medium", "difficult")


class ApiPrice(Section):
    prompt_per_m: float  # USD per million prompt tokens
    completion_per_m: float  # USD per million completion tokens


class Throughput(Section):
    prompt_tok_s: float  # per device (prefill)
    completion_tok_s: float  # per device (decode, batched)


class Estimate(Section):
    # Share of questions per EMD tier. Paper: not reported (docs/method.md section 5); ~74% of
    # paths pass verification, so most questions are easy. `--route-stats` overrides.
    tier_shares: dict[Literal["easy", "medium", "difficult"], float]
    # Mean Correct paths per easy / medium question: the ranker scores only those.
    correct_per_question: dict[Literal["easy", "medium"], float]
    # Expected completion tokens = max_tokens x fill; `default` plus per-stage overrides.
    completion_fill: dict[str, float]
    reasons_per_cot: float = 8.0  # other paths' verifier reasons shown to refine/optimize
    sample_questions: int = 200  # questions rendered to measure prompt lengths


class Params(Section):
    gpu_hour_usd: float
    hf_device_hour_usd: float | None = None  # hf device price when not a GPU; None = GPU price
    api_prices: dict[str, ApiPrice] = {}
    default_api_price: ApiPrice
    throughput: dict[Literal["hf", "vllm"], Throughput]
    estimate: Estimate


# --- pricing ledger rows (pure) ------------------------------------------------------


def device_seconds(row: dict, p: Params) -> tuple[float | None, str]:
    """(device-seconds, basis) for a local-backend row; None for API rows.

    basis: "measured" (every request was a model call), "extrapolated" (part came from the
    cache: generate time scaled by requests / model calls), "tokens" (no model call timed:
    all cached, or an estimate; from tokens and the throughput knobs).
    """
    if row["backend"] not in LOCAL:
        return None, "api"
    devices = row.get("devices", 1)
    calls, requests = row.get("model_calls", 0), row.get("requests", 0)
    if calls and row.get("generate_s", 0) > 0:
        gen = row["generate_s"] * requests / calls
        basis = "measured" if calls >= requests else "extrapolated"
        return (gen + row.get("load_s", 0.0)) * devices, basis
    t = p.throughput[row["backend"]]
    return row["prompt_tokens"] / t.prompt_tok_s + row["completion_tokens"] / t.completion_tok_s, "tokens"


def api_price(model: str, p: Params) -> ApiPrice:
    return p.api_prices.get(model, p.default_api_price)


def cost_row(row: dict, p: Params) -> dict:
    dev_s, basis = device_seconds(row, p)
    if dev_s is not None:
        hour = p.hf_device_hour_usd if row["backend"] == "hf" and p.hf_device_hour_usd is not None \
            else p.gpu_hour_usd
        usd = dev_s / 3600 * hour
    else:
        price = api_price(row["model"], p)
        usd = (row["prompt_tokens"] * price.prompt_per_m
               + row["completion_tokens"] * price.completion_per_m) / 1e6
    return {k: row.get(k) for k in ("stage", "role", "backend", "model", "devices", "requests",
                                    "cache_hits", "model_calls", "prompt_tokens",
                                    "completion_tokens")} | {
        "device_hours": None if dev_s is None else round(dev_s / 3600, 6), "basis": basis,
        "usd": round(usd, 6)}


def cost_table(rows: Iterable[dict], p: Params) -> dict:
    """The cost table: one priced row per (stage, role) plus totals by stage and overall."""
    priced = [cost_row(r, p) for r in rows]
    by_stage: dict[str, dict] = {}
    for r in priced:
        s = by_stage.setdefault(r["stage"], {"requests": 0, "prompt_tokens": 0,
                                             "completion_tokens": 0, "device_hours": 0.0,
                                             "usd": 0.0})
        for k in s:
            s[k] += r[k] or 0
    total = {k: sum(s[k] for s in by_stage.values()) for k in
             ("requests", "prompt_tokens", "completion_tokens", "device_hours", "usd")}
    rnd = {"device_hours": 4, "usd": 4}
    for d in [*by_stage.values(), total]:
        for k, n in rnd.items():
            d[k] = round(d[k], n)
    return {"rows": priced, "by_stage": by_stage, "total": total,
            "prices": p.model_dump(exclude={"estimate"})}


def fmt(v: float | int | None) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.2f}" if v >= 1 else f"{v:.4f}"
    return f"{v:,}"


def table_markdown(costs: dict) -> str:
    head = "| stage | role | backend | model | requests | prompt tokens | completion tokens " \
           "| device-hours | basis | USD |\n|---|---|---|---|---|---|---|---|---|---|"
    lines = [head] + [
        f"| {r['stage']} | {r['role']} | {r['backend']} | {r['model']} | {fmt(r['requests'])} "
        f"| {fmt(r['prompt_tokens'])} | {fmt(r['completion_tokens'])} "
        f"| {fmt(r['device_hours'])} | {r['basis']} | {fmt(r['usd'])} |" for r in costs["rows"]]
    t = costs["total"]
    lines.append(f"| **total** | | | | {fmt(t['requests'])} | {fmt(t['prompt_tokens'])} "
                 f"| {fmt(t['completion_tokens'])} | {fmt(t['device_hours'])} | "
                 f"| {fmt(t['usd'])} |")
    pr = costs["prices"]
    hf = pr["hf_device_hour_usd"]
    note = (f"\n\nPrices (params `cost`): GPU-hour ${pr['gpu_hour_usd']}"
            + (f", hf device-hour ${hf}" if hf is not None else "")
            + f"; API default ${pr['default_api_price']['prompt_per_m']} / "
            f"${pr['default_api_price']['completion_per_m']} per million prompt / completion "
            "tokens. Basis: measured = timed model calls; extrapolated = timed calls scaled "
            "to cached requests; tokens = from token counts and the `cost.throughput` knobs "
            "(all requests cached, or an estimate); api = priced per token.")
    return "\n".join(lines) + note



"""The six parts of the GPU check (benchmarks/gpu_check.py). Each part has `plan_N(ctx)`,
which builds every argument object without CUDA (what `--dry-run` reports), and
`run_N(ctx, plan)`, which measures on one GPU and returns {figure, target, met, details}.
`ctx` holds the model folder, the work folder, the seed and the sizes.

    python benchmarks/gpu_check.py --dry-run --only 1,3 --out /tmp/gpu.md
"""

import gc
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `make bench` runs every file here as a script

from benchmarks._tiny import questions  # noqa: E402
from reasonmed.core.conversation import Row  # noqa: E402
from reasonmed.core.params import ModelSpec, RunParams, load, load_run, model_spec  # noqa: E402
from reasonmed.method import sft  # noqa: E402
from reasonmed.method.generation import Params as GenerateParams  # noqa: E402
from reasonmed.method.generation import requests_for  # noqa: E402
from reasonmed.method.verification import Params as VerifyParams  # noqa: E402
from reasonmed.method.verification import parse_verdict, request_for  # noqa: E402

ZERO3 = "configs/accelerate/deepspeed_zero3.yaml"
AGENTS = ["agent1", "agent2", "agent3"]  # one engine plays all three: 9 requests per question
# models.<role>.options as the paper profile sets them (hashed in the pipeline) ...
ENGINE_OPTIONS = {"dtype": "bfloat16", "max_model_len": 2048}
# ... and exec.roles.<role> (placement): stats on, so the prefix-cache counters are kept.
ENGINE_EXEC = {"gpu_memory_utilization": 0.5, "enable_prefix_caching": True,
               "disable_log_stats": False}
ROUNDS = 3


# --- shared -----------------------------------------------------------------------------


def vllm_role(ctx: dict, role: str) -> tuple[ModelSpec, RunParams]:
    spec = ModelSpec(backend="vllm", model=ctx["model"], options=ENGINE_OPTIONS)
    cache = tempfile.mkdtemp(prefix="llm-cache-", dir=ctx["work"])
    return spec, RunParams(seed=ctx["seed"], progress_every_s=1e9, cache=cache,
                           roles={role: ENGINE_EXEC})


def engine_kwargs(ctx: dict) -> dict:
    """What the project's vllm backend hands `vllm.LLM` for these options, as a plain dict."""
    return {"model": ctx["model"], "revision": None, "tensor_parallel_size": 1,
            "enable_prefix_caching": True, "seed": ctx["seed"],
            "structured_outputs_config": {"backend": "guidance"}, **ENGINE_OPTIONS, **ENGINE_EXEC}


def sampling(r) -> dict:
    kw = {"n": 1, "temperature": r.temperature, "top_p": r.top_p, "max_tokens": r.max_tokens,
          "seed": r.seed}
    if r.schema is not None:
        kw["structured_outputs"] = {"json": r.schema}
    return kw


def generate_requests(ctx: dict) -> list:
    """The generate stage's requests: per question its 9 (3 agents x 3 temperatures) in a row."""
    p = GenerateParams(agents=AGENTS, temperatures=[0.7, 0.9, 1.0], top_p=0.9,
                       max_tokens=ctx["max_tokens"], prompt="stages/prompts/generate.md")
    return [r[-1] for q in questions(ctx["questions"]) for a in AGENTS
            for r in requests_for(q, a, p, ctx["seed"])]


def rows(n: int, seed: int) -> list[Row]:
    """Dataset rows of spread lengths (about 60 to 1,100 tokens), so padding costs what it does."""
    text = (ROOT / "assets/corpus.txt").read_text(encoding="utf-8")
    rng, out = random.Random(seed), []
    for i, q in enumerate(questions(n)):
        start, size = rng.randrange(len(text) - 5000), rng.randrange(150, 4500)
        opts = "\n".join(f"{k}. {v}" for k, v in q.options.items())
        out.append(Row(id=str(i), question_id=q.id, instruction=f"{q.question}\n{opts}",
                       output=text[start:start + size] + f"\nFinal answer: {q.answer}"))
    return out


def sft_base(ctx: dict, steps: int, batch: int, max_length: int) -> dict:
    """The paper profile's sft.config, cut to a short run: the fields a GPU profile sets."""
    cfg = dict(yaml.safe_load((ROOT / "configs/paper.yaml").read_text())["sft"]["config"])
    for k in ("num_train_epochs", "save_steps", "save_total_limit"):
        cfg.pop(k, None)
    cfg.update(max_steps=steps, per_device_train_batch_size=batch, gradient_accumulation_steps=1,
               max_length=max_length, save_strategy="no", logging_steps=steps, report_to="none")
    if ctx.get("flash_attn"):  # padding-free batches keep sequences apart only with it
        cfg["model_init_kwargs"] = {"attn_implementation": "flash_attention_2"}
    return cfg


def sft_config_check(kw: dict) -> str:
    """Build the SFTConfig here (CPU switches forced where there is no CUDA): field names and
    TrainingArguments' own checks pass or fail now, not on the GPU."""
    import torch

    sft.make_config(sft.config_kwargs(kw, tempfile.mkdtemp(), 42, torch.cuda.is_available()))
    return "SFTConfig built"


def train(ctx: dict, kw: dict, work: Path, n_rows: int):
    """One SFT run through the project's path (reasonmed/method/sft.py): (res, metrics, facts)."""
    p = sft.Params(config=kw)
    spec = ModelSpec(backend="hf", model=ctx["model"])
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = sft.run(rows(n_rows, ctx["seed"]), p, spec, ctx["seed"], work)
    m, facts = sft.metrics(res, p, spec, time.perf_counter() - t0)
    return res, m, facts


def free_cuda() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():  # a CPU smoke run of the parts' plumbing has none
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# --- part 1: generate on vLLM ------------------------------------------------------------


def plan_1(ctx: dict) -> dict:
    reqs = generate_requests(ctx)
    return {"engine (vllm.LLM kwargs)": engine_kwargs(ctx), "requests": len(reqs),
            "requests per question": len(AGENTS) * 3, "sampling (first request)": sampling(reqs[0])}


def prefix_counters(llm) -> tuple[float, float] | None:
    """(queries, hits) of vLLM's prefix-cache counters, or None where the engine has none."""
    try:
        ms = llm.get_metrics()
    except Exception:  # noqa: BLE001  (older engines)
        return None
    got = {m.name: getattr(m, "value", 0) for m in ms}
    if "vllm:prefix_cache_queries" not in got:
        return None
    return got["vllm:prefix_cache_queries"], got.get("vllm:prefix_cache_hits", 0)


def run_1(ctx: dict, plan: dict) -> dict:
    from reasonmed.llm.client import LLM

    reqs = generate_requests(ctx)
    spec, run = vllm_role(ctx, "agent")
    t0 = time.perf_counter()
    be = LLM("agent", spec, run, stage="gpu-check").backend
    up = time.perf_counter() - t0
    tok = be.llm.get_tokenizer()
    prompts = [tok.apply_chat_template(r.message_dicts(), tokenize=False, add_generation_prompt=True)
               for r in reqs]
    params = [be._params(r) for r in reqs]

    def reset():  # each arm starts cold: its hits come from inside the arm
        if hasattr(be.llm, "reset_prefix_cache"):
            be.llm.reset_prefix_cache()

    def bare(order):
        reset()
        before = prefix_counters(be.llm)
        t = time.perf_counter()
        outs = be.llm.generate([prompts[i] for i in order], [params[i] for i in order],
                               use_tqdm=False)
        s, after = time.perf_counter() - t, prefix_counters(be.llm)
        toks = sum(len(o.outputs[0].token_ids) for o in outs)
        cached = sum(getattr(o, "num_cached_tokens", 0) or 0 for o in outs)
        prompt = sum(len(o.prompt_token_ids or ()) for o in outs)
        hit = ((after[1] - before[1]) / max(1, after[0] - before[0])) if before and after else None
        return toks / s, hit, cached / max(1, prompt)

    def project(k):
        reset()
        fresh = LLM("agent", spec, run.model_copy(update={
            "cache": tempfile.mkdtemp(prefix="llm-cache-", dir=ctx["work"])}),
            stage=f"gpu-check{k}", backend_factory=lambda *_: be)  # a cold request cache
        t = time.perf_counter()
        out = fresh.generate(reqs)
        return sum(c.completion_tokens for c in out) / (time.perf_counter() - t)

    ordered = list(range(len(reqs)))
    shuffled = random.Random(ctx["seed"]).sample(ordered, len(ordered))
    bare(ordered)  # warm-up: first-call allocations and kernels
    ratios, rounds = [], []
    for k in range(ROUNDS):  # which arm goes first alternates: drift biases no arm
        if k % 2:
            b, s = bare(ordered)[0], project(k)
        else:
            s, b = project(k), bare(ordered)[0]
        ratios.append(s / b)
        rounds.append({"project tok/s": round(s), "bare tok/s": round(b)})
    prefix = []
    for k in range(ROUNDS):
        arms = [("ordered", ordered), ("shuffled", shuffled)]
        for name, order in arms[::-1] if k % 2 else arms:
            tps, hit, cached = bare(order)
            prefix.append({"order": name, "tok/s": round(tps), "metrics hit rate": hit,
                           "cached prompt tokens": round(cached, 3)})

    def med(name, key):
        vals = [r[key] for r in prefix if r["order"] == name and r[key] is not None]
        return statistics.median(vals) if vals else None

    ratio = statistics.median(ratios)
    hit_o, hit_s = med("ordered", "metrics hit rate"), med("shuffled", "metrics hit rate")
    cached_o, cached_s = med("ordered", "cached prompt tokens"), med("shuffled", "cached prompt tokens")
    speed = med("ordered", "tok/s") / med("shuffled", "tok/s")
    hits = (f"{hit_o:.0%} ordered vs {hit_s:.0%} shuffled" if hit_o is not None else
            f"(no engine metrics) cached prompt tokens {cached_o:.0%} ordered vs {cached_s:.0%} shuffled")
    return {"figure": f"project/bare tokens/s {ratio:.3f}; prefix-cache hits {hits}; "
                      f"ordered/shuffled tokens/s {speed:.2f}x",
            "target": "ratio >= 0.95", "met": ratio >= 0.95,
            "details": {"engine up (s)": round(up, 1), "paired rounds": rounds,
                        "median round ratio": round(ratio, 3), "prefix rounds": prefix}}


# --- part 2: verify with guided JSON ------------------------------------------------------


def verify_params(ctx: dict) -> VerifyParams:
    return VerifyParams(model="verifier", prompt="stages/prompts/verify.md", temperature=1.0,
                        top_p=0.95, max_tokens=512, reason_max_chars=300)


def verify_requests(ctx: dict) -> list:
    p = verify_params(ctx)
    out = []
    for q in questions(ctx["questions"]):
        for j in range(9):
            cot = (f"Step 1: the vignette ({j}) points to fluid overload. Step 2: leg swelling "
                   f"and dyspnoea fit {q.options['D']}.\nFinal answer: {'DABC'[j % 4]}")
            out.append(request_for(q, cot, ctx["seed"] + j, p, 0))
    return out


def plan_2(ctx: dict) -> dict:
    reqs = verify_requests(ctx)
    return {"engine (vllm.LLM kwargs)": engine_kwargs(ctx), "requests": len(reqs),
            "sampling (first request, with the verifier's schema)": sampling(reqs[0])}


def run_2(ctx: dict, plan: dict) -> dict:
    from reasonmed.llm.client import LLM

    reqs, p = verify_requests(ctx), verify_params(ctx)
    spec, run = vllm_role(ctx, "verifier")
    llm = LLM("verifier", spec, run, stage="gpu-check-verify")
    t0 = time.perf_counter()
    _ = llm.backend
    up, t1 = time.perf_counter() - t0, time.perf_counter()
    comps = llm.generate(reqs)  # first attempts only: the stage's re-asks would hide failures
    s = time.perf_counter() - t1
    failed = 0
    for c in comps:
        try:
            parse_verdict(c.text, p.reason_max_chars)
        except ValueError:  # judging.ParseError
            failed += 1
    toks = sum(c.completion_tokens for c in comps)
    rate = failed / len(comps)
    return {"figure": f"parse failures {failed}/{len(comps)} ({rate:.1%}); {toks / s:,.0f} tokens/s",
            "target": "0 parse failures", "met": failed == 0,
            "details": {"engine up (s)": round(up, 1), "seconds": round(s, 2),
                        "completion tokens": toks,
                        "finish reasons": {f: sum(c.finish_reason == f for c in comps)
                                           for f in ("stop", "length", "error")}}}


# --- part 3: SFT throughput: TRL defaults vs packing / padding-free / Liger ---------------


def sft_variants(ctx: dict) -> dict[str, dict]:
    base = sft_base(ctx, ctx["sft_steps"], 8, 1024)
    # TRL refuses max_length with padding-free and no packing (it would not be enforced)
    out = {"TRL defaults": base, "padding-free": {**base, "padding_free": True, "max_length": None},
           "packing (bfd: padding-free)": {**base, "packing": True}}
    if ctx.get("liger"):
        out["packing + Liger"] = {**base, "packing": True, "use_liger_kernel": True}
    return out


def plan_3(ctx: dict) -> dict:
    v = sft_variants(ctx)
    return {"SFTConfig kwargs": v, "check": {k: sft_config_check(kw) for k, kw in v.items()},
            "liger_kernel": bool(ctx.get("liger")), "flash_attn": bool(ctx.get("flash_attn"))}


def run_3(ctx: dict, plan: dict) -> dict:
    work = Path(ctx["work"]) / "sft-speed"
    variants = sft_variants(ctx)
    res, *_ = train(ctx, {**variants["TRL defaults"], "max_steps": 2, "logging_steps": 2},
                    work / "warm-up", 64)  # CUDA context, cuBLAS handles, allocator
    del res
    table = {}
    for k, (name, kw) in enumerate(variants.items()):
        free_cuda()
        res, m, facts = train(ctx, kw, work / f"variant{k}", 400)
        table[name] = {"tokens/s": facts["tokens_per_s"], "peak GPU MiB": facts.get("peak_cuda_mem_mb"),
                       "train tokens": m["train_tokens"], "steps": m["steps"]}
        del res
    base = table["TRL defaults"]["tokens/s"]
    best = max((k for k in table if k != "TRL defaults"), key=lambda k: table[k]["tokens/s"])
    x = table[best]["tokens/s"] / base
    peak = [table[k]["peak GPU MiB"] or 0 for k in (best, "TRL defaults")]
    return {"figure": f"{best} {x:.2f}x TRL defaults' tokens/s ({table[best]['tokens/s']:,.0f} vs "
                      f"{base:,.0f}); peak {peak[0]:,.0f} vs {peak[1]:,.0f} MiB",
            "target": ">= 1.5x", "met": x >= 1.5, "details": table}


# --- part 4: accelerate launch with the ZeRO-3 config --------------------------------------


def zero3_files(ctx: dict) -> tuple[Path, Path, Path]:
    d = Path(ctx["work"]) / "zero3"
    return d / "data.jsonl", d / "params.yaml", d / "gpu-check-zero3"


def zero3_params(ctx: dict) -> dict:
    paper = yaml.safe_load((ROOT / "configs/paper.yaml").read_text())
    return {"run": {"seed": ctx["seed"], "threads": 0},
            "exec": {"offline": True, "log_level": "INFO"},
            "models": {"student": {"backend": "hf", "model": ctx["model"]}},
            "sft": {**paper["sft"], "config": sft_base(ctx, 6, 4, 512)}}


def plan_4(ctx: dict) -> dict:
    data, params, out = zero3_files(ctx)
    params.parent.mkdir(parents=True, exist_ok=True)
    params.write_text(yaml.safe_dump(zero3_params(ctx), sort_keys=False))
    # the stage's own loaders read the file now, so a bad key fails here, not on the GPU
    load("sft", sft.Params, params), model_spec("student", params), load_run(params)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", ZERO3,
           "--num_processes", "1", "-m", "stages.sft", str(data), str(out), "--params", str(params)]
    return {"command": cmd, "params file": zero3_params(ctx)}


def run_4(ctx: dict, plan: dict) -> dict:
    from importlib.util import find_spec

    if find_spec("deepspeed") is None:  # an extra, not in the gpu lock
        raise RuntimeError("deepspeed is not installed: pip install -e '.[deepspeed]'")
    data, _, out = zero3_files(ctx)
    with open(data, "w", encoding="utf-8") as f:
        for r in rows(64, ctx["seed"]):
            f.write(r.model_dump_json() + "\n")
    log = Path(ctx["work"]) / "zero3.log"
    t = time.perf_counter()
    with open(log, "w") as lf:
        rc = subprocess.run(plan["command"], cwd=ROOT, stdout=lf, stderr=subprocess.STDOUT,
                            timeout=max(10, ctx["budget_s"] - 10)).returncode
    wall = time.perf_counter() - t
    if rc:
        raise RuntimeError(f"accelerate launch exited {rc}: {tail(log)}")
    m = json.loads((out / "metrics.json").read_text())
    runlog = ROOT / "work/runs" / f"sft-{out.name}.json"
    facts = json.loads(runlog.read_text()) if runlog.exists() else {}
    return {"figure": f"{m['steps']} ZeRO-3 steps in {wall:.0f} s (launch included), loss "
                      f"{m['loss_first']} -> {m['loss_last']}, {facts.get('tokens_per_s')} tokens/s",
            "target": "exits 0 and saves a plain checkpoint", "met": (out / "model").is_dir(),
            "details": {"metrics.json": m, "peak GPU MiB": facts.get("peak_cuda_mem_mb"),
                        "saved": sorted(p.name for p in (out / "model").glob("*"))}}


def tail(path: Path, n: int = 1) -> str:
    lines = [x for x in Path(path).read_text(errors="replace").splitlines() if x.strip()]
    return " | ".join(lines[-n:])[-400:] if lines else "(no output)"


# --- part 5: checkpoint reproducibility ----------------------------------------------------

DETERMINISTIC_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


def plan_5(ctx: dict) -> dict:
    kw = sft_base(ctx, 8, 4, 512)
    return {"SFTConfig kwargs": kw, "check": sft_config_check(kw),
            "deterministic arm": {"env": DETERMINISTIC_ENV,
                                  "torch": "use_deterministic_algorithms(True), cudnn.benchmark False"},
            "default arm": {"env": "CUBLAS_WORKSPACE_CONFIG unset", "torch": "defaults"},
            "runs per arm": 2, "compared": "sha256 of the saved *.safetensors"}


def repro_arm(ctx: dict, arm: str) -> dict:
    """Two identical short SFT runs in this process; their checkpoints' digests and speeds."""
    import torch

    if arm == "deterministic":
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    kw, out = sft_base(ctx, 8, 4, 512), {"digests": [], "tokens/s": []}
    for k in range(2):
        free_cuda()
        work = Path(ctx["work"]) / f"repro-{arm}-{k}"
        res, _, facts = train(ctx, kw, work, 64)
        sft.save_model(res["trainer"], res["tokenizer"], ModelSpec(backend="hf", model=ctx["model"]),
                       False, work / "model")
        h = hashlib.sha256()
        for f in sorted((work / "model").glob("*.safetensors")):
            h.update(f.read_bytes())
        out["digests"].append(h.hexdigest())
        out["tokens/s"].append(facts["tokens_per_s"])
        del res
    return out


def run_5(ctx: dict, plan: dict) -> dict:
    got, deadline = {}, time.monotonic() + ctx["budget_s"] - 5
    for arm in ("deterministic", "default"):
        env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
        env.update(DETERMINISTIC_ENV if arm == "deterministic" else {})
        res, log = Path(ctx["work"]) / f"repro-{arm}.json", Path(ctx["work"]) / f"repro-{arm}.log"
        with open(log, "w") as lf:  # CUBLAS_WORKSPACE_CONFIG counts only before CUDA starts
            rc = subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "--repro-arm",
                                 arm, "--ctx", ctx["ctx_file"], "--result", str(res)], cwd=ROOT,
                                env=env, stdout=lf, stderr=subprocess.STDOUT,
                                timeout=max(5, deadline - time.monotonic())).returncode
        if rc:
            raise RuntimeError(f"{arm} arm exited {rc}: {tail(log)}")
        got[arm] = json.loads(res.read_text())
    same = {arm: len(set(g["digests"])) == 1 for arm, g in got.items()}
    # the second run of each arm: the first pays CUDA start-up
    cost = got["deterministic"]["tokens/s"][1] / got["default"]["tokens/s"][1]
    word = {True: "same bytes", False: "different bytes"}
    return {"figure": f"deterministic: {word[same['deterministic']]}; default: "
                      f"{word[same['default']]}; deterministic at {cost:.2f}x the default's tokens/s",
            "target": "deterministic runs: same bytes", "met": same["deterministic"],
            "same_bytes": same["deterministic"], "default_same_bytes": same["default"],
            "details": {arm: {"sha256": [d[:16] for d in g["digests"]], "tokens/s": g["tokens/s"]}
                        for arm, g in got.items()}}


from benchmarks._gpu_rl import plan_6, run_6  # noqa: E402  (part 6: GRPO, its own file)

PLANS = {1: plan_1, 2: plan_2, 3: plan_3, 4: plan_4, 5: plan_5, 6: plan_6}
RUNS = {1: run_1, 2: run_2, 3: run_3, 4: run_4, 5: run_5, 6: run_6}

"""The GPU check: one prepared run on one H100/H200 (about 8 minutes, no downloads) that
measures what the CPU machines cannot, and writes reports/gpu.md.

(1) generate through the project's vLLM backend vs a bare `vllm.LLM.generate` (tokens/s
ratio, target >= 0.95), and prefix caching with each question's 9 requests in a row vs
shuffled (hit rate, tokens/s); (2) verify with the verifier's JSON schema on vLLM (parse
failures, tokens/s); (3) SFT tokens/s and peak GPU memory, TRL defaults vs padding-free /
packing / Liger (target >= 1.5x); (4) `accelerate launch` with the ZeRO-3 config on one GPU;
(5) two identical short SFT runs with deterministic algorithms and two without: same
checkpoint bytes or not, and what determinism costs.

The model is a random-weight Qwen2-shaped causal LM built from a config (~0.5B parameters,
or --size 1.5b) with the tiny models' tokenizer (reasonmed/method/tinymodels.py). Each part
runs in its own process under its own time box, so one that fails or hangs writes its error
line into the report and the others still run. `--dry-run` needs no GPU: it builds every
argument object (vLLM kwargs as plain dicts, SFTConfig kwargs, the accelerate command line,
the model config and its parameter count) and marks each part "not run (dry run)".

    scripts/gpu-check.sh --dry-run --out /tmp/gpu.md
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub access at all
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

from benchmarks import _gpu_parts as parts  # noqa: E402
from benchmarks._gpu_report import render  # noqa: E402

# Per-part time boxes (s): their sum plus the model build stays under 8 minutes.
BUDGETS = {1: 100, 2: 70, 3: 80, 4: 80, 5: 90, 6: 60}  # 480 s: the 8 minutes
# Qwen2 shapes with the tiny tokenizer's ~2k vocabulary: vLLM samples any id below
# vocab_size, so the model's vocabulary is exactly the tokenizer's (every id decodes).
SHAPES = {"0.5b": {"hidden_size": 1024, "intermediate_size": 5504, "num_hidden_layers": 28,
                   "num_attention_heads": 16, "num_key_value_heads": 4},
          "1.5b": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                   "num_attention_heads": 12, "num_key_value_heads": 2}}


def tokenizer():
    from reasonmed.method.tinymodels import train_tokenizer

    return train_tokenizer((ROOT / "assets/corpus.txt").read_text(encoding="utf-8"), 2048,
                           (ROOT / "assets/vocabulary.txt").read_text(encoding="utf-8"))


def model_config(size: str, tok):
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=len(tok), max_position_embeddings=4096, tie_word_embeddings=True,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id, dtype="bfloat16", **SHAPES[size])


def count_parameters(cfg) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):  # shapes only: no memory, no init
        return sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters())


def build_model(cfg, tok, out: Path, seed: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(cfg).to(torch.bfloat16).save_pretrained(out)
    tok.save_pretrained(out)


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for d in ("torch", "transformers", "trl", "accelerate", "deepspeed", "vllm", "liger-kernel",
              "flash-attn"):
        try:
            out[d] = version(d)
        except PackageNotFoundError:
            out[d] = "not installed"
    return out


def device() -> str:
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device"
    return f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}"


def run_child(n: int, ctx: dict, budget: float) -> dict:
    """Part `n` in its own process group, killed with its workers when its time box ends."""
    res, log = Path(ctx["work"]) / f"part{n}.json", Path(ctx["work"]) / f"part{n}.log"
    cmd = [sys.executable, __file__, "--part", str(n), "--ctx", ctx["ctx_file"], "--result", str(res)]
    t0 = time.perf_counter()
    with open(log, "w") as lf:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=lf, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return {"status": "error", "error": f"timed out after {budget:.0f} s "
                    f"(last output: {parts.tail(log)})", "seconds": round(budget)}
    if res.exists():
        return json.loads(res.read_text())
    return {"status": "error", "error": f"exited {proc.returncode}: {parts.tail(log)}",
            "seconds": round(time.perf_counter() - t0, 1)}


def child(n: int, ctx: dict, result: Path) -> None:
    t0 = time.perf_counter()
    try:
        plan = parts.PLANS[n](ctx)
        out = {"status": "ok", "plan": plan, **parts.RUNS[n](ctx, plan)}
    except (Exception, SystemExit) as e:  # make_config stops with SystemExit
        out = {"status": "error", "error": f"{type(e).__name__}: {str(e)[:400]}"}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    result.write_text(json.dumps(out, default=str))


def dry(n: int, ctx: dict) -> dict:
    try:
        return {"status": "not run (dry run)", "plan": parts.PLANS[n](ctx)}
    except (Exception, SystemExit) as e:
        return {"status": "error", "error": f"{type(e).__name__}: {str(e)[:400]}"}


def line(n: int, r: dict) -> str:
    what = r.get("figure") or r.get("error") or r["status"]
    return f"part {n} ({r['status']}, {r.get('seconds', 0)} s): {what}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="build every argument object; no GPU")
    ap.add_argument("--out", default="reports/gpu.md")
    ap.add_argument("--only", default="1,2,3,4,5,6", help="parts to run, e.g. 1,3")
    ap.add_argument("--budget-s", type=float, help="time box of each part (default: per part)")
    ap.add_argument("--size", choices=sorted(SHAPES), default="0.5b")
    ap.add_argument("--questions", type=int, default=32, help="x 9 requests (parts 1, 2)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--sft-steps", type=int, default=12)
    ap.add_argument("--work", help="scratch folder (default: a temporary one)")
    ap.add_argument("--part", type=int, help=argparse.SUPPRESS)  # child process: one part
    ap.add_argument("--repro-arm", help=argparse.SUPPRESS)  # grandchild: one arm of part 5
    ap.add_argument("--ctx", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    os.chdir(ROOT)  # prompt and config paths are the repository's
    if a.part or a.repro_arm:
        ctx = json.loads(Path(a.ctx).read_text())
        if a.part:
            return child(a.part, ctx, Path(a.result))
        return Path(a.result).write_text(json.dumps(parts.repro_arm(ctx, a.repro_arm)))
    chosen = sorted({int(x) for x in a.only.split(",") if x.strip()})
    if not set(chosen) <= set(parts.PLANS):
        ap.error(f"--only takes part numbers {sorted(parts.PLANS)}")
    if not a.dry_run and device() == "no CUDA device":
        sys.exit("no CUDA device: the GPU check needs one GPU (scripts/gpu-check.sh --dry-run "
                 "builds the argument objects without one)")
    work = Path(a.work or tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    tok = tokenizer()
    cfg = model_config(a.size, tok)
    ctx = {"model": str(work / "model"), "work": str(work), "seed": 42, "questions": a.questions,
           "max_tokens": a.max_tokens, "sft_steps": a.sft_steps, "ctx_file": str(work / "ctx.json"),
           "liger": find_spec("liger_kernel") is not None,
           "flash_attn": find_spec("flash_attn") is not None}
    meta = {"mode": "dry run" if a.dry_run else "GPU run", "device": device(),
            "versions": versions(), "size": a.size, "parameters": count_parameters(cfg),
            "model config": {k: v for k, v in cfg.to_dict().items() if k in SHAPES[a.size]
                             or k in ("vocab_size", "tie_word_embeddings", "model_type")},
            "sizes": {k: ctx[k] for k in ("questions", "max_tokens", "sft_steps")},
            "command": "scripts/gpu-check.sh " + " ".join(argv if argv is not None else sys.argv[1:])}
    print(f"{meta['mode']} on {meta['device']}: Qwen2-shaped {meta['parameters'] / 1e9:.2f}B "
          f"parameters, vocabulary {len(tok)}; work folder {work}", flush=True)
    if not a.dry_run:
        t0 = time.perf_counter()
        build_model(cfg, tok, Path(ctx["model"]), ctx["seed"])
        print(f"model built and saved in {time.perf_counter() - t0:.0f} s", flush=True)
    results = {}
    for n in chosen:
        budget = a.budget_s or BUDGETS[n]
        Path(ctx["ctx_file"]).write_text(json.dumps({**ctx, "budget_s": budget}))
        results[n] = dry(n, {**ctx, "budget_s": budget}) if a.dry_run else run_child(n, ctx, budget)
        print(line(n, results[n]), flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # temp paths and the interpreter would make every report differ: show them by role
    text = render(meta, results).replace(sys.executable, "python").replace(str(work), "$WORK")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)  # the model alone is 1-3 GB


if __name__ == "__main__":
    main()

"""Part 6 of the GPU check: GRPO steps through the rl stage's own path (reasonmed/method/rl.py).

The paper profile's `rl` section cut to two steps on one GPU, vLLM colocated in the training
process when vLLM is installed (TRL's `use_vllm: true, vllm_mode: colocate`), otherwise
TRL's own generation; the prompts are the rl stage's rows (the SFT user turn, gold letter,
options) over the check's sample questions, and the rewards are the stage's two terms.

    python benchmarks/gpu_check.py --dry-run --only 6 --out /tmp/gpu.md
"""

import importlib.util
import json
import time
from pathlib import Path

import yaml

from benchmarks._tiny import questions
from reasonmed.core.conversation import Row, to_conversation
from reasonmed.method import rl
from reasonmed.method.assemble import instruction

ROOT = Path(__file__).resolve().parents[1]


def rl_params(ctx: dict) -> rl.Params:
    raw = yaml.safe_load((ROOT / "configs/paper.yaml").read_text())["rl"]
    cfg = {k: v for k, v in raw["config"].items()
           if k not in ("num_train_epochs", "save_steps", "save_total_limit", "warmup_steps")}
    colocate = importlib.util.find_spec("vllm") is not None
    cfg.update(max_steps=2, per_device_train_batch_size=8, gradient_accumulation_steps=1,
               num_generations=8, max_completion_length=128, logging_steps=1, save_strategy="no",
               lr_scheduler_type="constant", use_vllm=colocate)
    if not colocate:
        cfg = {k: v for k, v in cfg.items() if not k.startswith("vllm_")}
    return rl.Params.model_validate({**raw, "launcher": "python", "max_prompts": 16, "config": cfg})


def grpo_rows(n: int) -> list[dict]:
    header = yaml.safe_load((ROOT / "configs/paper.yaml").read_text())["assemble"]["instruction_header"]
    return [{"prompt": to_conversation(Row(instruction=instruction(q, header), output="-"))["prompt"],
             "gold": q.answer, "options": json.dumps(q.options), "question_id": q.id,
             "tier": "difficult"} for q in questions(n)]


def plan_6(ctx: dict) -> dict:
    import torch

    p = rl_params(ctx)
    kw = rl.grpo_kwargs(p, str(Path(ctx["work"]) / "grpo"), ctx["seed"], torch.cuda.is_available())
    rl.make_config(kw)  # GRPOConfig's own checks pass or fail now, not on the GPU
    return {"GRPOConfig kwargs": kw, "check": "GRPOConfig built", "prompts": len(grpo_rows(16)),
            "reward terms": ["answer_reward", "format_reward"], "vllm colocate": p.config["use_vllm"]}


def run_6(ctx: dict, plan: dict) -> dict:
    p = rl_params(ctx)
    t0 = time.perf_counter()
    res = rl.run(grpo_rows(16), p, ctx["model"], ctx["seed"], Path(ctx["work"]) / "grpo")
    m, _, facts = rl.metrics(res, {"prompts": 16}, "gpu")
    secs = time.perf_counter() - t0
    return {"figure": f"{m['steps']} GRPO steps in {facts['train_runtime']:.1f} s of training "
                      f"({secs:.1f} s with the model load; vLLM colocate: {p.config['use_vllm']}); "
                      f"completion length {m['completion_length_last']}",
            "target": "runs on one GPU", "met": m["steps"] == 2, "details": m}

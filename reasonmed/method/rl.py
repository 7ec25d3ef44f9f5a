"""RL after SFT: GRPO on the SFT checkpoint with a verifiable answer reward (beyond the paper).

Not a method step of ReasonMed (docs/deviations.md): each SFT variant's checkpoint
(data/sft/<variant>/model) is trained further with TRL's GRPOTrainer on the collected
training questions the route stage found hard (params `rl.tiers`, default medium and
difficult: hard-sample mining, hardest first), at most `rl.max_prompts` of them. The prompt is
the user turn the SFT data has (assemble's instruction: header, context, stem, lettered
options; reasonmed/core/conversation.py), so the checkpoint sees the format it was trained
on. Rewards (reasonmed/method/rl_reward.py): the strict reader's letter against the gold one
(1/0), plus `format_weight` x a format term (reasoning closed, one firm answer); both are
logged per step. Evaluation items never reach it: collect decontaminates, and the prompts
are checked against the benchmark ids (content hashes) here.

`rl.config` goes to trl.GRPOConfig one-for-one (like `sft.config` to SFTConfig, with its
per-key type check and CPU switches); the stage sets `output_dir` (the checkpoints: work/rl/
<variant>/, not a DVC out, so an interrupted run resumes from the last one), `seed` (run.seed
unless named) and `reward_weights` ([1, format_weight]).

    python -c "from reasonmed.method.rl import Params; print(Params())"
"""

from __future__ import annotations

import csv
import json
import logging
import resource
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveInt, field_validator

from reasonmed.core.conversation import Row, to_conversation
from reasonmed.core.params import Section
from reasonmed.core.records import Question, Route, atomic_path
from reasonmed.method.rl_reward import answer_reward, format_reward
from reasonmed.method.rl_rollouts import Rollouts
from reasonmed.method.sft import build_config, config_kwargs, step_progress, type_errors

log = logging.getLogger("reasonmed.rl")

Tier = Literal["easy", "medium", "difficult"]
# curves.csv (a DVC plot): column -> the key GRPOTrainer logs it under
CURVES = {"step": "step", "reward": "reward", "reward_std": "reward_std",
          "answer_reward": "rewards/answer_reward/mean",
          "format_reward": "rewards/format_reward/mean", "kl": "kl",
          "completion_length": "completions/mean_length",
          "clipped_ratio": "completions/clipped_ratio", "loss": "loss",
          "learning_rate": "learning_rate"}


class Params(Section):
    # SFT variants continued from (dvc.yaml: one `rl@<variant>` stage each)
    variants: list[str] = Field(default_factory=lambda: ["reasonmed", "cotmed", "responsemed"])
    tiers: list[Tier] = Field(default_factory=lambda: ["medium", "difficult"])
    max_prompts: PositiveInt | None = None  # None: every question of those tiers
    format_weight: NonNegativeFloat = Field(0.0, le=1.0)  # weight of format_reward (answer: 1)
    launcher: str = "python"  # what runs `-m stages.rl` (like sft.launcher)
    config: dict[str, Any] = Field(default_factory=dict)  # trl.GRPOConfig kwargs, one-for-one

    @field_validator("config")
    @classmethod
    def _owned(cls, v: dict[str, Any]) -> dict[str, Any]:
        if "reward_weights" in v:
            raise ValueError("reward_weights is set by the stage from rl.format_weight")
        return v


# --- configuration -------------------------------------------------------------------


def make_config(kw: dict[str, Any]):
    """trl.GRPOConfig(**kw); an unknown or ill-typed field fails naming `rl.config.<key>`,
    one line per key."""
    from trl import GRPOConfig

    return build_config(GRPOConfig, kw, "rl")


def config_problems(path: str, raw: dict) -> list[str]:
    """The pre-flight's lines for `rl.config` (reasonmed/ops/check.py): trl.GRPOConfig built
    the way the stage builds it (CPU switches on), one line per bad key."""
    import tempfile

    from trl import GRPOConfig

    rl = raw.get("rl") or {}
    if "config" not in rl:
        return []
    logging.getLogger("reasonmed.sft").setLevel(logging.ERROR)  # "no CUDA; forcing": a run's
    wrong = type_errors(GRPOConfig, dict(rl["config"] or {}))  # the types as written
    if wrong:
        return [f"{path}: rl.config.{k}: {m}" for k, m in wrong]
    p = Params(**{k: v for k, v in rl.items() if k in Params.model_fields})
    seed = int((raw.get("run") or {}).get("seed", 42))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            make_config(grpo_kwargs(p, tmp, seed, has_cuda=False))
        except SystemExit as e:
            head, *rest = str(e.code).splitlines()
            return [f"{path}: {r.strip()}" for r in rest] or [f"{path}: {head}"]
    return []


def grpo_kwargs(p: Params, output_dir: str, seed: int, has_cuda: bool) -> dict[str, Any]:
    return {**config_kwargs(p.config, output_dir, seed, has_cuda),
            "reward_weights": [1.0, p.format_weight]}


# --- prompts ---------------------------------------------------------------------------


def prompts(questions: Iterable[Question], routes: Iterable[Route], p: Params, header: str,
            held_out: set[str] = frozenset()) -> tuple[list[dict], dict[str, Any]]:
    """(GRPO rows {prompt, gold, options, question_id, tier}, counts): the questions of
    `p.tiers`, hardest (most Error verdicts) first, then by id; at most `p.max_prompts`."""
    from reasonmed.method.assemble import instruction

    route = {r.question_id: r for r in routes}
    picked = []
    for q in questions:
        r = route.get(q.id)
        if r is not None and r.tier in p.tiers:
            picked.append((-r.n_error, q.id, q, r.tier))
    picked.sort(key=lambda t: t[:2])
    leaked = sorted({q.id for _, _, q, _ in picked} & held_out)
    if leaked:  # collect decontaminates; a benchmark item here is a wiring error
        raise SystemExit(f"rl: {len(leaked)} prompt(s) are benchmark items: {leaked[:5]}")
    rows = [{"prompt": to_conversation(Row(instruction=instruction(q, header), output="-"))
             ["prompt"], "gold": q.answer, "options": json.dumps(q.options),
             "question_id": q.id, "tier": tier}
            for _, _, q, tier in picked[:p.max_prompts]]
    return rows, {"candidates": len(picked), "prompts": len(rows),
                  "by_tier": dict(Counter(r["tier"] for r in rows))}


def benchmark_ids(folder: Path) -> set[str]:
    """The ids of every normalised benchmark item (data/benchmarks/<name>.jsonl)."""
    ids = set()
    for f in sorted(folder.glob("*.jsonl")):
        if not f.name.endswith(".rejects.jsonl"):
            with open(f, encoding="utf-8") as fh:
                ids.update(json.loads(line)["id"] for line in fh if line.strip())
    return ids


def prepare_work(work: Path, key: dict[str, Any]) -> None:
    """Keep `work`'s checkpoints only when they come from the same run (params, seed, SFT
    checkpoint): a resumed run must continue that run, never an edited one."""
    import shutil

    mark, text = work / "run.json", json.dumps(key, sort_keys=True, default=str)
    if work.is_dir() and (not mark.exists() or mark.read_text(encoding="utf-8") != text):
        log.info("rl: %s holds another run's checkpoints; starting afresh", work)
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    mark.write_text(text, encoding="utf-8")


# --- training ------------------------------------------------------------------------


def run(rows: list[dict], p: Params, model: str, seed: int, work: Path,
        every_s: float = 10.0, rollouts: Rollouts | None = None) -> dict[str, Any]:
    """GRPO on `rows` from the checkpoint `model`; checkpoints under `work` (resumed from the
    last one there); `rollouts` records every scored group. {trainer, result, resumed_from}."""
    import datasets
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOTrainer

    datasets.disable_progress_bars()
    # GRPOTrainer toggles the (off) gradient checkpointing around each generation through
    # transformers 5's deprecated names: three warnings per step, nothing to act on
    warnings.filterwarnings("ignore", r".*gradient_checkpointing", FutureWarning)
    if not rows:
        raise SystemExit(f"rl: no prompts in tiers {p.tiers}")
    cfg = make_config(grpo_kwargs(p, str(work), seed, torch.cuda.is_available()))
    tok = AutoTokenizer.from_pretrained(model)
    funcs = [answer_reward, format_reward]
    trainer = GRPOTrainer(model=model, args=cfg, train_dataset=Dataset.from_list(rows),
                          reward_funcs=[rollouts.wrap(f) for f in funcs] if rollouts else funcs,
                          processing_class=tok)
    if rollouts:
        rollouts.step = lambda: trainer.state.global_step
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(step_progress(f"rl[{Path(model).parent.name}]", every_s))
    resume = get_last_checkpoint(str(work)) if work.is_dir() else None
    if resume:
        log.info("rl: resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=resume)
    return {"trainer": trainer, "result": result, "resumed_from": resume}


# --- reporting -----------------------------------------------------------------------


def curve_rows(log_history: list[dict]) -> list[dict]:
    """One row per logged training step (the summary entry has no `reward`)."""
    return [{c: h.get(k) for c, k in CURVES.items()} for h in log_history if "reward" in h]


def write_curves(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(CURVES))
        w.writeheader()
        w.writerows(rows)


def _r(v):
    return round(v, 4) if isinstance(v, float) else v


def metrics(res: dict[str, Any], counts: dict, variant: str) -> tuple[dict, dict, dict]:
    """(metrics.json: reward/KL/length first and last, stats.json: counts and the config,
    run facts: how long and on what it ran)."""
    trainer, rows = res["trainer"], curve_rows(res["trainer"].state.log_history)
    first, last = (rows[0], rows[-1]) if rows else ({}, {})
    m = {"variant": variant, "steps": trainer.state.global_step,
         **{f"{k}_{w}": _r(r.get(k)) for k in ("reward", "answer_reward", "format_reward",
                                               "kl", "completion_length")
            for w, r in (("first", first), ("last", last))}}
    args = trainer.args
    stats = {**m, **counts, "num_generations": args.num_generations,
             "max_completion_length": args.max_completion_length, "beta": args.beta,
             "reward_weights": list(args.reward_weights or []),
             "train_loss": _r(res["result"].training_loss)}
    facts = {"train_runtime": round(res["result"].metrics.get("train_runtime", 0.0), 2),
             "resumed_from": res["resumed_from"], "device": str(args.device),
             "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    return m, stats, facts

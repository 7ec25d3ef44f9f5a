"""The groups GRPO scores: each prompt's completions with every reward term, by step.

GRPOTrainer calls each reward function once per generation batch with the completions and
the dataset's columns; `Rollouts.wrap` records what each function returned (the values are
passed through untouched, so training is the same with or without it). Records go to one
file per (step, reward) under the run's work folder as training goes, so a run resumed from
a checkpoint still has the groups of the steps before it, and a step redone after a kill
overwrites its file with the same bytes. `gather` then keeps the first and the last step's
groups for the stage's samples.jsonl (the explorer's "RL rollouts" on each prompt).

    python -c "from reasonmed.method.rl_rollouts import gather; print(gather([]))"
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reasonmed.core.records import atomic_path
from reasonmed.method.rl_reward import text_of


class Rollouts:
    def __init__(self, folder: Path):
        self.folder = folder
        self.step: Callable[[], int] = lambda: 0  # set to the trainer's global step

    def wrap(self, fn: Callable[..., list[float]]) -> Callable[..., list[float]]:
        def reward(completions, **kw):
            values = fn(completions, **kw)
            self._record(fn.__name__, completions, kw.get("question_id"), values)
            return values

        reward.__name__ = fn.__name__  # TRL logs each term under its function's name
        return reward

    def _record(self, name: str, completions, ids, values) -> None:
        ids = list(ids) if isinstance(ids, (list, tuple)) else [ids] * len(completions)
        step = int(self.step())
        rows = [{"step": step, "question_id": q, "text": text_of(c), "value": v}
                for q, c, v in zip(ids, completions, values)]
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.folder / f"{step:07d}-{name}.json") as tmp:
            Path(tmp).write_text(json.dumps(rows, sort_keys=True), encoding="utf-8")

    def records(self) -> list[dict]:
        """Every recorded completion: {step, question_id, text, <reward name>: value}."""
        by_key: dict[tuple, dict] = {}
        for f in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else ():
            name = f.stem.split("-", 1)[1]
            for i, r in enumerate(json.loads(f.read_text(encoding="utf-8"))):
                row = by_key.setdefault((r["step"], i), {k: r[k] for k in ("step", "question_id", "text")})
                row[name] = r["value"]
        return [by_key[k] for k in sorted(by_key)]


def gather(records: Iterable[dict]) -> list[dict]:
    """The groups of the first and the last recorded step: one row per (step, prompt), its
    completions in generation order with each reward term."""
    records = list(records)
    if not records:
        return []
    keep = {min(r["step"] for r in records), max(r["step"] for r in records)}
    groups: dict[tuple, dict] = {}
    for r in records:
        if r["step"] in keep:
            g = groups.setdefault((r["step"], r["question_id"]),
                                  {"step": r["step"], "question_id": r["question_id"], "completions": []})
            g["completions"].append({k: v for k, v in r.items() if k not in ("step", "question_id")})
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0], str(k[1])))]


def write_samples(path: Path, groups: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text("".join(json.dumps(g, sort_keys=True) + "\n" for g in groups),
                             encoding="utf-8")

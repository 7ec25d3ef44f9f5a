# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Explore evaluation predictions
#
# Per-item predictions of every evaluated model (the base model and each SFT variant):
# where the strict and the HuatuoGPT-style extractors disagree, and what the model wrote.
# Run after `make repro`.

# %%
import json
from pathlib import Path

import pandas as pd

ROOT = Path.cwd() if (Path.cwd() / "dvc.yaml").exists() else Path.cwd().parent
EVAL = ROOT / "data/evaluate"
preds = pd.concat([pd.read_json(f, lines=True).assign(model=f.parent.name)
                   for f in sorted(EVAL.glob("*/predictions.jsonl"))], ignore_index=True)
print(preds.shape)
print(preds.columns.tolist())

# %% [markdown]
# Accuracy per model and benchmark under both metrics (the bootstrap CIs are in
# `data/evaluate/<model>/metrics.json`).

# %%
print(preds.pivot_table(index="model", columns="benchmark", values="strict_correct",
                        aggfunc="mean").round(3))
for f in sorted(EVAL.glob("*/metrics.json")):
    total = json.loads(f.read_text())["total"]["micro"]
    print(f.parent.name, "strict", total["strict_acc"], "huatuo", total["huatuo_acc"])

# %% [markdown]
# Items the lenient extractor counts right but the strict one does not: usually outputs
# that never state an answer.

# %%
lenient = preds[(~preds["strict_correct"]) & (preds["huatuo_first_correct"] | preds["huatuo_last_correct"])]
print(len(lenient), "items")
for _, r in lenient.head(3).iterrows():
    print(r["model"], r["benchmark"], "gold", r["gold"], "|", str(r["output"])[:200].replace("\n", " "))

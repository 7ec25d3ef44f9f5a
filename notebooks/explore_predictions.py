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
# Run after `make repro` (as a script it draws to work/notebooks/*.png).

# %%
import json
import os
import sys
from pathlib import Path

import matplotlib

if not os.environ.get("DISPLAY") and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # a script without a display: draw to files
import matplotlib.pyplot as plt
import pandas as pd

ROOT = Path.cwd() if (Path.cwd() / "dvc.yaml").exists() else Path.cwd().parent
FIGS = ROOT / "work/notebooks"
FIGS.mkdir(parents=True, exist_ok=True)
EVAL = ROOT / "data/evaluate"
preds = pd.concat([pd.read_json(f, lines=True).assign(model=f.parent.name)
                   for f in sorted(EVAL.glob("*/predictions.jsonl"))], ignore_index=True)
print(preds.shape)
print(preds.columns.tolist())

# %% [markdown]
# Accuracy per model and benchmark under both metrics (the bootstrap CIs are in
# `data/evaluate/<model>/results.json`).

# %%
print(preds.pivot_table(index="model", columns="benchmark", values="strict_correct",
                        aggfunc="mean").round(3))
for f in sorted(EVAL.glob("*/results.json")):
    total = json.loads(f.read_text())["total"]["micro"]
    print(f.parent.name, "strict", total["strict_acc"], "huatuo", total["huatuo_acc"])
acc = preds.pivot_table(index="benchmark", columns="model", values="strict_correct", aggfunc="mean")
ax = acc.plot.bar(figsize=(9, 3.5), rot=0, ylim=(0, 1), title="strict accuracy per benchmark")
ax.figure.tight_layout()
ax.figure.savefig(FIGS / "accuracy.png", dpi=100)
plt.show()

# %% [markdown]
# Items the lenient extractor counts right but the strict one does not: usually outputs
# that never state an answer.

# %%
lenient = preds[(~preds["strict_correct"]) & (preds["huatuo_first_correct"] | preds["huatuo_last_correct"])]
print(len(lenient), "items")
for _, r in lenient.head(3).iterrows():
    print(r["model"], r["benchmark"], "gold", r["gold"], "|", str(r["output"])[:200].replace("\n", " "))

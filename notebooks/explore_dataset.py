# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Explore the assembled datasets
#
# The three SFT variants (ReasonMed, CoTMed, ResponseMed) share rows and questions; the
# Parquet files carry every row's provenance. Run after `make repro`; open as a notebook
# with `jupytext --to notebook notebooks/explore_dataset.py`, or run it as a script
# (headless: the pictures go to work/notebooks/*.png).

# %%
import os
import sys
from pathlib import Path

import matplotlib

if not os.environ.get("DISPLAY") and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # a script without a display: draw to files
import matplotlib.pyplot as plt
import pandas as pd

ROOT = Path.cwd() if (Path.cwd() / "dvc.yaml").exists() else Path.cwd().parent
DATA = ROOT / "data/assemble/datasets"
FIGS = ROOT / "work/notebooks"
FIGS.mkdir(parents=True, exist_ok=True)


def show(fig, name):
    fig.tight_layout()
    fig.savefig(FIGS / f"{name}.png", dpi=100)
    plt.show()
df = pd.read_parquet(DATA / "reasonmed.parquet")
print(df.shape)
print(df.columns.tolist())

# %% [markdown]
# The pictures to look at first: questions per difficulty tier, the verifier's pass rate
# by agent and temperature, and CoT lengths per agent.

# %%
routes = pd.read_json(ROOT / "data/route/routes.jsonl", lines=True)
verdicts = pd.read_json(ROOT / "data/verify/verdicts.jsonl", lines=True)
paths = pd.read_json(ROOT / "data/generate/paths.jsonl", lines=True)
fig, ax = plt.subplots(1, 3, figsize=(13, 3.5))
routes["tier"].value_counts().reindex(["easy", "medium", "difficult"]).fillna(0).plot.bar(
    ax=ax[0], title="questions per tier", rot=0)
(verdicts.assign(ok=verdicts["verdict"] == "Correct", temperature=verdicts["temperature"].round(2))
 .pivot_table(index="agent", columns="temperature", values="ok", aggfunc="mean")
 .plot.bar(ax=ax[1], title="verifier pass rate", rot=0, ylim=(0, 1)))
for agent, g in paths.groupby("agent"):
    ax[2].hist(g["completion_tokens"], bins=20, alpha=0.5, label=agent)
ax[2].set(title="CoT length (tokens)", xlabel="completion tokens")
ax[2].legend()
show(fig, "dataset_overview")

# %% [markdown]
# Rows per source and tier, and where each CoT came from (ranked original, refined,
# optimized).

# %%
print(pd.crosstab(df["source"], df["tier"], margins=True))
print(df["origin"].value_counts())

# %% [markdown]
# One row as the released format shows it (instruction / input / output).

# %%
row = df.iloc[0]
print(row["instruction"][:800])
print("---")
print(row["output"][:800])

# %% [markdown]
# The same question in the three variants: identical instruction, different targets.

# %%
variants = {v: pd.read_json(DATA / f"{v}.jsonl", lines=True) for v in
            ("reasonmed", "cotmed", "responsemed")}
qid = df["question_id"].iloc[0]
for name, v in variants.items():
    print(name, "|", v.loc[v["question_id"] == qid, "output"].iloc[0][:200].replace("\n", " "))
assert all(len(v) == len(df) for v in variants.values())

# %% [markdown]
# Accounting: every collected question is either in the datasets or dropped with a reason.

# %%
acc = pd.read_json(ROOT / "data/assemble/accounting.jsonl", lines=True)
print(acc["status"].value_counts())
print(acc.loc[acc["status"] != "in_datasets", ["question_id", "tier", "reason"]].head(10))

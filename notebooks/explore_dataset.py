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
# with `jupytext --to notebook notebooks/explore_dataset.py` or run it as a script.

# %%
from pathlib import Path

import pandas as pd

ROOT = Path.cwd() if (Path.cwd() / "dvc.yaml").exists() else Path.cwd().parent
DATA = ROOT / "data/assemble/datasets"
df = pd.read_parquet(DATA / "reasonmed.parquet")
print(df.shape)
print(df.columns.tolist())

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

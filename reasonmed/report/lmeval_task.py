"""The helper module every lm-eval task folder of the lmeval stage carries as its utils.py (a
verbatim copy of this file; the task YAMLs name its functions with `!function utils.<name>`).

- `load_docs`: the task's items, from the JSONL file beside the copy (lm-eval resolves a
  `dataset_kwargs.data_files` path against the working directory, not the YAML's folder, so
  a relative path would break outside the repository root; `custom_dataset` is called with
  the task's `metadata` and `dataset_kwargs` as keyword arguments).
- `strict_letters`: the `strict` filter: the project's strict reader
  (reasonmed/method/answers.py), exactly what the evaluate stage scores, so the folder runs
  where the project is importable (its environment; `pip install -e .` or PYTHONPATH).
- `process_results`: one item's accuracy: the letter a filter read equals the gold letter
  (lm-eval's hub-loaded `exact_match` would need the network).

    python -c "import reasonmed.report.lmeval_task as t; print(t.process_results({'gold': 'B'}, ['B']))"
"""

from __future__ import annotations

import json
from pathlib import Path

NO_ANSWER = "[invalid]"  # lm-eval's regex filter's fallback: the same word for "no letter read"


def load_docs(data_file: str, **_):
    from datasets import Dataset, DatasetDict

    lines = (Path(__file__).parent / data_file).read_text(encoding="utf-8").splitlines()
    return DatasetDict({"test": Dataset.from_list([json.loads(line) for line in lines if line])})


def strict_letters(resps, docs):
    """lm-eval filter: each response's letter by the strict reader, or NO_ANSWER."""
    try:
        from reasonmed.method.answers import extract
    except ImportError as e:  # lm_eval run from an environment without the project
        raise ImportError("the `strict` filter is the ReasonMed project's reader: run lm_eval where "
                          "`import reasonmed` works (the project's venv, or PYTHONPATH=<repo>)") from e
    out = []
    for rs, doc in zip(resps, docs):
        options = dict(zip(doc["letters"], doc["texts"]))
        out.append([extract(r, options, "strict") or NO_ANSWER for r in rs])
    return out


def process_results(doc, results):
    return {"acc": float(results[0] == doc["gold"])}

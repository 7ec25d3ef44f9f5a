"""lm-evaluation-harness task folders for the benchmarks: the evaluate stage's items, prompt
and decoding, so lm-eval reads a model's accuracy on exactly the items the project scores.

For each benchmark of params `benchmarks`, OUT/<name>/ holds
  <name>.jsonl               the items evaluate draws (same `limit` per column, same seeded
                             sample, file order), each with its rendered user turn (`prompt`:
                             evaluate's request_for, so header, PubMedQA abstract, stem,
                             "A. text" lines and the strict suffix), option letters and texts,
                             the gold letter and its index
  reasonmed_<name>.yaml      generate_until (the protocol of record): the model answers with
                             evaluate's max_tokens, temperature and top_p, stopping only at EOS;
                             two filters read the letter: `strict` (the project's strict reader:
                             evaluate's strict_acc) and `regex` (lm-eval's regex filter on
                             `lmeval.regex`: the naive reading of "The answer is X")
  reasonmed_<name>_mc.yaml   multiple_choice: the loglikelihood of each letter after the
                             assistant turn opens with `lmeval.mc_prefix` (no reasoning)
  utils.py                   a copy of reasonmed/report/lmeval_task.py (loader, filter, scorer)
and OUT/ the groups reasonmed.yaml and reasonmed_mc.yaml (micro averages over the
benchmarks, as evaluate's totals), README.md (how to run it) and stats.json. No hub access:
the items are local files. How the numbers compare: docs/evaluation.md, "lm-evaluation-harness".

    python -m stages.lmeval data/benchmarks /tmp/lmeval --params params.yaml
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml
from pydantic import ValidationError, field_validator

from reasonmed.core.params import Section, read_params, trace
from reasonmed.core.prompting import load_prompt
from reasonmed.core.records import JsonlWriter, Question
from reasonmed.method import evaluate
from reasonmed.report import lmeval_task

PREFIX = "reasonmed"  # task names: reasonmed_<benchmark>[_mc]; groups: reasonmed, reasonmed_mc
# The evaluate keys the tasks carry: the prompt and the decoding (dvc.yaml lists them).
EVAL_KEYS = ("prompt", "strict_prompt", "temperature", "top_p", "max_tokens")


class Params(Section):
    # The naive reader's pattern (filter `regex`, last match): one group, the letter.
    regex: str = r"The answer is \(?([A-Z])\b"
    # The multiple_choice variant's opening of the assistant turn; each letter is scored after it.
    mc_prefix: str = "The answer is"

    @field_validator("regex")
    @classmethod
    def _one_group(cls, v: str) -> str:
        if re.compile(v).groups != 1:
            raise ValueError("needs exactly one capture group (the letter)")
        return v


class _Fn(str):
    """A YAML `!function` scalar (lm-eval's tag for a callable in the task folder)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Fn, lambda d, v: d.represent_scalar("!function", str(v)))


def dump(obj: dict, head: str = "") -> str:
    body = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
    return head + body


def protocol(params_path: str) -> evaluate.Params:
    """evaluate's prompt and decoding (EVAL_KEYS), validated by evaluate's own schema."""
    ev = read_params(params_path).get("evaluate") or {}
    for k in EVAL_KEYS:
        trace(f"evaluate.{k}")
    try:
        return evaluate.Params.model_validate({"models": {}, **{k: ev[k] for k in EVAL_KEYS if k in ev}})
    except ValidationError as e:
        raise SystemExit(f"{params_path}: evaluate: {e}") from None


def doc_of(column: str, q: Question, ev: evaluate.Params) -> dict:
    """One item as the task reads it; `prompt` is the user turn evaluate sends."""
    (_, user), = evaluate.request_for(q, ev, 0).messages
    letters = "".join(q.options)
    return {"id": q.id, "column": column, "source_id": q.source_id, "prompt": user,
            "letters": letters, "texts": list(q.options.values()), "choices": list(letters),
            "gold": q.answer, "gold_index": letters.index(q.answer)}


def generation_kwargs(ev: evaluate.Params) -> dict:
    # `until: []`: stop at EOS only (lm-eval's default would stop at a blank line).
    gen = {"until": [], "max_gen_toks": ev.max_tokens}
    if ev.temperature > 0:
        return {**gen, "do_sample": True, "temperature": ev.temperature, "top_p": ev.top_p}
    return {**gen, "do_sample": False, "temperature": 0.0}


def tasks_of(name: str, ev: evaluate.Params, p: Params, prompt_hash: str) -> dict[str, dict]:
    """file name -> task config, for one benchmark."""
    common = {"custom_dataset": _Fn("utils.load_docs"), "dataset_kwargs": {"data_file": f"{name}.jsonl"},
              "test_split": "test", "doc_to_text": "{{prompt}}"}
    meta = {"version": 1.0, "prompt_hash": prompt_hash}
    gen = {"task": f"{PREFIX}_{name}", **common, "output_type": "generate_until",
           "doc_to_target": "{{gold}}", "generation_kwargs": generation_kwargs(ev),
           "process_results": _Fn("utils.process_results"),
           "filter_list": [
               {"name": "strict", "filter": [{"function": "custom", "filter_fn": _Fn("utils.strict_letters")},
                                             {"function": "take_first"}]},
               {"name": "regex", "filter": [{"function": "regex", "regex_pattern": p.regex,
                                             "group_select": -1, "fallback": lmeval_task.NO_ANSWER},
                                            {"function": "take_first"}]}],
           "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
           "metadata": meta}
    mc = {"task": f"{PREFIX}_{name}_mc", **common, "output_type": "multiple_choice",
          "doc_to_choice": "{{choices}}", "doc_to_target": "{{gold_index}}", "gen_prefix": p.mc_prefix,
          "target_delimiter": " ",
          "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
          "metadata": meta}
    return {f"{PREFIX}_{name}.yaml": gen, f"{PREFIX}_{name}_mc.yaml": mc}


def groups_of(names: list[str]) -> dict[str, dict]:
    """The two groups: micro averages over every item, as evaluate's total micro accuracy."""
    def group(suffix: str, filters: list[str]) -> dict:
        return {"group": f"{PREFIX}{suffix}", "task": [f"{PREFIX}_{n}{suffix}" for n in names],
                "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": True,
                                           "filter_list": filters}],
                "metadata": {"version": 1.0}}
    return {f"{PREFIX}.yaml": group("", ["strict", "regex"]), f"{PREFIX}_mc.yaml": group("_mc", ["none"])}


HEAD = ("# Written by the lmeval stage (python -m stages.lmeval): the evaluate stage's items, prompt\n"
        "# ({prompt}, hash {hash}) and decoding. Do not edit: rerun the stage.\n")


def write(folder: str, out: Path, p: Params, params_path: str, seed: int) -> dict:
    """Every benchmark's task folder, the groups and the README; returns stats.json."""
    ev = protocol(params_path)
    prompt = load_prompt(ev.prompt)
    items, sources = evaluate.load_items(params_path, folder, seed)
    names = list(sources)
    head = HEAD.format(prompt=ev.prompt, hash=prompt.hash)
    stats: dict = {"benchmarks": {}, "prompt": ev.prompt, "prompt_hash": prompt.hash,
                   "generation_kwargs": generation_kwargs(ev)}
    code = Path(lmeval_task.__file__).read_text(encoding="utf-8")
    for name in names:
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        mine = [(col, q) for b, col, q in items if b == name]
        with JsonlWriter(d / f"{name}.jsonl") as w:
            w.write_all(doc_of(col, q, ev) for col, q in mine)
        for fname, cfg in tasks_of(name, ev, p, prompt.hash).items():
            (d / fname).write_text(dump(cfg, head), encoding="utf-8")
        (d / "utils.py").write_text(code, encoding="utf-8")
        stats["benchmarks"][name] = {"items": len(mine), "columns": dict(Counter(c for c, _ in mine)),
                                     "tasks": [f"{PREFIX}_{name}", f"{PREFIX}_{name}_mc"]}
    for fname, cfg in groups_of(names).items():
        (out / fname).write_text(dump(cfg, head), encoding="utf-8")
    (out / "README.md").write_text(readme(names, ev, p, prompt.hash), encoding="utf-8")
    stats["items"] = sum(b["items"] for b in stats["benchmarks"].values())
    return stats


def readme(names: list[str], ev: evaluate.Params, p: Params, prompt_hash: str) -> str:
    first = names[0]
    return f"""# lm-evaluation-harness tasks (written by the lmeval stage: do not edit)

The evaluate stage's benchmark items, prompt (`{ev.prompt}`, hash `{prompt_hash}`) and
decoding (max {ev.max_tokens} new tokens, temperature {ev.temperature}, top_p {ev.top_p}), as
lm-eval tasks that run offline (the items are the `.jsonl` files here):

- `{PREFIX}_<benchmark>` (generate_until): `acc,strict` is the project's strict reader
  (evaluate's `strict_acc`); `acc,regex` is lm-eval's regex filter (the last "The answer is X").
- `{PREFIX}_<benchmark>_mc` (multiple_choice): the likeliest letter after "{p.mc_prefix}", no
  reasoning.
- `{PREFIX}`, `{PREFIX}_mc`: the groups, micro averages over every item.

Benchmarks: {", ".join(f"`{n}`" for n in names)}. Run from the repository root, in the
project's environment (the `strict` filter imports `reasonmed`):

```bash
HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 lm_eval --model hf \\
  --model_args pretrained=models/agent1,dtype=float32,add_bos_token=False \\
  --include_path data/lmeval --tasks {PREFIX}_{first} --apply_chat_template --batch_size 1
```

`--apply_chat_template` sends the user turn through the tokenizer's chat template with no
system prompt, as evaluate does; `add_bos_token=False` encodes the templated text as evaluate
does (no extra BOS). Sampled decoding (temperature > 0) draws from another RNG than
evaluate's seeded sampler: compare greedy runs (`--gen_kwargs do_sample=False,temperature=0`
and `evaluate.temperature: 0`). What differs and why: docs/evaluation.md, "lm-evaluation-harness".
"""

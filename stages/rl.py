"""rl: GRPO after SFT on one variant's checkpoint, rewarded by the strict answer reader.

Trains data/sft/<variant>/model on the hard training questions (reasonmed/method/rl.py) and
writes <out>/model/ (same layout as the SFT checkpoint), <out>/metrics.json, <out>/stats.json,
<out>/curves.csv (reward, KL, completion length per step: a DVC plot) and <out>/samples.jsonl
(the first and last step's groups of completions with each reward term). Checkpoints live
in work/rl/<variant>/ while training; an interrupted run resumes from the last one.

    python -m stages.rl data/sft/reasonmed/model data/collect/questions.jsonl \
        data/route/routes.jsonl data/benchmarks data/rl/reasonmed --params params.yaml
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

from reasonmed.core.params import load, load_run, read_params
from reasonmed.core.records import Question, Route, read_jsonl
from reasonmed.core.stage import StageRun, entry
from reasonmed.method import rl
from reasonmed.method.rl_rollouts import Rollouts, gather, write_samples


def main() -> None:
    ap = argparse.ArgumentParser(description="GRPO on one SFT checkpoint.")
    for name in ("model", "questions", "routes", "benchmarks", "out"):
        ap.add_argument(name)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--work", default=None, help="checkpoints (default: work/rl/<out name>)")
    a = ap.parse_args()
    run_p, p, out = load_run(a.params), load("rl", rl.Params, a.params), Path(a.out)
    work = Path(a.work or f"work/rl/{out.name}")
    st = StageRun(f"rl-{out.name}", run_p.log_level)
    if threads := run_p.compute_threads():  # hashed: the order of every parallel sum
        import torch

        torch.set_num_threads(threads)
    header = read_params(a.params)["assemble"]["instruction_header"]
    rows, counts = rl.prompts(read_jsonl(a.questions, Question), read_jsonl(a.routes, Route),
                              p, header, rl.benchmark_ids(Path(a.benchmarks)))
    weights = hashlib.sha256(Path(a.model, "model.safetensors").read_bytes()).hexdigest()
    rl.prepare_work(work, {"rl": p.model_dump(), "seed": run_p.seed, "model": weights,
                           "prompts": [r["question_id"] for r in rows]})
    groups = Rollouts(work / "rollouts")  # kept beside the checkpoints: a resume keeps them
    res = rl.run(rows, p, a.model, run_p.seed, work, run_p.progress_every_s, groups)
    res["trainer"].save_model(str(out / "model"))  # with the tokenizer (processing_class)
    if res["trainer"].is_world_process_zero():
        rl.write_curves(out / "curves.csv", rl.curve_rows(res["trainer"].state.log_history))
        write_samples(out / "samples.jsonl", gather(groups.records()))
        m, stats, facts = rl.metrics(res, counts, out.name)
        st.finish(out, stats, headline=m, **facts)
        shutil.rmtree(work, ignore_errors=True)  # the model is the artifact


if __name__ == "__main__":
    entry(main)

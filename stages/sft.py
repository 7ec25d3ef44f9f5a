"""sft: fine-tune the student model on one dataset variant (ReasonMed / CoTMed / ResponseMed).

Trains on `<dataset>.jsonl` with TRL's SFTTrainer as params `sft` say (reasonmed/method/sft.py)
and writes <out>/model/, <out>/metrics.json and <out>/loss.csv (a DVC plot).

    python -m stages.sft data/assemble/datasets/reasonmed.jsonl data/sft/reasonmed --params params.yaml
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from itertools import islice
from pathlib import Path

from reasonmed.core.conversation import Row
from reasonmed.core.params import load, load_run, model_spec
from reasonmed.core.records import read_jsonl, write_json
from reasonmed.core.stage import StageRun, entry
from reasonmed.method.sft import Params, loss_rows, metrics, run, save_model, write_loss_csv

log = logging.getLogger("reasonmed.sft")


def main() -> None:
    ap = argparse.ArgumentParser(description="Fine-tune the student on one dataset variant.")
    ap.add_argument("dataset", help="<variant>.jsonl rows {instruction, input, output}")
    ap.add_argument("out")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--limit", type=int, default=None, help="train on the first N rows only")
    a = ap.parse_args()
    run_p, p, out = load_run(a.params), load("sft", Params, a.params), Path(a.out)
    st, t0 = StageRun(f"sft-{out.name}", run_p.log_level), time.time()
    spec = model_spec(p.base_model, a.params)
    if threads := run_p.compute_threads():  # hashed: the order of every parallel sum
        import torch

        torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    res = run(islice(read_jsonl(a.dataset, Row), a.limit), p, spec, run_p.seed, out,
              run_p.progress_every_s)
    save_model(res["trainer"], res["tokenizer"], spec, p.lora is not None, out / "model")
    if res["trainer"].is_world_process_zero():
        write_loss_csv(out / "loss.csv", loss_rows(res["trainer"].state.log_history))
        m, facts = metrics(res, p, spec, time.time() - t0)
        write_json(out / "metrics.json", m)
        st.finish(None, None, **facts)
        shutil.rmtree(out / "checkpoints", ignore_errors=True)  # the model is the artifact
        log.info("sft: %d examples, %d steps, loss %s -> %s, %s tok/s, peak RSS %s MB",
                 m["examples"], m["steps"], m["loss_first"], m["loss_last"],
                 facts["tokens_per_s"], facts["peak_rss_mb"])


if __name__ == "__main__":
    entry(main)

"""sft: row -> conversation, SFTConfig pass-through, completion-only labels, train + reload."""

import csv
import json
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from reasonmed.core import conversation
from reasonmed.core.params import ModelSpec, read_params
from reasonmed.core.stage import run_log_path
from reasonmed.method import sft
from stages import sft as sft_stage

ROOT = Path(__file__).resolve().parents[1]


def row(i=0, **kw):
    base = {"id": f"r{i}", "question_id": f"q{i}",
            "instruction": f"Please answer the following multiple-choice question:\nQ{i}?\nA. x\nB. y",
            "input": "", "output": f"## Thinking\n\nStep {i}.\n\n## Final Response\n\nThe answer is A."}
    return conversation.Row.model_validate({**base, **kw})


@pytest.mark.parametrize("inp, user", [
    ("", "I"),
    ("   ", "I"),                 # whitespace-only input adds nothing
    ("ctx", "I\n\nctx"),
])
def test_to_conversation(inp, user):
    conv = conversation.to_conversation(conversation.Row(instruction="I", input=inp, output="O"))
    assert conv == {"prompt": [{"role": "user", "content": user}],
                    "completion": [{"role": "assistant", "content": "O"}]}


def test_examples_drop_unusable_rows_with_reasons():
    dropped = Counter()
    rows = [row(0), row(1, output="  "), row(2, instruction=""), row(3)]
    out = list(conversation.examples(rows, dropped))
    assert len(out) == 2 and dropped == {"empty_output": 1, "empty_instruction": 1}


def test_row_accepts_released_columns_only():
    r = conversation.Row.model_validate({"instruction": "I", "input": "", "output": "O"})
    assert r.id is None


def test_config_kwargs_pass_through_and_stage_owned_keys():
    cfg = {"learning_rate": 5e-6, "num_train_epochs": 3, "output_dir": "ignored", "bf16": True}
    kw = sft.config_kwargs(cfg, "out/checkpoints", seed=7, has_cuda=True)
    assert kw == {"seed": 7, "learning_rate": 5e-6, "num_train_epochs": 3,
                  "output_dir": "out/checkpoints", "bf16": True}
    assert sft.config_kwargs({"seed": 1}, "o", seed=7, has_cuda=True)["seed"] == 1


def test_config_kwargs_forces_cpu_switches_without_cuda():
    kw = sft.config_kwargs({"bf16": True, "learning_rate": 1e-3}, "o", seed=0, has_cuda=False)
    assert kw["use_cpu"] is True and kw["bf16"] is False and kw["fp16"] is False
    assert kw["dataloader_pin_memory"] is False and kw["learning_rate"] == 1e-3


def test_loss_rows_skip_summary_entry():
    hist = [{"loss": 2.0, "learning_rate": 1e-3, "epoch": 0.5, "step": 1, "grad_norm": 1.0},
            {"train_runtime": 1.0, "train_loss": 1.5, "step": 2}]
    assert sft.loss_rows(hist) == [{"step": 1, "loss": 2.0, "learning_rate": 1e-3, "epoch": 0.5}]


def test_default_params_section_is_valid_and_accelerate_configs_parse():
    from reasonmed.core.params import load

    p = load("sft", sft.Params, ROOT / "params.yaml")
    assert p.config["use_cpu"] is True and p.config["bf16"] is False and p.lora is None
    z3 = yaml.safe_load((ROOT / "configs/accelerate/deepspeed_zero3.yaml").read_text())
    assert z3["distributed_type"] == "DEEPSPEED" and z3["num_processes"] == 8
    assert z3["deepspeed_config"]["zero_stage"] == 3 and z3["mixed_precision"] == "bf16"
    fsdp = yaml.safe_load((ROOT / "configs/accelerate/fsdp.yaml").read_text())
    assert fsdp["distributed_type"] == "FSDP" and fsdp["num_processes"] == 8
    assert fsdp["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"


def test_make_config_passes_fields_and_names_unknown_keys(tmp_path):
    # Imports trl (~5 s): the one fast test that pays for it, since the contract is trl's.
    p = read_params(ROOT / "params.yaml")["sft"]["config"]
    cfg = sft.make_config(sft.config_kwargs(p, str(tmp_path), seed=3, has_cuda=False))
    assert cfg.learning_rate == p["learning_rate"] and cfg.max_length == p["max_length"]
    assert cfg.seed == 3 and cfg.output_dir == str(tmp_path) and cfg.bf16 is False
    with pytest.raises(SystemExit, match=r"sft\.config\.max_seq_length"):
        sft.make_config({"output_dir": str(tmp_path), "max_seq_length": 512, "use_cpu": True,
                         "bf16": False})


@pytest.mark.slow
def test_the_step_progress_line_has_steps_tokens_loss_and_eta():
    """SFT's terminal: one line per interval from a TrainerCallback (no raw log dicts):
    steps done/total, tokens/s from TRL's `num_tokens`, the last logged loss and an ETA
    from the settled step rate; the last step's line waits for its loss."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    clock, lines = [100.0], []
    cb = sft.step_progress("sft[reasonmed]", every_s=10, window_s=60, emit=lines.append,
                           clock=lambda: clock[0])
    args, control = TrainingArguments(output_dir="unused", report_to=[]), TrainerControl()
    state = TrainerState(max_steps=40, global_step=0, is_world_process_zero=True)
    cb.on_train_begin(args, state, control)  # after the model load: the clock starts here
    for step in range(1, 41):
        clock[0] += 2.0
        state.global_step = step
        control.should_log = step % 5 == 0  # logging_steps 5 (DefaultFlowCallback sets it)
        cb.on_step_end(args, state, control)
        if control.should_log:
            cb.on_log(args, state, control, logs={"loss": 3.0 - step / 20, "grad_norm": 1.0,
                                                  "num_tokens": 500.0 * step})
    cb.on_log(args, state, control, logs={"train_loss": 2.0, "train_runtime": 80.0})
    cb.on_train_end(args, state, control)
    assert lines[0] == "sft[reasonmed]: 5/40 steps (12%) | 250.0 tok/s | loss 2.7500 | ETA 00:01:10"
    assert len(lines) == 8 and all(" steps (" in x and " tok/s | loss " in x for x in lines)
    assert lines[-1] == "sft[reasonmed]: 40/40 steps (100%) | 250.0 tok/s | loss 1.0000 | done"


def test_train_masks_prompt_saves_and_reloads(tiny_models, tmp_path, monkeypatch, capsys):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = tiny_models["agent"]
    spec = ModelSpec(backend="hf", model=base)
    config = {**read_params(ROOT / "params.yaml")["sft"]["config"],
              "max_steps": 3, "per_device_train_batch_size": 4, "max_length": 256}
    rows = [row(i) for i in range(16)] + [row(99, output="")]

    # Completion-only loss: every prompt token is -100, every completion token is learned.
    trainer, tok, counts = sft.build_trainer(rows, sft.Params(config=config), spec, 0, tmp_path,
                                             str(tmp_path / "cache"))
    assert counts == {"examples_in": 17, "dropped": {"empty_output": 1}}
    for ex, r in zip(trainer.train_dataset, rows):
        conv = conversation.to_conversation(r)
        n = len(tok.apply_chat_template(conv["prompt"], add_generation_prompt=True)["input_ids"])
        assert set(ex["labels"][:n]) == {-100}
        assert ex["labels"][n:] == ex["input_ids"][n:] and len(ex["labels"]) > n
        assert tok.decode(ex["input_ids"][n:]).startswith("## Thinking")
    with pytest.raises(SystemExit, match="no usable rows"):
        sft.build_trainer([row(0, output="")], sft.Params(config=config), spec, 0, tmp_path,
                          str(tmp_path / "cache2"))

    # The CLI end to end: a params file naming the tiny model as the student.
    params = {"run": {"seed": 42, "threads": 1}, "models": {"student": spec.model_dump()},
              "sft": {"base_model": "student", "config": config}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    data = tmp_path / "reasonmed.jsonl"
    data.write_text("".join(r.model_dump_json() + "\n" for r in rows))
    out = tmp_path / "sft"
    monkeypatch.setattr(sys, "argv", ["sft", str(data), str(out), "--params",
                                      str(tmp_path / "params.yaml"), "--limit", "12"])
    capsys.readouterr()
    sft_stage.main()
    shown = capsys.readouterr()
    assert "'loss'" not in shown.out + shown.err  # no raw Trainer log dicts
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 3 and m["examples_in"] == 12 and m["examples"] == 12
    assert m["train_tokens"] > 0 and "tokens_per_s" not in m  # timings: the run log only
    facts = json.loads(run_log_path("sft-sft").read_text())
    assert facts["tokens_per_s"] > 0 and facts["peak_rss_mb"] > 0
    assert m["label_tokens_per_epoch"] < m["tokens_per_epoch"]
    with open(out / "loss.csv") as f:
        losses = list(csv.DictReader(f))
    assert [int(x["step"]) for x in losses] == [1, 2, 3] and set(losses[0]) == set(sft.LOSS_COLUMNS)
    assert not (out / "checkpoints").exists() and not list(out.glob(".datasets-*"))

    model = AutoModelForCausalLM.from_pretrained(out / "model")
    tok = AutoTokenizer.from_pretrained(out / "model")
    base_w = AutoModelForCausalLM.from_pretrained(base).state_dict()
    assert any(not torch.equal(v, base_w[k]) for k, v in model.state_dict().items())
    enc = tok.apply_chat_template([{"role": "user", "content": "Q?"}], add_generation_prompt=True,
                                  return_tensors="pt")
    gen = model.generate(**enc, max_new_tokens=5, do_sample=False)
    assert gen.shape[1] > enc["input_ids"].shape[1]

    # LoRA: the adapter is merged, so the output is a plain model that differs from the base.
    lora_params = {**params, "sft": {**params["sft"], "lora": {"r": 4, "lora_alpha": 8,
                                                               "target_modules": "all-linear"}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(lora_params))
    sft_stage.main()
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "lora" and m["trainable_params"] < sum(v.numel() for v in base_w.values())
    assert not (out / "model/adapter_config.json").exists() and not (out / ".adapter").exists()
    merged = AutoModelForCausalLM.from_pretrained(out / "model").state_dict()
    assert set(merged) == set(base_w)
    assert any(not torch.equal(v, base_w[k]) for k, v in merged.items())

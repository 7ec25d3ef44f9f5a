"""SFT: fine-tune the student model on one dataset variant (ReasonMed / CoTMed / ResponseMed).

Method step S7 (docs/method.md section 10.1). Each row `{id, question_id, instruction, input,
output}` becomes one conversational prompt-completion example: the user turn is the
instruction (plus "\\n\\n" + input when non-empty), the assistant turn is the output. TRL's
SFTTrainer trains on the completion only (prompt tokens get label -100) with the base
model's own chat template; no `{% generation %}` markers are needed.

`sft.config` in params.yaml goes to trl.SFTConfig one-for-one (open-r1 style): the stage sets
only `output_dir`, `seed` (from run.seed unless the config names one) and, on a machine
without CUDA, the CPU switches (use_cpu, no bf16/fp16, no pinned memory). A GPU profile just
changes the fields. `sft.lora` (peft LoraConfig kwargs) switches to LoRA; the adapter is
merged before saving, so every variant's output is a plain model that the evaluator loads.

Reads  <dataset>.jsonl (data/assemble/datasets/<variant>.jsonl) and the `models` role
       named by sft.base_model.
Writes <out>/model/ (model + tokenizer, save_pretrained), <out>/metrics.json (loss, runtime,
       tokens, tokens/s, peak memory, steps, examples and drops) and <out>/loss.csv
       (step, loss, learning_rate, epoch: a DVC plot). Checkpoints, when save_strategy
       asks for them, live in <out>/checkpoints while training (a killed run resumes from
       the last one) and are removed on success.

On several GPUs the stage runs under `accelerate launch` (sft.launcher; see
configs/accelerate/README.md), e.g. `accelerate launch --config_file
configs/accelerate/deepspeed_zero3.yaml -m stages.sft <dataset> <out> --params
configs/paper.yaml`.

    python -c "from reasonmed.method.sft import config_kwargs as k; print(k({}, 'out', 42, False))"
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import resource
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any

from pydantic import Field

from reasonmed.core.conversation import Row, examples
from reasonmed.core.params import ModelSpec, Section
from reasonmed.core.records import atomic_path

log = logging.getLogger("reasonmed.sft")

LOSS_COLUMNS = ("step", "loss", "learning_rate", "epoch")


class Params(Section):
    base_model: str = "student"  # role under `models`; its spec's `model` is a path or hub id
    # What runs `-m stages.sft` in dvc.yaml's cmd: `python` here; on GPUs e.g.
    # `accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml`.
    launcher: str = "python"
    config: dict[str, Any] = Field(default_factory=dict)  # trl.SFTConfig kwargs, one-for-one
    lora: dict[str, Any] | None = None  # peft.LoraConfig kwargs; None = full fine-tune
    # A Jinja chat template file for a base model without one (a pure pretrained checkpoint).
    # It is saved with the model, so evaluation renders prompts the same way.
    chat_template: str | None = None


# --- configuration -------------------------------------------------------------------


def config_kwargs(config: dict[str, Any], output_dir: str, seed: int, has_cuda: bool) -> dict:
    """SFTConfig kwargs: params one-for-one plus what the stage owns (output dir, CPU switches)."""
    kw = {"seed": seed, **config, "output_dir": output_dir}
    if not has_cuda:
        # Mixed precision and pinned memory need an accelerator; a GPU profile still
        # smoke-tests on CPU (in fp32) instead of failing in TrainingArguments.
        forced = {"use_cpu": True, "bf16": False, "fp16": False, "dataloader_pin_memory": False}
        changed = {k: v for k, v in forced.items() if kw.get(k, v) != v}
        if changed:
            log.warning("sft: no CUDA device; forcing %s", changed)
        kw.update(forced)
    return kw


def make_config(kw: dict[str, Any]):
    """trl.SFTConfig(**kw); an unknown or invalid field fails naming `sft.config.<key>`."""
    from trl import SFTConfig

    return build_config(SFTConfig, kw, "sft")


def build_config(config_cls, kw: dict[str, Any], section: str):
    """`config_cls(**kw)` (a TRL config dataclass) for params `<section>.config`: unknown
    fields, then ill-typed ones (one line per key), then the class's own checks, each failing
    with a SystemExit that names the keys."""
    known = {f.name for f in dataclasses.fields(config_cls) if f.init}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise SystemExit(f"params: unknown {config_cls.__name__} field(s): "
                         + ", ".join(f"{section}.config.{k}" for k in unknown))
    wrong = type_errors(config_cls, kw)
    if wrong:  # one line per key, before TrainingArguments fails on the first, deep inside
        raise SystemExit(f"params: {section}.config is invalid:\n" + "\n".join(
            f"  {section}.config.{k}: {m}" for k, m in wrong))
    try:
        return config_cls(**kw)
    except (TypeError, ValueError) as e:  # TrainingArguments' own consistency checks
        raise SystemExit(f"params: {section}.config is invalid: {e}") from None


def type_errors(config_cls, kw: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for each value whose type the dataclass's annotation refuses.

    TrainingArguments takes any object for any field and fails later, one field at a time and
    often mid-run (`per_device_train_batch_size: eight` inside the dataloader). Strict
    pydantic validation of each annotation names them all up front: no string for a number
    or a flag, an int is fine where a float is wanted."""
    import typing

    from pydantic import TypeAdapter, ValidationError

    hints = typing.get_type_hints(config_cls)
    out = []
    for k, v in kw.items():
        ann = hints.get(k)
        if ann is None:
            continue
        try:
            TypeAdapter(ann).validate_python(v, strict=True)
        except ValidationError:
            out.append((k, f"{v!r} is not accepted: the field takes {type_name(ann)}"))
        except Exception:  # an annotation pydantic cannot build a validator for: unchecked
            continue
    return out


def type_name(ann) -> str:
    """`int | None` -> "int or null"; `SchedulerType | str` -> "SchedulerType or str"."""
    import typing

    args = typing.get_args(ann)
    if typing.get_origin(ann) in (typing.Union, __import__("types").UnionType) and args:
        return " or ".join("null" if a is type(None) else type_name(a) for a in args)
    return getattr(ann, "__name__", None) or str(ann).replace("typing.", "")


def make_lora(lora: dict[str, Any] | None):
    if lora is None:
        return None
    from peft import LoraConfig

    try:
        return LoraConfig(**{"task_type": "CAUSAL_LM", **lora})
    except (TypeError, ValueError) as e:
        raise SystemExit(f"params: sft.lora is invalid: {e}") from None


# Every file a stage reads is a dep: dvc.yaml lists this folder for sft, so a template
# elsewhere would be read without DVC hashing it.
CHAT_TEMPLATES = Path("configs/chat_templates")


def load_tokenizer(spec: ModelSpec, chat_template: str | None):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(spec.model, revision=spec.revision)
    # transformers records how the files were found (HF_HUB_OFFLINE: local_files_only) in
    # the tokenizer config it saves with the checkpoint: an execution fact (exec.offline),
    # not part of the model, so it must not change the checkpoint's bytes.
    tok.init_kwargs.pop("local_files_only", None)
    if chat_template:
        path = Path(chat_template)
        if CHAT_TEMPLATES.resolve() not in path.resolve().parents:
            raise SystemExit(f"sft.chat_template: {chat_template} must live under "
                             f"{CHAT_TEMPLATES}/ (a dep of the sft stage, so an edit reruns it)")
        tok.chat_template = path.read_text(encoding="utf-8")
    if not tok.chat_template:
        raise SystemExit(f"sft: {spec.model} has no chat template; set sft.chat_template "
                         "to a Jinja template file")
    return tok


# --- training ------------------------------------------------------------------------


def build_trainer(rows: Iterable[Row], p: Params, spec: ModelSpec, seed: int, work: Path,
                  cache: str, every_s: float = 10.0) -> tuple[Any, Any, dict[str, Any]]:
    """(SFTTrainer with the tokenized dataset, tokenizer, row counts). `cache` holds the
    dataset's Arrow files; checkpoints go to `work`/checkpoints when save_strategy asks."""
    import datasets
    import torch
    from datasets import Dataset, Features, Value
    from trl import SFTTrainer

    datasets.disable_progress_bars()  # the tokenising maps' bars (HF_DATASETS_... may be unset)

    cfg = make_config(config_kwargs(p.config, str(work / "checkpoints"), seed,
                                    torch.cuda.is_available()))
    if spec.revision:
        cfg.model_init_kwargs = {"revision": spec.revision, **(cfg.model_init_kwargs or {})}
    tok = load_tokenizer(spec, p.chat_template)
    dropped, counted = Counter(), Counter()

    def gen():
        for r in rows:
            counted["in"] += 1
            yield r

    # An Arrow dataset on disk (memory-mapped), so paper-scale data never sits in RAM. The
    # cache dir is fresh per run and the fingerprint random: a generator can't be hashed.
    it = examples(gen(), dropped)
    first = next(it, None)
    if first is None:
        raise SystemExit(f"sft: no usable rows ({counted['in']} read, dropped {dict(dropped)})")
    turn = [{"role": Value("string"), "content": Value("string")}]
    ds = Dataset.from_generator(lambda: chain([first], it), cache_dir=cache,
                                features=Features({"prompt": turn, "completion": turn}),
                                fingerprint=uuid.uuid4().hex)
    trainer = SFTTrainer(model=spec.model, args=cfg, train_dataset=ds, processing_class=tok,
                         peft_config=make_lora(p.lora))
    quiet_trainer(trainer, f"sft[{work.name}]", every_s)
    # TRL drops examples whose prompt alone fills max_length (nothing left to learn).
    dropped["prompt_fills_max_length"] += len(ds) - len(trainer.train_dataset)
    return trainer, tok, {"examples_in": counted["in"], "dropped": dict(+dropped)}


def run(rows: Iterable[Row], p: Params, spec: ModelSpec, seed: int, work: Path,
        every_s: float = 10.0) -> dict[str, Any]:
    """Train on `rows`: {trainer, result, tokenizer, examples_in, dropped}. Writes only under
    `work` (a temporary dataset cache; checkpoints when save_strategy asks for them). A
    progress line every `every_s` seconds."""
    from transformers.trainer_utils import get_last_checkpoint

    cache = tempfile.mkdtemp(prefix=".datasets-", dir=work)
    try:
        trainer, tok, counts = build_trainer(rows, p, spec, seed, work, cache, every_s)
        ckpt = Path(trainer.args.output_dir)
        resume = get_last_checkpoint(str(ckpt)) if ckpt.is_dir() else None
        if resume:
            log.info("sft: resuming from %s", resume)
        result = trainer.train(resume_from_checkpoint=resume)
        return {"trainer": trainer, "result": result, "tokenizer": tok, **counts}
    finally:
        # Linux keeps the memory-mapped Arrow files readable until the dataset is closed.
        shutil.rmtree(cache, ignore_errors=True)


def quiet_trainer(trainer, label: str, every_s: float) -> None:
    """The Trainer prints each logged dict ({'loss': ..., 'grad_norm': ...}: PrinterCallback)
    or a tqdm bar (ProgressCallback); both go, for one progress line per interval. The args
    (`disable_tqdm`, `logging_steps`) stay as configured: they are saved with the model
    (training_args.bin), and the logged history (loss.csv) is unchanged."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(step_progress(label, every_s))


def step_progress(label: str, every_s: float = 10.0, **kw):
    """A TrainerCallback: `<label>: 12/40 steps (30%) | 523.1 tok/s | loss 2.3450 | ETA ...`
    on the main process, tokens from TRL's logged `num_tokens`. `kw`: Progress's (emit,
    clock, window_s)."""
    from transformers import TrainerCallback

    from reasonmed.core.progress import Progress

    class StepProgress(TrainerCallback):
        def __init__(self):
            self.progress, self.loss, self.tokens = None, None, 0

        def on_train_begin(self, args, state, control, **_):
            if state.is_world_process_zero:  # a resumed run starts at its checkpoint's step
                self.progress = Progress(label, state.max_steps, unit="steps", every_s=every_s,
                                         **kw).start(state.global_step)

        def on_log(self, args, state, control, logs=None, **_):
            logs = logs or {}
            self.loss = logs.get("loss", self.loss)
            self.tokens = int(logs.get("num_tokens", self.tokens))
            if "loss" in logs and state.global_step < state.max_steps:
                self._line(state)

        def on_step_end(self, args, state, control, **_):
            # a step that logs (the flow callback, which runs first, said so) and the last
            # step wait for their log, so the line shows that step's loss
            if not control.should_log and state.global_step < state.max_steps:
                self._line(state)

        def on_train_end(self, args, state, control, **_):
            self._line(state)

        def _line(self, state) -> None:
            if self.progress is not None:
                loss = f"loss {self.loss:.4f}" if self.loss is not None else ""
                self.progress.set(state.global_step, self.tokens, extra=loss)

    return StepProgress()


def save_model(trainer, tok, spec: ModelSpec, lora: bool, out: Path) -> None:
    """A plain checkpoint at `out`: save_model gathers ZeRO-3/FSDP shards; LoRA is merged."""
    if not lora:
        trainer.save_model(str(out))  # saves the tokenizer (processing_class) too
        return
    # Merge into a freshly loaded base on the main process: works the same whether the
    # adapter was trained on one CPU or sharded across GPUs.
    adapter = out.parent / ".adapter"
    trainer.save_model(str(adapter))
    if trainer.is_world_process_zero():
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(spec.model, revision=spec.revision,
                                                    dtype=trainer.model.dtype)
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        merged.save_pretrained(str(out))
        tok.save_pretrained(str(out))
        shutil.rmtree(adapter, ignore_errors=True)


# --- reporting -----------------------------------------------------------------------


def loss_rows(log_history: list[dict]) -> list[dict]:
    """One row per logged training step (the final summary entry has no `loss`)."""
    return [{k: h.get(k) for k in LOSS_COLUMNS} for h in log_history if "loss" in h]


def dataset_tokens(ds, max_length: int | None) -> dict[str, int]:
    """Tokens and label tokens per epoch, and sequences cut at max_length, in Arrow batches."""
    import pyarrow.compute as pc

    out = Counter(tokens=0, label_tokens=0, longest=0, at_max_length=0)
    for batch in ds.with_format("arrow").iter(batch_size=4096):
        lengths = pc.list_value_length(batch["input_ids"])
        out["tokens"] += pc.sum(lengths).as_py() or 0
        out["label_tokens"] += pc.sum(pc.not_equal(pc.list_flatten(batch["labels"]), -100)).as_py() or 0
        out["longest"] = max(out["longest"], pc.max(lengths).as_py() or 0)
        if max_length:
            out["at_max_length"] += pc.sum(pc.greater_equal(lengths, max_length)).as_py() or 0
    return dict(out)


def metrics(res: dict[str, Any], p: Params, spec: ModelSpec, wall_s: float) -> tuple[dict, dict]:
    """(metrics.json: what training made, run facts: how long and on what it ran)."""
    import torch

    trainer, result = res["trainer"], res["result"]
    args, hist = trainer.args, trainer.state.log_history
    losses = loss_rows(hist)
    toks = dataset_tokens(trainer.train_dataset, args.max_length)
    # TRL counts the non-padding tokens it actually trained on, across all processes.
    seen = next((h["num_tokens"] for h in reversed(hist) if "num_tokens" in h), None)
    runtime = result.metrics.get("train_runtime") or wall_s
    m = {
        "base_model": p.base_model, "model": spec.model, "method": "lora" if p.lora else "full",
        "train_loss": round(result.training_loss, 4),
        "loss_first": round(losses[0]["loss"], 4) if losses else None,
        "loss_last": round(losses[-1]["loss"], 4) if losses else None,
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0, 3),
        "examples_in": res["examples_in"], "examples": len(trainer.train_dataset),
        "dropped": res["dropped"], "examples_at_max_length": toks["at_max_length"],
        "tokens_per_epoch": toks["tokens"], "label_tokens_per_epoch": toks["label_tokens"],
        "longest_sequence": toks["longest"],
        "train_tokens": int(seen) if seen is not None else None,
        # ZeRO-3 partitions parameters (numel 0 on each rank); ds_numel is the full size.
        "trainable_params": sum(getattr(x, "ds_numel", x.numel())
                                for x in trainer.model.parameters() if x.requires_grad),
    }
    facts = {
        "train_runtime": round(runtime, 2),
        "tokens_per_s": round(seen / runtime, 1) if seen and runtime else None,
        "world_size": args.world_size, "device": str(args.device),
        # ru_maxrss is in KiB on Linux; this process only (rank 0 under accelerate).
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if torch.cuda.is_available():
        facts["peak_cuda_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return m, facts


def write_loss_csv(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=LOSS_COLUMNS)
        w.writeheader()
        w.writerows(rows)

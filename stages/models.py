"""Build the embedded default's tiny local models, one per role that asks for one.

Nothing is downloaded: a byte-level BPE tokenizer is trained on `assets/corpus.txt`, and
each role with a `build:` block under `models` in params.yaml gets a small randomly
initialised Llama (its own seed and size, so the three agents differ), warmed up for a few
optimizer steps on the same corpus so its samples read like text rather than noise. Roles
that name a hub id or an existing path (no `build:`) are left alone.

    python -m stages.models --params params.yaml --out models
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from stages.params import ModelSpec, Section, load, load_models, load_run
from stages.records import write_json

log = logging.getLogger("reasonmed.models")

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]
# ChatML with {% generation %} markers: TRL's assistant-only loss needs them.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}{{- message['content'] + '<|im_end|>' + '\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


class Params(Section):
    """The `models_build` section: shared settings for every tiny model."""

    corpus: str
    vocab_size: int = 1024
    max_position_embeddings: int = 2048
    pretrain_steps: int = 60
    pretrain_seq_len: int = 128
    pretrain_batch_size: int = 16
    learning_rate: float = 3e-3


class Build(Section):
    """One role's `build:` block."""

    seed: int
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int | None = None
    intermediate_size: int | None = None


def train_tokenizer(text: str, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text.splitlines(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="<|im_end|>", unk_token="<unk>",
        pad_token="<pad>", chat_template=CHAT_TEMPLATE, model_max_length=4096)


def chat_documents(text: str, tokenizer) -> list[str]:
    """Corpus blocks as ChatML turns (question + options -> reasoning), so models learn to stop."""
    docs = []
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        if len(lines) > 5:
            msgs = [{"role": "user", "content": "\n".join(lines[:5])},
                    {"role": "assistant", "content": "\n".join(lines[5:])}]
            docs.append(tokenizer.apply_chat_template(msgs, tokenize=False))
    return docs


def build_model(build: Build, p: Params, tokenizer, docs: list[str]):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    heads = build.num_attention_heads
    if build.hidden_size % heads or build.hidden_size // heads < 32:
        # vLLM's CPU attention kernels reject head_dim < 32; keep the models servable there.
        raise SystemExit(f"build: hidden_size/num_attention_heads must be an integer >= 32, "
                         f"got {build.hidden_size}/{heads}")
    torch.manual_seed(build.seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=build.hidden_size,
        intermediate_size=build.intermediate_size or 2 * build.hidden_size,
        num_hidden_layers=build.num_hidden_layers, num_attention_heads=heads,
        num_key_value_heads=build.num_key_value_heads or heads,
        max_position_embeddings=p.max_position_embeddings, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(cfg)
    losses = warm_up(model, tokenizer, docs, p, build.seed)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model, losses


def warm_up(model, tokenizer, docs: list[str], p: Params, seed: int) -> list[float]:
    """A few AdamW steps of next-token prediction on random corpus windows."""
    import torch

    if p.pretrain_steps <= 0:
        return []
    ids = torch.tensor([t for d in docs for t in tokenizer(d).input_ids])
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=p.learning_rate)
    model.train()
    losses = []
    for _ in range(p.pretrain_steps):
        starts = torch.randint(0, len(ids) - p.pretrain_seq_len - 1, (p.pretrain_batch_size,),
                               generator=g)
        batch = torch.stack([ids[s:s + p.pretrain_seq_len] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(round(loss.item(), 4))
    model.eval()
    return losses


def run(specs: dict[str, ModelSpec], p: Params, corpus: str) -> dict[str, Any]:
    """Build every role that has a `build:` block; returns {role: (model, tokenizer, info)}."""
    wanted = {r: s for r, s in specs.items() if s.build is not None}
    if not wanted:
        return {}
    tokenizer = train_tokenizer(corpus, p.vocab_size)
    docs = chat_documents(corpus, tokenizer)
    built = {}
    for role, spec in wanted.items():
        t0 = time.monotonic()
        b = Build.model_validate(spec.build)
        model, losses = build_model(b, p, tokenizer, docs)
        info = {"path": spec.model, "params": sum(x.numel() for x in model.parameters()),
                "config": {k: v for k, v in b.model_dump().items()},
                "loss_first": losses[0] if losses else None,
                "loss_last": losses[-1] if losses else None,
                "build_s": round(time.monotonic() - t0, 2)}
        log.info("models: built %s (%d params, loss %s -> %s)", role, info["params"],
                 info["loss_first"], info["loss_last"])
        built[role] = (model, tokenizer, info)
    return built


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="models")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load_run(a.params)  # offline env vars
    p = load("models_build", Params, a.params)
    specs = load_models(a.params)
    out = Path(a.out).resolve()
    for role, s in specs.items():
        if s.build is not None and out not in Path(s.model).resolve().parents:
            raise SystemExit(f"models.{role}.model must lie under {a.out}/ to be built")
    built = run(specs, p, Path(p.corpus).read_text(encoding="utf-8"))
    for role, (model, tok, _) in built.items():
        model.save_pretrained(specs[role].model)
        tok.save_pretrained(specs[role].model)
    write_json(out / "manifest.json", {r: info for r, (_, _, info) in built.items()})


if __name__ == "__main__":
    main()

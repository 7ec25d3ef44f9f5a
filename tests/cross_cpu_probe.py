"""The project's CPU float work at toy size, printed as digests: run natively and under
user-mode emulation of other CPU models (tests/test_cross_cpu.py), the digests must agree.

Three computations, each through the project's own code: a tiny model build (tokenizer,
warm-up and contract steps of the models stage's builder), one batch of sampled generation
and one constrained (JSON-schema) judge batch through the hf backend, and SFT steps through
the sft stage's trainer. Small enough that an emulated CPU (about 50x slower) runs it in a
few minutes.

    python tests/cross_cpu_probe.py /tmp/probe-out        # prints one JSON line
"""

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import reasonmed  # noqa: E402,F401  the CPU pins, before torch loads

ROOT = Path(__file__).resolve().parents[1]
T0 = time.monotonic()


def digest_files(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build(out: Path) -> dict:
    import torch

    from reasonmed.method.tinymodels import Build, Params, build_model, chat_documents, train_tokenizer

    torch.set_num_threads(1)  # as the models stage builds
    corpus = (ROOT / "assets/corpus.txt").read_text(encoding="utf-8")[:20000]
    p = Params(corpus="assets/corpus.txt", vocab_size=512, pretrain_steps=3, pretrain_seq_len=64,
               pretrain_batch_size=4, contract_steps=3, contract_documents=8,
               contract_batch_size=2, max_position_embeddings=1024)
    tok = train_tokenizer(corpus, p.vocab_size, "")
    prompts = {"generate": str(ROOT / "stages/prompts/generate.md")}
    b = Build(seed=3, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
              contracts=["generate"])
    model, losses = build_model(b, p, tok, chat_documents(corpus, tok), prompts)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return {"build": digest_files(out), "build_losses": losses}


def generate(model: Path) -> dict:
    from reasonmed.core.params import ModelSpec, RunParams
    from reasonmed.llm.backends.hf import HFBackend
    from reasonmed.llm.types import Request

    spec = ModelSpec(backend="hf", model=str(model), options={"batch_size": 3})
    be = HFBackend(spec, RunParams(threads=2), {})
    reqs = [Request.chat(None, f"A {30 + i}-year-old presents with fever and cough. Options: "
                         "A. flu B. cold C. pneumonia", temperature=t, top_p=0.9, max_tokens=12,
                         seed=100 + i) for i, t in enumerate((0.7, 0.9, 1.0, 1.0))]
    schema = {"type": "object", "additionalProperties": False, "required": ["verdict", "reason"],
              "properties": {"verdict": {"enum": ["Correct", "Error"]},
                             "reason": {"type": "string", "maxLength": 20}}}
    judge = [Request.chat(None, f"Judge path {i}.", temperature=1.0, max_tokens=40, seed=7 + i,
                          schema=schema) for i in range(2)]
    texts: dict[int, str] = {}
    be.generate(reqs + judge, lambda batch: texts.update({i: c.text for i, c in batch}))
    blob = json.dumps([texts[i] for i in range(len(reqs) + len(judge))])
    return {"generate": hashlib.sha256(blob.encode()).hexdigest()[:16],
            "generate_sample": texts[0][:40]}


def sft(model: Path, work: Path) -> dict:
    import os

    from reasonmed.core.conversation import Row
    from reasonmed.method.sft import Params, run, save_model

    os.environ.setdefault("TQDM_DISABLE", "1")
    rows = [Row(instruction=f"Question {i}: which option? A. x B. y", input="",
                output=f"Reasoning {i}. The answer is {'AB'[i % 2]}.") for i in range(6)]
    p = Params.model_validate({"base_model": "probe", "config": {
        "max_steps": 2, "per_device_train_batch_size": 3, "learning_rate": 1e-3,
        "logging_steps": 1, "save_strategy": "no", "report_to": "none", "use_cpu": True,
        "bf16": False, "activation_checkpointing": False, "dataloader_pin_memory": False,
        "disable_tqdm": True, "optim": "adamw_torch_fused", "max_length": 128}})
    from reasonmed.core.params import ModelSpec

    spec = ModelSpec(backend="hf", model=str(model))
    import torch

    torch.set_num_threads(2)  # as run.threads in the default
    work.mkdir(parents=True, exist_ok=True)
    res = run(rows, p, spec, 42, work)
    save_model(res["trainer"], res["tokenizer"], spec, False, work / "model")
    losses = [h["loss"] for h in res["trainer"].state.log_history if "loss" in h]
    return {"sft": digest_files(work / "model"), "sft_losses": losses}


def main() -> None:
    import os

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(out)  # relative paths: the trainer saves its output_dir into the checkpoint
    res = build(Path("model"))
    res.update(generate(Path("model")))
    if "--no-sft" not in sys.argv:
        res.update(sft(Path("model"), Path("sft")))
    res["wall_s"] = round(time.monotonic() - T0, 1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()

"""The tiny-model builder: its training shortcut is the same loss as transformers' own; the
tokenizer vocabulary and the synthetic vignettes it trains on."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from reasonmed.method.tinymodels import reply_loss


def test_reply_loss_equals_the_masked_loss_on_right_padded_rows():
    """reply_loss skips the attention mask and runs the LM head only where a reply token is
    predicted; on right-padded rows with prompt tokens unlabelled it must give the loss
    `model(input_ids, attention_mask, labels)` gives, and the same gradients."""
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, pad_token_id=0)
    model = LlamaForCausalLM(cfg).float()
    lengths, prompts = [12, 7, 9], [8, 3, 6]
    ids = torch.zeros((3, max(lengths)), dtype=torch.long)
    labels = torch.full_like(ids, -100)
    mask = torch.zeros_like(ids)
    for r, (n, k) in enumerate(zip(lengths, prompts)):
        ids[r, :n] = torch.randint(1, 50, (n,))
        labels[r, k:n] = ids[r, k:n]
        mask[r, :n] = 1
    ours = reply_loss(model, ids, labels)
    ours.backward()
    g_ours = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    ref = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    ref.backward()
    assert torch.allclose(ours, ref, atol=1e-5), (ours.item(), ref.item())
    for a, b in zip(g_ours, (p.grad for p in model.parameters())):
        assert torch.allclose(a, b, atol=1e-5)


def test_the_vocabulary_shortens_prompts_and_is_part_of_every_build_key(tmp_path):
    """The tokenizer learns the vocabulary text's words (a rendered prompt gets shorter), and
    the build cache keys on that text: an edited vocabulary is never served a stale model."""
    import random
    from pathlib import Path

    from reasonmed.core.params import ModelSpec
    from reasonmed.method.build import build_key
    from reasonmed.method.tinymodels import Params, train_tokenizer, vignette

    root = Path(__file__).resolve().parents[1]
    corpus = (root / "assets/corpus.txt").read_text(encoding="utf-8")
    vocab = (root / "assets/vocabulary.txt").read_text(encoding="utf-8")
    prompt = (root / "stages/prompts/optimize.md").read_text(encoding="utf-8")
    plain, wide = train_tokenizer(corpus, 2048), train_tokenizer(corpus, 2048, vocab)
    assert len(wide(prompt).input_ids) < 0.7 * len(plain(prompt).input_ids)

    p = Params(corpus="assets/corpus.txt", vocabulary="assets/vocabulary.txt")
    spec = ModelSpec(backend="hf", model="models/agent1", build={"seed": 1})
    assert build_key(spec, p, corpus, vocab, {}) == build_key(spec, p, corpus, vocab, {})
    assert build_key(spec, p, corpus, vocab + "edited\n", {}) != build_key(spec, p, corpus, vocab, {})
    # three-option vignettes exist, and their letters are only those offered
    vs = [vignette(random.Random(i)) for i in range(200)]
    assert any(len(v["options"]) == 3 for v in vs) and any(len(v["options"]) == 4 for v in vs)
    assert all(v["gold"] in v["options"] for v in vs)

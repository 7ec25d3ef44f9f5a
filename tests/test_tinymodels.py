"""The tiny-model builder's training shortcut is the same loss as transformers' own."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from reasonmed.tinymodels import reply_loss


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

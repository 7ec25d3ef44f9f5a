"""Per-request sampling for batched transformers generation, independent of the batch.

transformers samples from one global RNG, so a request's sample depends on which requests
share its batch and in what order, and a resumed run (whose batches differ because part of
the work is cached) would not reproduce an uninterrupted one. Here every row draws its own
uniform number per step from a counter-based hash of (request seed, step) and samples by
inverse CDF over its temperature-scaled, top-p-filtered distribution: an exact sample whose
randomness is a pure function of the request. Generation then runs greedy
(`do_sample=False`) with `SeededSampler` as the last logits processor, so the order and
company of rows no longer matter; the work per step is what transformers' own top-p
sampling does (one sort, softmax and cumulative sum per row).

What remains shared between rows is float arithmetic: CPU GEMM kernels choose their blocking
by matrix shape, so a row's logits can differ in the last bits (~1e-6) between batch sizes,
which changes a sampled token only when the uniform draw falls within that distance of a
bucket edge of the cumulative distribution (about one token in a million). The request
cache therefore commits whole backend batches, so a resumed run cuts the same batches as an
uninterrupted one; see README, "What a rerun does".

    python -c "import torch; from reasonmed.llm.sampling import uniforms as u; print(u(torch.tensor([1]), 0))"
"""

from __future__ import annotations

M32 = 0xFFFFFFFF


def _mul32(h, c: int):
    """(h * c) mod 2**32 for int64 tensors h < 2**32, without int64 overflow."""
    return ((h & 0xFFFF) * c + ((((h >> 16) * c) & 0xFFFF) << 16)) & M32


def _fmix32(h):
    """MurmurHash3's 32-bit finaliser: a bijective avalanche mix."""
    h = h ^ (h >> 16)
    h = _mul32(h, 0x85EBCA6B)
    h = h ^ (h >> 13)
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h >> 16)


def uniforms(seeds, step: int):
    """One uniform in (0, 1) per row (float32), from (seed, step) alone."""
    import torch

    s = seeds.to(torch.int64) & M32
    h = _fmix32(s ^ _mul32(torch.tensor(step + 1, dtype=torch.int64), 0x9E3779B1))
    h = _fmix32(h ^ ((s >> 7) | ((s << 25) & M32)))
    # 24 bits: exactly representable in float32, never 0 or 1.
    return ((h >> 8).to(torch.float32) + 0.5) / 16777216.0


class SeededSampler:
    """A transformers logits processor that turns greedy decoding into per-row sampling.

    `seeds`, `temperatures`, `top_ps`: one per row; `prompt_len`: the (padded) prompt width,
    so `step` counts generated tokens. Temperature 0 keeps the row greedy. The returned
    scores are -inf everywhere but at the sampled token, so greedy decoding picks it.
    """

    def __init__(self, seeds: list[int], temperatures: list[float], top_ps: list[float],
                 prompt_len: int):
        import torch

        self.seeds = torch.tensor(seeds, dtype=torch.int64)
        self.t = torch.tensor(temperatures, dtype=torch.float32)
        self.p = torch.tensor(top_ps, dtype=torch.float32)
        self.hot = self.t > 0
        self.prompt_len = prompt_len

    def __call__(self, input_ids, scores):
        import torch

        if not bool(self.hot.any()):
            return scores
        step = input_ids.shape[1] - self.prompt_len
        t = torch.where(self.hot, self.t, torch.ones_like(self.t)).unsqueeze(1)
        x = scores.float() / t
        # top-p as transformers' TopPLogitsWarper: drop the low tail whose mass is <= 1 - p,
        # always keeping the most likely token. Stable sort: ties break by token id, the
        # same way in any batch. In ascending order the kept tokens are a suffix, so the
        # draw is u scaled into the kept mass (cum_drop, 1] and located by binary search.
        sorted_x, idx = torch.sort(x, dim=-1, descending=False, stable=True)
        cum = sorted_x.softmax(dim=-1).cumsum(dim=-1)
        n_drop = (cum <= (1 - self.p).unsqueeze(1)).sum(dim=-1, keepdim=True)
        n_drop.clamp_(max=cum.shape[1] - 1)
        drop_mass = torch.where(n_drop > 0, cum.gather(1, (n_drop - 1).clamp(min=0)),
                                torch.zeros_like(n_drop, dtype=cum.dtype))
        total = cum[:, -1:]
        target = drop_mass + uniforms(self.seeds, step).unsqueeze(1) * (total - drop_mass)
        pos = torch.searchsorted(cum, target)
        pos = torch.maximum(pos, n_drop).clamp_(max=cum.shape[1] - 1)
        token = idx.gather(1, pos)
        out = torch.full_like(scores, float("-inf")).scatter_(1, token, 0.0)
        if bool(self.hot.all()):
            return out
        cold = torch.full_like(scores, float("-inf")).scatter_(
            1, scores.argmax(dim=-1, keepdim=True), 0.0)
        return torch.where(self.hot.unsqueeze(1), out, cold)

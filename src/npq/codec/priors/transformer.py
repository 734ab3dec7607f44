"""A learned token prior: a small causal transformer over the token grid in raster order.

Factorized head (any codebook size N): a token t is split as ``hi = t // M``, ``lo = t % M`` with
``M = 512`` (384 x 512 >= 196,560 for Λ24); the model predicts ``p(hi | past)`` and then
``p(lo | hi, past)``, two softmaxes of <= 512 classes instead of one of N. The input at position
i is the embedding of token i-1 (a start symbol at i = 0) plus a 2-D sin-cos embedding of
position i's (row, column), so one model serves any grid size.

Coding runs the *incremental* path (:meth:`_Block.step` with a key/value cache) in the
encoder and in the decoder alike, single-threaded, so both see bit-identical logits on the same
machine; the header's token CRC catches any machine that would not. Its files are therefore
**machine-bound** (other CPU kernels, a GPU or another torch build may refuse them); the portable
priors are ``neural`` (:mod:`npq.codec.priors.neural`, the default) and ``context``.

Attention window: token i attends to tokens ``max(0, i - window + 1) .. i`` (``window`` in
:class:`PriorConfig`; the training crops' token count, 1,024 for 256-px crops at f8, so a prior
never sees more context than it was trained on). Each token then costs the same however large the
grid: coding time is linear in the grid. ``window = 0`` is full causal attention, what priors
saved before the window existed use (quadratic time); a
file written that way still decodes (:meth:`TokenPrior.variant_for`).
"""

from __future__ import annotations

import hashlib
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...models.vit import sincos_2d
from ..entropy_coding import CategoricalDecoder, CategoricalEncoder, quantized_pmf
from .base import Prior, register_prior

__all__ = ["PriorConfig", "TokenPrior", "single_thread"]

# Coding time bound, checked before any work: a forged file cannot make the decoder run longer
# than coding this many tokens takes (windowed prior, linear: ~20-40 s on 2 cores; a
# full-attention prior, quadratic, ~3-4x that). Larger grids need the context prior.
MAX_TOKENS = 16384

LO = 512


@dataclass
class PriorConfig:
    """Size of the learned (transformer) prior: ``n_codes`` codes per token, ``width`` channels,
    ``depth`` layers, ``heads`` attention heads, ``max_len`` the longest token sequence (grid h
    * w) it was built for."""
    n_codes: int
    width: int = 192
    depth: int = 3
    heads: int = 4
    max_len: int = 65536  # longest token sequence (grid h * w) the model was built for (coding stops at MAX_TOKENS)
    window: int = 0  # attend to this many latest tokens (incl. the current one); 0 = all (files saved before windows)


@contextmanager
def single_thread():
    """Run torch on one thread (deterministic reductions), restoring the setting afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class _Block(nn.Module):
    def __init__(self, w: int, heads: int):
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.qkv, self.proj = nn.Linear(w, 3 * w), nn.Linear(w, w)
        self.mlp = nn.Sequential(nn.Linear(w, 4 * w), nn.GELU(), nn.Linear(4 * w, w))

    def forward(self, x: Tensor, window: int = 0) -> Tensor:
        """Teacher-forced causal pass over (b, n, c); position i attends to the last ``window``
        positions up to i (all of them if ``window`` is 0 or covers the sequence)."""
        b, n, c = x.shape
        q, k, v = self.qkv(self.n1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if 0 < window < n:
            i = torch.arange(n, device=x.device)
            d = i[:, None] - i[None, :]
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=(d >= 0) & (d < window))
        else:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, c))
        return x + self.mlp(self.n2(x))

    def step(self, x: Tensor, cache: dict, i: int) -> Tensor:
        """Position ``i`` given the cached keys/values of earlier positions; ``x`` is (c,).

        The cache holds preallocated (heads, slots, c / heads) key and value buffers used as a ring:
        position i goes to slot ``i % slots``, so with ``slots`` = the window the last ``slots``
        positions are attended to (softmax and the weighted sum do not depend on slot order)."""
        c = x.shape[-1]
        hd = c // self.heads
        qkv = F.linear(F.layer_norm(x, (c,), self.n1.weight, self.n1.bias, self.n1.eps), self.qkv.weight, self.qkv.bias)
        q, k, v = qkv.view(3, self.heads, hd)
        slots = cache["k"].shape[1]
        cache["k"][:, i % slots] = k
        cache["v"][:, i % slots] = v
        m = min(i + 1, slots)
        att = torch.bmm(cache["k"][:, :m], q[:, :, None])[:, :, 0] / math.sqrt(hd)  # (heads, m)
        a = torch.bmm(att.softmax(-1)[:, None, :], cache["v"][:, :m])[:, 0]  # (heads, hd)
        x = x + F.linear(a.reshape(c), self.proj.weight, self.proj.bias)
        h = F.layer_norm(x, (c,), self.n2.weight, self.n2.bias, self.n2.eps)
        m0, m2 = self.mlp[0], self.mlp[2]
        return x + F.linear(F.gelu(F.linear(h, m0.weight, m0.bias)), m2.weight, m2.bias)


@register_prior(kind=1, name="learned", aliases=("transformer",))
class TokenPrior(Prior, nn.Module):
    """p(token_i | tokens_<i) over a raster-ordered grid, factorized as p(hi) p(lo | hi)."""

    def __init__(self, cfg: PriorConfig):
        nn.Module.__init__(self)
        self.cfg = cfg
        self.n_hi = math.ceil(cfg.n_codes / LO)
        self.last_lo = cfg.n_codes - (self.n_hi - 1) * LO  # valid lo values under the last hi
        w = cfg.width
        self.emb_hi = nn.Embedding(self.n_hi + 1, w)  # + start symbol
        self.emb_lo = nn.Embedding(LO + 1, w)
        self.blocks = nn.ModuleList(_Block(w, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(w)
        self.head_hi = nn.Linear(w, self.n_hi)
        self.cond_hi = nn.Embedding(self.n_hi, w)
        self.head_lo = nn.Sequential(nn.Linear(w, w), nn.GELU(), nn.Linear(w, LO))

    # ------------------------------------------------------------------ helpers
    def _inputs(self, tokens: Tensor) -> Tensor:
        """Shifted input embeddings (b, n, w) for tokens (b, n)."""
        b = tokens.shape[0]
        hi = torch.cat([torch.full((b, 1), self.n_hi, device=tokens.device), tokens[:, :-1] // LO], 1)
        lo = torch.cat([torch.full((b, 1), LO, device=tokens.device), tokens[:, :-1] % LO], 1)
        return self.emb_hi(hi) + self.emb_lo(lo)

    def _lo_logits(self, h: Tensor, hi: Tensor) -> Tensor:
        return self.head_lo(h + self.cond_hi(hi))

    def _positions(self, grid: tuple[int, int], offset: tuple[int, int] = (0, 0), device=None) -> Tensor:
        """2-D sin-cos embeddings (h * w, width) of the grid's cells, shifted by ``offset`` cells."""
        h, w = grid
        full = sincos_2d(h + offset[0], w + offset[1], self.cfg.width, device).reshape(h + offset[0], w + offset[1], -1)
        return full[offset[0] :, offset[1] :].reshape(h * w, -1)

    def forward(self, tokens: Tensor, grid: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> tuple[Tensor, Tensor]:
        """Teacher-forced logits: (hi (b, n, n_hi), lo (b, n, 512)) for token grids flattened to (b, n).

        ``offset`` shifts the position embeddings, so that a prior trained on crops sees the
        positions of larger images (training draws it at random)."""
        x = self._inputs(tokens) + self._positions(grid, offset, tokens.device)[None]
        for blk in self.blocks:
            x = blk(x, self.cfg.window)
        h = self.norm(x)
        return self.head_hi(h), self._lo_logits(h, tokens // LO)

    def loss(self, tokens: Tensor, grid: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> Tensor:
        """Cross-entropy in bits per token (the code length the prior would achieve)."""
        lh, ll = self(tokens, grid, offset)
        hi, lo = tokens // LO, tokens % LO
        mask = torch.zeros(self.n_hi, LO, dtype=torch.bool, device=tokens.device)
        mask[-1, self.last_lo :] = True  # lo values that do not exist under the last hi
        ll = ll.masked_fill(mask[hi], float("-inf"))
        ce = F.cross_entropy(lh.flatten(0, 1), hi.flatten(), reduction="mean") + F.cross_entropy(ll.flatten(0, 1), lo.flatten(), reduction="mean")
        return ce / math.log(2)

    # ------------------------------------------------------------------ coding
    def _step_hidden(self, prev: int | None, pos: Tensor, caches: list, i: int) -> Tensor:
        if prev is None:
            hi_in, lo_in = self.n_hi, LO
        else:
            hi_in, lo_in = prev // LO, prev % LO
        x = self.emb_hi.weight[hi_in] + self.emb_lo.weight[lo_in] + pos
        for blk, cache in zip(self.blocks, caches):
            x = blk.step(x, cache, i)
        return F.layer_norm(x, (x.shape[-1],), self.norm.weight, self.norm.bias, self.norm.eps)

    @torch.no_grad()
    def _code(self, grid: tuple[int, int], tokens: np.ndarray | None, dec: CategoricalDecoder | None, enc: CategoricalEncoder | None) -> np.ndarray:
        n = grid[0] * grid[1]
        window = self.cfg.window
        limit = min(self.cfg.max_len, MAX_TOKENS)
        if n > limit:
            raise ValueError(f"token grid {grid} has {n:,} tokens; the learned prior codes at most {limit:,} (a transformer "
                             "step per token: ~30 s at the limit); use the context prior (--prior context)")
        pos = self._positions(grid)
        hd = self.cfg.width // self.cfg.heads
        slots = min(n, window) if window else n
        caches = [{"k": torch.zeros(self.cfg.heads, slots, hd), "v": torch.zeros(self.cfg.heads, slots, hd)} for _ in self.blocks]
        out = np.empty(n, dtype=np.int64)
        prev = None
        for i in range(n):
            h = self._step_hidden(prev, pos[i], caches, i)
            p_hi = quantized_pmf(self.head_hi(h).double().numpy())
            if enc is not None:
                t = int(tokens[i])
                hi = t // LO
                enc.encode(np.array([hi]), p_hi[None])
            else:
                hi = int(dec.decode(p_hi[None])[0])
            valid = self.last_lo if hi == self.n_hi - 1 else None
            p_lo = quantized_pmf(self._lo_logits(h, torch.tensor(hi)).double().numpy(), valid)
            if enc is not None:
                lo = t % LO
                enc.encode(np.array([lo]), p_lo[None])
            else:
                lo = int(dec.decode(p_lo[None])[0])
            out[i] = hi * LO + lo
            prev = int(out[i])
        return out

    def encode(self, tokens: np.ndarray) -> bytes:
        """Range-code a token grid (h, w) with this prior."""
        self.check_tokens(tokens)
        grid = tuple(tokens.shape)
        enc = CategoricalEncoder()
        with single_thread():
            self.eval()
            self._code(grid, tokens.reshape(-1), None, enc)
        return enc.finish()

    def decode(self, data: bytes, grid: tuple[int, int]) -> np.ndarray:
        """Inverse of :meth:`encode`: the token grid (h, w)."""
        dec = CategoricalDecoder(data)
        with single_thread():
            self.eval()
            out = self._code(grid, None, dec, None).reshape(grid)
        dec.finish()
        return out

    @property
    def n_codes(self) -> int:
        return self.cfg.n_codes

    @torch.no_grad()
    def bits(self, tokens: np.ndarray) -> float:
        """Teacher-forced code length in bits of a token grid (int ``(h, w)``); float logits, so within
        a few bits of what :meth:`encode` writes."""
        self.check_tokens(tokens)
        t = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64)).reshape(1, -1)
        return float(self.eval().loss(t, tuple(tokens.shape))) * tokens.size

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict:
        return {"config": asdict(self.cfg), "state": self.state_dict()}

    @classmethod
    def from_state(cls, st: dict) -> "TokenPrior":
        prior = cls(PriorConfig(**st["config"]))
        prior.load_state_dict({k: v.float() for k, v in st["state"].items()})
        return prior.eval()

    def fingerprint(self) -> bytes:
        """SHA-256 (first 8 bytes) of the weights in float32, in key order, then of the attention
        window unless it is 0 (so full-attention priors keep the fingerprints their files name)."""
        h = hashlib.sha256()
        for k, v in sorted(self.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().float().numpy().astype("<f4").tobytes())  # little-endian on any host
        if self.cfg.window:
            h.update(b"window" + self.cfg.window.to_bytes(4, "big"))
        return h.digest()[:8]

    def with_window(self, window: int) -> "TokenPrior":
        """The same weights attending to the last ``window`` tokens (0: all of them)."""
        other = TokenPrior(replace(self.cfg, window=window))
        other.load_state_dict(self.state_dict())
        return other.eval()

    def variant_for(self, prior_id: bytes) -> "TokenPrior | None":
        """This prior, or its full-attention form for a file written before it had a window."""
        if prior_id == self.fingerprint():
            return self
        if self.cfg.window and prior_id == (full := self.with_window(0)).fingerprint():
            return full
        return None

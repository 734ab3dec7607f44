"""A portable, wavefront-parallel token prior: integer counts over the causal neighbourhood.

Every probability is a ratio of integers computed with integer arithmetic (counts, fixed
multipliers), divided once in float64 (IEEE division is exactly rounded on every CPU), so the
same bytes give the same frequencies on every machine, thread count, build and GPU; there is no
floating-point network to disagree. Each token is coded in up to three steps:

1. **mode** (5 symbols): "equal to candidate m" for the distinct already-coded neighbours in the
   order left, up, up-left, up-right (m < 4), or "new" (4). Its counts are conditioned on a small
   context: how many distinct neighbours there are and which of them are equal.
2. for a new token, **hi** = t // 512 (384 symbols for Λ24), conditioned on the hi of the left
   (else the upper) neighbour: weights ``8 c(hi | ctx) + c(hi) + 1``.
3. then **lo** = t % 512, conditioned on hi: weights ``4 c(lo | hi) + c(lo) + 1`` (lo values that
   do not exist under the last hi get weight 0).

Wavefront order: a cell (i, j) needs (i, j-1), (i-1, j-1), (i-1, j), (i-1, j+1), all of which lie
on earlier waves of w = 2i + j (the row lag of HEVC's wavefront parallel processing). The cells of
one wave are coded together (modes, then the his of the new ones, then their los), so a grid of
h x w tokens takes 2(h - 1) + w vectorized steps instead of h w sequential ones.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

from ..entropy_coding import CategoricalDecoder, CategoricalEncoder
from .base import Prior, register_prior
from .wavefront import CANDIDATE_OFFSETS, MODES as _MODES, N_MODE_CONTEXTS as _N_CTX, NEW as _NEW, candidates as _candidates, gather, modes as _modes, waves as _waves

__all__ = ["ContextPrior"]

LO = 512
_HI_MUL, _LO_MUL = 8, 4


def _grid_steps(g: np.ndarray):
    """All cells of a known grid at once: (neighbours, candidates, mode contexts, tokens, modes)."""
    h, w = g.shape
    rows, cols = np.divmod(np.arange(h * w), w)
    nb = gather(g, rows, cols, CANDIDATE_OFFSETS)
    cand, ctx = _candidates(nb)
    tok = g.reshape(-1)
    return nb, cand, ctx, tok, _modes(cand, tok)


class _Tables:
    """Integer weight tables (int64) of the three steps."""

    def __init__(self, mode_c: np.ndarray, hi_c: np.ndarray, hi_g: np.ndarray, lo_c: np.ndarray, lo_g: np.ndarray, n_codes: int):
        self.n_codes = n_codes
        self.n_hi = math.ceil(n_codes / LO)
        self.last_lo = n_codes - (self.n_hi - 1) * LO
        self.mode = mode_c + 1  # (_N_CTX, 5)
        self.hi = _HI_MUL * hi_c + hi_g[None] + 1  # (n_hi + 1, n_hi): row n_hi = no neighbour
        self.lo = _LO_MUL * lo_c + lo_g[None] + 1  # (n_hi, 512)
        self.lo[-1, self.last_lo :] = 0

    def mode_probs(self, ctx: np.ndarray, count: np.ndarray) -> np.ndarray:
        w = self.mode[ctx].copy()
        w[:, :_NEW][np.arange(_NEW)[None] >= count[:, None]] = 0  # "equal to candidate m" needs m < count
        return w / w.sum(1, keepdims=True)

    def hi_probs(self, hctx: np.ndarray) -> np.ndarray:
        w = self.hi[hctx]
        return w / w.sum(1, keepdims=True)

    def lo_probs(self, hi: np.ndarray) -> np.ndarray:
        w = self.lo[hi]
        return w / w.sum(1, keepdims=True)


def _hi_context(nb: np.ndarray, n_hi: int) -> np.ndarray:
    """The hi of the left neighbour, else of the upper one, else ``n_hi`` (none)."""
    ref = np.where(nb[:, 0] >= 0, nb[:, 0], nb[:, 1])
    return np.where(ref >= 0, ref // LO, n_hi)


@register_prior(kind=2, name="context")
class ContextPrior(Prior):
    """Integer-count context model over the causal neighbourhood (see the module docstring).

    Build with :meth:`fit` from training token grids; a saved prior holds only integer counts.
    """

    def __init__(self, n_codes: int, counts: dict[str, np.ndarray], stage_counts: list[dict[str, np.ndarray]] | None = None):
        self._n = int(n_codes)
        self.counts = {k: np.asarray(v, dtype=np.int64) for k, v in counts.items()}
        self.t = _Tables(self.counts["mode"], self.counts["hi"], self.counts["hi_global"], self.counts["lo"],
                         self.counts["lo_global"], self._n)
        # residual tokenizers: stage k >= 1 has its own counts (its tokens are distributed differently)
        self.stages = [ContextPrior(n_codes, c) for c in stage_counts or []]

    def stage_prior(self, k: int) -> "ContextPrior":
        """Stage 0: these counts; stage k: its own (the last fitted stage's beyond them)."""
        return self if k == 0 or not self.stages else self.stages[min(k, len(self.stages)) - 1]

    @property
    def n_codes(self) -> int:
        return self._n

    @classmethod
    def fit(cls, grids: np.ndarray | torch.Tensor, n_codes: int) -> "ContextPrior":
        """Count the three steps' statistics on token grids ``(n, h, w)``, or on the stages of
        residual grids ``(n, h, w, K)`` (one set of counts per stage)."""
        grids = np.asarray(grids, dtype=np.int64)
        if grids.ndim == 4:
            first = cls.fit(grids[..., 0], n_codes)
            return cls(n_codes, first.counts, [cls.fit(grids[..., k], n_codes).counts for k in range(1, grids.shape[-1])])
        n_hi = math.ceil(n_codes / LO)
        c = {"mode": np.zeros((_N_CTX, _MODES), np.int64), "hi": np.zeros((n_hi + 1, n_hi), np.int64),
             "hi_global": np.zeros(n_hi, np.int64), "lo": np.zeros((n_hi, LO), np.int64), "lo_global": np.zeros(LO, np.int64)}
        for g in grids:
            nb, cand, ctx, tok, mode = _grid_steps(g)
            np.add.at(c["mode"], (ctx, mode), 1)
            new = mode == _NEW
            hi, lo = tok[new] // LO, tok[new] % LO
            np.add.at(c["hi"], (_hi_context(nb[new], n_hi), hi), 1)
            np.add.at(c["hi_global"], hi, 1)
            np.add.at(c["lo"], (hi, lo), 1)
            np.add.at(c["lo_global"], lo, 1)
        return cls(n_codes, c)

    # ------------------------------------------------------------------ coding
    def _code(self, grid: np.ndarray, enc: CategoricalEncoder | None, dec: CategoricalDecoder | None) -> np.ndarray:
        h, w = grid.shape
        n_hi = self.t.n_hi
        for rows, cols in _waves(h, w):
            nb = gather(grid, rows, cols, CANDIDATE_OFFSETS)
            cand, ctx = _candidates(nb)
            count = (cand >= 0).sum(1)
            p_mode = self.t.mode_probs(ctx, count)
            if enc is not None:
                tok = grid[rows, cols]
                mode = _modes(cand, tok)
                enc.encode(mode, p_mode)
            else:
                mode = dec.decode(p_mode)
            new = mode == _NEW
            if new.any():
                # with K <= 512 codes hi is always 0: nothing to code (a one-symbol distribution)
                p_hi = self.t.hi_probs(_hi_context(nb[new], n_hi)) if n_hi > 1 else None
                if enc is not None:
                    hi, lo = tok[new] // LO, tok[new] % LO
                    if p_hi is not None:
                        enc.encode(hi, p_hi)
                    enc.encode(lo, self.t.lo_probs(hi))
                else:
                    hi = dec.decode(p_hi) if p_hi is not None else np.zeros(int(new.sum()), dtype=np.int64)
                    lo = dec.decode(self.t.lo_probs(hi))
                    grid[rows[new], cols[new]] = hi * LO + lo
            if dec is not None:
                old = ~new
                grid[rows[old], cols[old]] = cand[old, mode[old]]
        return grid

    def encode(self, tokens: np.ndarray) -> bytes:
        self.check_tokens(tokens)
        enc = CategoricalEncoder()
        self._code(np.ascontiguousarray(tokens, dtype=np.int64), enc, None)
        return enc.finish()

    def decode(self, data: bytes, grid: tuple[int, int]) -> np.ndarray:
        dec = CategoricalDecoder(data)
        out = self._code(np.full(grid, -1, dtype=np.int64), None, dec)
        dec.finish()
        if (out < 0).any() or (out >= self._n).any():
            raise ValueError("decoded tokens out of range")
        return out

    def bits(self, tokens: np.ndarray) -> float:
        """Ideal code length: Σ -log2 p over the three steps (float64, for analysis only)."""
        self.check_tokens(tokens)
        nb, cand, ctx, tok, mode = _grid_steps(np.ascontiguousarray(tokens, dtype=np.int64))
        p = self.t.mode_probs(ctx, (cand >= 0).sum(1))[np.arange(len(tok)), mode]
        bits = -np.log2(p).sum()
        new = mode == _NEW
        hi, lo = tok[new] // LO, tok[new] % LO
        bits -= np.log2(self.t.hi_probs(_hi_context(nb[new], self.t.n_hi))[np.arange(len(hi)), hi]).sum()
        bits -= np.log2(self.t.lo_probs(hi)[np.arange(len(hi)), lo]).sum()
        return float(bits)

    # ------------------------------------------------------------------ persistence
    def fingerprint(self) -> bytes:
        """SHA-256 (first 8 bytes) of the codebook size and the integer counts."""
        h = hashlib.sha256(str(self._n).encode())
        for counts in [self.counts] + [s.counts for s in self.stages]:
            for k in sorted(counts):
                h.update(k.encode())
                h.update(counts[k].astype("<i8").tobytes())
        return h.digest()[:8]

    def state(self) -> dict:
        every = [self.counts] + [s.counts for s in self.stages]
        if any(v.max(initial=0) >= 2**31 for c in every for v in c.values()):
            raise ValueError("counts beyond int32: fit on fewer tokens")

        def pack(c):
            return {k: torch.from_numpy(v.astype(np.int32)) for k, v in c.items()}

        st = {"config": {"n_codes": self._n, "stages": 1 + len(self.stages)}, "counts": pack(self.counts)}
        if self.stages:
            st["stage_counts"] = {str(k + 1): pack(s.counts) for k, s in enumerate(self.stages)}
        return st

    @classmethod
    def from_state(cls, st: dict) -> "ContextPrior":
        def unpack(c):
            return {k: v.numpy().astype(np.int64) for k, v in c.items()}

        stages = st.get("stage_counts") or {}
        return cls(int(st["config"]["n_codes"]), unpack(st["counts"]), [unpack(stages[k]) for k in sorted(stages, key=int)])

"""A portable neural token prior: a small MLP over the causal neighbourhood, run in integers.

Why integers: a float network's logits differ in their last bits between CPUs, kernels, thread
counts and GPUs, and one flipped rounding makes a bitstream undecodable elsewhere. Here every
number that decides a probability is an integer computed exactly (after Ballé et al., "Integer
networks for data compression with latent-variable models", ICLR 2019):

* int8 embeddings and weights, int32 biases, each with a power-of-two scale;
* products summed exactly: the matrix products run in float32 on integer values whose partial
  sums provably stay below 2^24 (checked per layer from the weights; float64, exact below 2^53,
  where they might not), so every summation order, BLAS, SIMD width and GPU gives the same
  integer;
* activations ``clip(round_half_up(acc / 2^r), 0, 127)`` (ReLU, saturated to 7 bits, by shifts);
* logits in fixed point (1/16 nat), probabilities from an integer exp table and one division
  (:func:`npq.codec.entropy_coding.fixed_logit_pmf`).

The model (one network per residual stage), for a cell with causal neighbours t_1..t_K (the
left / up / up-left / up-right candidates first, then further cells of earlier waves; stage k >= 1
also sees stage k-1's plane around the cell, all of it known):

    x     = concat_k (E_hi[t_k // 512] + E_lo[t_k % 512])      (a "none" row outside the grid)
    a1    = act(W1 x + b1 + C[mode context])
    p2    = W2 a1 + b2;  a2 = act(p2)
    mode  ~ softmax(W_m a2 + b_m)    over {equal to candidate 0..3, new}
    hi    ~ softmax(W_h a2 + b_h)    (new tokens only; hi = t // 512, 384 values for Λ24)
    lo    ~ softmax(W_l act(p2 + G[hi]) + b_l)   (lo = t % 512, given hi)

Coding runs in waves (:mod:`npq.codec.priors.wavefront`): the cells of a wave go through the
network together, so an h x w grid takes 2(h - 1) + w batched steps. Trained in float with
quantization-aware fine-tuning (:mod:`npq.codec.priors.neural_training`), then exported.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import torch

from ..entropy_coding import LOGIT_SCALE, CategoricalDecoder, CategoricalEncoder, fixed_logit_pmf
from .base import Prior, register_prior
from .wavefront import CANDIDATE_OFFSETS, MODES, N_MODE_CONTEXTS, NEW, PaddedGrid, candidates, check_causal, modes, waves

__all__ = ["NeuralPrior", "IntegerNet", "OFFSETS", "PREV_OFFSETS", "LO"]

LO = 512
OFFSETS = CANDIDATE_OFFSETS + ((0, -2), (-1, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2))
PREV_OFFSETS = ((0, 0), (0, -1), (-1, 0), (0, 1), (1, 0))  # stage k-1's plane: known everywhere
ACT_MAX = 127
LOGIT_BITS = int(math.log2(LOGIT_SCALE))  # logits carry 4 fractional bits (1/16 nat)
# the coding scheme, hashed into the fingerprint: a change to the probability computation (exp
# table, logit precision, masking) or to the range coder's model must change this string
SCHEME = "npq-neural-1: logits 1/16 nat, entropy_coding._EXP_TABLE, constriction Categorical(perfect=False)"
_GROUP = 4096  # the encoder runs the network on groups of waves of about this many cells

_INT8 = ("emb_hi", "emb_lo", "w1", "w2", "w_mode", "w_hi", "w_lo")
_INT32 = ("b1", "ctx", "b2", "hi_gate", "b_mode", "b_hi", "b_lo")
_SHIFTS = ("r1", "r2", "r_mode", "r_hi", "r_lo")


def shift_round(v: np.ndarray, r: int) -> np.ndarray:
    """round(v / 2^r) with halves rounded up, on int64 (r <= 0 multiplies exactly)."""
    if r <= 0:
        return v << -r
    return (v + (1 << (r - 1))) >> r


def _act(v: np.ndarray, r: int) -> np.ndarray:
    """clip(round_half_up(v / 2^r), 0, 127) on int64 (in place on the shifted copy)."""
    a = shift_round(v, r)
    np.maximum(a, 0, out=a)
    return np.minimum(a, ACT_MAX, out=a)


class IntegerNet:
    """One stage's network in integers (shapes: ``d`` embedding width, ``n_in`` inputs, ``hidden``
    units, ``n_hi`` hi values). ``arrays`` holds the int8 / int32 tensors named in :data:`_INT8`
    and :data:`_INT32`, ``shifts`` the five right shifts ``r1, r2, r_mode, r_hi, r_lo``."""

    def __init__(self, arrays: dict[str, np.ndarray], shifts: dict[str, int]):
        missing = [k for k in _INT8 + _INT32 if k not in arrays] + [k for k in _SHIFTS if k not in shifts]
        if missing:
            raise ValueError(f"integer network lacks {missing}")
        self.arrays = {k: np.asarray(arrays[k]) for k in _INT8 + _INT32}
        for k in _INT8:
            if self.arrays[k].dtype != np.int8:
                raise ValueError(f"{k} must be int8, got {self.arrays[k].dtype}")
        for k in _INT32:
            if self.arrays[k].dtype != np.int32:
                raise ValueError(f"{k} must be int32, got {self.arrays[k].dtype}")
        self.shifts = {k: int(shifts[k]) for k in _SHIFTS}
        if any(not -30 <= v <= 40 for v in self.shifts.values()):
            raise ValueError(f"shifts out of range: {self.shifts}")
        a = self.arrays
        self.n_hi, self.d = a["emb_hi"].shape[0] - 1, a["emb_hi"].shape[1]
        self.hidden = a["w1"].shape[1]
        self.n_in = a["w1"].shape[0] // self.d
        want = {"emb_lo": (LO + 1, self.d), "w1": (self.n_in * self.d, self.hidden), "b1": (self.hidden,),
                "ctx": (N_MODE_CONTEXTS, self.hidden), "w2": (self.hidden, self.hidden), "b2": (self.hidden,),
                "hi_gate": (self.n_hi, self.hidden), "w_mode": (self.hidden, MODES), "b_mode": (MODES,),
                "w_hi": (self.hidden, self.n_hi), "b_hi": (self.n_hi,), "w_lo": (self.hidden, LO), "b_lo": (LO,)}
        bad = {k: (a[k].shape, s) for k, s in want.items() if a[k].shape != s}
        if bad or self.n_in * self.d != a["w1"].shape[0]:
            raise ValueError(f"integer network shapes do not fit together: {bad or a['w1'].shape}")
        # Float copies of the weights for exact integer products: every partial sum of a product
        # is bounded by max_j sum_i |x_i| |w_ij| (inputs: |x| <= the embeddings' reach, or 127
        # after an activation); below 2^24 float32 holds all of them exactly, whatever the order of
        # summation, else float64 (exact below 2^53). Either way the result is the exact integer.
        x_max = {"w1": int(np.abs(a["emb_hi"].astype(np.int64)).max() + np.abs(a["emb_lo"].astype(np.int64)).max())}
        self._f = {}
        for k in ("w1", "w2", "w_mode", "w_hi", "w_lo"):
            bound = x_max.get(k, ACT_MAX) * int(np.abs(a[k].astype(np.int64)).sum(0).max(initial=0))
            self._f[k] = a[k].astype(np.float32 if bound < 2**24 else np.float64)
        self._i = {k: a[k].astype(np.int64) for k in _INT32 + ("emb_hi", "emb_lo")}

    @staticmethod
    def _mm(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Exact integer product ``x @ w`` (int64): the float type of ``w`` holds every partial sum."""
        return (x.astype(w.dtype) @ w).astype(np.int64)

    def hidden_state(self, tokens: np.ndarray, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``tokens`` (n, n_in) with -1 for none, ``ctx`` (n,) mode contexts -> (p2, a2), (n, hidden)."""
        i = self._i
        hi = np.where(tokens >= 0, tokens // LO, self.n_hi)
        lo = np.where(tokens >= 0, tokens % LO, LO)
        x = (i["emb_hi"][hi] + i["emb_lo"][lo]).reshape(len(tokens), -1)
        a1 = _act(self._mm(x, self._f["w1"]) + i["b1"] + i["ctx"][ctx], self.shifts["r1"])
        p2 = self._mm(a1, self._f["w2"]) + i["b2"]
        return p2, _act(p2, self.shifts["r2"])

    def mode_logits(self, a2: np.ndarray) -> np.ndarray:
        """Fixed-point logits int64 ``(n, modes)`` of each token's mode (a neighbour's value or new)
        from the hidden activations ``a2`` (int64 ``(n, hidden)``)."""
        return shift_round(self._mm(a2, self._f["w_mode"]) + self._i["b_mode"], self.shifts["r_mode"])

    def hi_logits(self, a2: np.ndarray) -> np.ndarray:
        """Fixed-point logits int64 ``(n, hi)`` of the high part of a new token's index from the hidden
        activations ``a2`` (int64 ``(n, hidden)``)."""
        return shift_round(self._mm(a2, self._f["w_hi"]) + self._i["b_hi"], self.shifts["r_hi"])

    def lo_logits(self, p2: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Fixed-point logits int64 ``(n, lo)`` of the low part of a new token's index given its high
        part ``hi`` (int64 ``(n,)``) and the pre-activations ``p2`` (int64 ``(n, hidden)``)."""
        a3 = _act(p2 + self._i["hi_gate"][hi], self.shifts["r2"])
        return shift_round(self._mm(a3, self._f["w_lo"]) + self._i["b_lo"], self.shifts["r_lo"])


@register_prior(kind=3, name="neural")
class NeuralPrior(Prior):
    """Integer MLP prior over the causal neighbourhood (module docstring); ``nets[k]`` codes stage
    k of a residual grid given stage k-1 (stages past the last net use the last one)."""

    def __init__(self, n_codes: int, nets: list[IntegerNet], offsets=OFFSETS, prev_offsets=PREV_OFFSETS):
        self._n = int(n_codes)
        self.offsets = tuple(tuple(int(v) for v in o) for o in offsets)
        self.prev_offsets = tuple(tuple(int(v) for v in o) for o in prev_offsets)
        check_causal(self.offsets)
        self._off, self._prev_off = np.array(self.offsets, dtype=np.int64), np.array(self.prev_offsets, dtype=np.int64).reshape(-1, 2)
        if np.abs(np.concatenate([self._off, self._prev_off])).max() > PaddedGrid.PAD:
            raise ValueError(f"neighbour offsets reach at most {PaddedGrid.PAD} cells")
        if self.offsets[:4] != CANDIDATE_OFFSETS:
            raise ValueError(f"the first four offsets must be the candidates {CANDIDATE_OFFSETS}")
        if not nets:
            raise ValueError("a neural prior needs at least one network")
        self.n_hi = math.ceil(self._n / LO)
        self.last_lo = self._n - (self.n_hi - 1) * LO
        for k, net in enumerate(nets):
            want = len(self.offsets) + (len(self.prev_offsets) if k else 0)
            if net.n_in != want or net.n_hi != self.n_hi:
                raise ValueError(f"network {k} takes {net.n_in} inputs over {net.n_hi} hi values; "
                                 f"this prior needs {want} over {self.n_hi}")
        self.nets = list(nets)

    @property
    def n_codes(self) -> int:
        return self._n

    def net(self, stage: int) -> IntegerNet:
        """The integer network of residual stage ``stage`` (0-based; later stages share the last
        network)."""
        return self.nets[min(stage, len(self.nets) - 1)]

    # ------------------------------------------------------------------ the model on a set of cells
    def _inputs(self, net: IntegerNet, grid: PaddedGrid, prev: PaddedGrid | None, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The cells' input tokens (n, net.n_in); a stage-0 network ignores ``prev`` (a prior with
        one network codes every stage on its own)."""
        if prev is None or net.n_in == len(self.offsets):
            return grid.gather(rows, cols, self._off)
        return np.concatenate([grid.gather(rows, cols, self._off), prev.gather(rows, cols, self._prev_off)], 1)

    def _lo_allowed(self, hi: np.ndarray) -> np.ndarray:
        return np.arange(LO)[None] < np.where(hi == self.n_hi - 1, self.last_lo, LO)[:, None]

    def _cells(self, net: IntegerNet, grid, prev, rows, cols):
        """(candidates, p2, a2, mode probabilities) of cells whose neighbours are known (p2: the
        second layer before its activation, which the lo head needs; a2: after it)."""
        tin = self._inputs(net, grid, prev, rows, cols)
        cand, ctx = candidates(tin[:, :4])
        p2, a2 = net.hidden_state(tin, ctx)
        allowed = np.arange(MODES)[None] < (cand >= 0).sum(1)[:, None]
        allowed[:, NEW] = True
        return cand, p2, a2, fixed_logit_pmf(net.mode_logits(a2), allowed)

    def _new_probs(self, net: IntegerNet, a2, p2, hi=None):
        p_hi = fixed_logit_pmf(net.hi_logits(a2))
        p_lo = None if hi is None else fixed_logit_pmf(net.lo_logits(p2, hi), self._lo_allowed(hi))
        return p_hi, p_lo

    # ------------------------------------------------------------------ coding one plane
    def _encode_plane(self, enc: CategoricalEncoder, net: IntegerNet, grid: np.ndarray, prev: np.ndarray | None) -> None:
        h, w = grid.shape
        padded, prev = PaddedGrid(grid), None if prev is None else PaddedGrid(prev)
        group: list[tuple[np.ndarray, np.ndarray]] = []
        cells = 0
        for k, wave in enumerate(waves(h, w)):  # the network runs on groups of waves; coding stays wave by wave
            group.append(wave)
            cells += len(wave[0])
            if cells < _GROUP and k < 2 * (h - 1) + w - 1:
                continue
            rows = np.concatenate([r for r, _ in group])
            cols = np.concatenate([c for _, c in group])
            cand, p2, a2, p_mode = self._cells(net, padded, prev, rows, cols)
            tok = grid[rows, cols]
            mode = modes(cand, tok)
            new = mode == NEW
            hi = tok[new] // LO
            p_hi, p_lo = self._new_probs(net, a2[new], p2[new], hi)
            lo = tok[new] % LO
            start = nstart = 0
            for r, _ in group:
                stop = start + len(r)
                nstop = nstart + int(new[start:stop].sum())
                if stop > start:
                    enc.encode(mode[start:stop], p_mode[start:stop])
                if nstop > nstart:
                    if self.n_hi > 1:  # one hi value (<= 512 codes): nothing to code
                        enc.encode(hi[nstart:nstop], p_hi[nstart:nstop])
                    enc.encode(lo[nstart:nstop], p_lo[nstart:nstop])
                start, nstart = stop, nstop
            group, cells = [], 0

    def _decode_plane(self, dec: CategoricalDecoder, net: IntegerNet, shape: tuple[int, int], prev: np.ndarray | None) -> np.ndarray:
        padded, prev = PaddedGrid(np.full(shape, -1, dtype=np.int64)), None if prev is None else PaddedGrid(prev)
        grid = padded.grid
        for rows, cols in waves(*shape):
            if not len(rows):
                continue
            cand, p2, a2, p_mode = self._cells(net, padded, prev, rows, cols)
            mode = dec.decode(p_mode)
            new = mode == NEW
            old = ~new
            grid[rows[old], cols[old]] = cand[old, mode[old]]
            if new.any():
                if self.n_hi > 1:
                    hi = dec.decode(self._new_probs(net, a2[new], p2[new])[0])
                else:
                    hi = np.zeros(int(new.sum()), dtype=np.int64)
                lo = dec.decode(fixed_logit_pmf(net.lo_logits(p2[new], hi), self._lo_allowed(hi)))
                grid[rows[new], cols[new]] = hi * LO + lo
        if (grid < 0).any() or (grid >= self._n).any():
            raise ValueError("decoded tokens out of range")
        return grid.copy()

    # ------------------------------------------------------------------ Prior interface
    def encode(self, tokens: np.ndarray) -> bytes:
        self.check_tokens(tokens)
        enc = CategoricalEncoder()
        self._encode_plane(enc, self.net(0), np.ascontiguousarray(tokens, dtype=np.int64), None)
        return enc.finish()

    def decode(self, data: bytes, grid: tuple[int, int]) -> np.ndarray:
        dec = CategoricalDecoder(data)
        out = self._decode_plane(dec, self.net(0), grid, None)
        dec.finish()
        return out

    def encode_stages(self, tokens: np.ndarray) -> bytes:
        """All stages of a residual grid ``(h, w, m)`` in one range-coded stream, stage k coded
        given stage k-1 (no length fields: the decoder knows where each plane ends)."""
        planes = [np.ascontiguousarray(tokens[..., k], dtype=np.int64) for k in range(tokens.shape[-1])]
        for p in planes:
            self.check_tokens(p)
        enc = CategoricalEncoder()
        for k, p in enumerate(planes):
            self._encode_plane(enc, self.net(k), p, planes[k - 1] if k else None)
        return enc.finish()

    def decode_stages(self, data: bytes, grid: tuple[int, int], stages: int) -> np.ndarray:
        dec = CategoricalDecoder(data)
        planes: list[np.ndarray] = []
        for k in range(stages):
            planes.append(self._decode_plane(dec, self.net(k), grid, planes[-1] if k else None))
        dec.finish()
        return np.stack(planes, -1)

    def bits(self, tokens: np.ndarray) -> float:
        """Ideal code length (Σ -log2 p, float64, for analysis) of a grid ``(h, w)`` or of the
        stages of a residual grid ``(h, w, m)``."""
        t = np.asarray(tokens, dtype=np.int64)
        planes = [t] if t.ndim == 2 else [t[..., k] for k in range(t.shape[-1])]
        total = 0.0
        for k, g in enumerate(planes):
            self.check_tokens(g)
            net, prev = self.net(k), planes[k - 1] if k else None
            rows, cols = np.divmod(np.arange(g.size), g.shape[1])
            cand, p2, a2, p_mode = self._cells(net, PaddedGrid(g), None if prev is None else PaddedGrid(prev), rows, cols)
            tok = g.reshape(-1)
            mode = modes(cand, tok)
            new = mode == NEW
            hi, lo = tok[new] // LO, tok[new] % LO
            p_hi, p_lo = self._new_probs(net, a2[new], p2[new], hi)
            n = np.arange(len(hi))
            total -= np.log2(p_mode[np.arange(len(tok)), mode]).sum() + np.log2(p_hi[n, hi]).sum() + np.log2(p_lo[n, lo]).sum()
        return float(total)

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict:
        return {"scheme": SCHEME, "n_codes": self._n, "offsets": [list(o) for o in self.offsets], "prev_offsets": [list(o) for o in self.prev_offsets],
                "shifts": [net.shifts for net in self.nets]}

    def fingerprint(self) -> bytes:
        """SHA-256 (first 8 bytes) of the configuration and every integer array."""
        h = hashlib.sha256(json.dumps(self._config(), sort_keys=True).encode())
        for net in self.nets:
            for k in _INT8 + _INT32:
                h.update(k.encode())
                h.update(str(net.arrays[k].shape).encode())
                h.update(net.arrays[k].astype(net.arrays[k].dtype.newbyteorder("<")).tobytes())
        return h.digest()[:8]

    def state(self) -> dict:
        return {"config": self._config(),
                "nets": {str(k): {n: torch.from_numpy(np.ascontiguousarray(a)) for n, a in net.arrays.items()} for k, net in enumerate(self.nets)}}

    @classmethod
    def from_state(cls, st: dict) -> "NeuralPrior":
        cfg, nets = st["config"], st["nets"]
        if cfg.get("scheme", SCHEME) != SCHEME:
            raise ValueError(f"this neural prior uses coding scheme {cfg['scheme']!r}; this npq codes {SCHEME!r}")
        keys = sorted(nets, key=int)
        if keys != [str(k) for k in range(len(keys))] or len(cfg["shifts"]) != len(keys):
            raise ValueError("stage networks must be numbered 0..m-1, one set of shifts each")
        built = [IntegerNet({n: v.numpy() for n, v in nets[k].items()}, cfg["shifts"][i]) for i, k in enumerate(keys)]
        return cls(int(cfg["n_codes"]), built, [tuple(o) for o in cfg["offsets"]], [tuple(o) for o in cfg["prev_offsets"]])

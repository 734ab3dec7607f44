"""Train the integer neural prior (:mod:`npq.codec.priors.neural`): float training, then
quantization-aware fine-tuning with the integer model's exact rounding, then export.

Phase 1 trains a float network with the integer one's shape. Phase 2 fixes power-of-two scales
(weights: the largest that keeps int8; activations: the 99.9th percentile of each layer's
pre-activations maps to 127) and fine-tunes through fake quantization with straight-through
gradients: weights rounded to int8, activations rounded half up and clipped to [0, 127], as the
integer network computes them. Export rounds the same way, so the exported prior's code length
equals the fine-tuned network's up to the logits' 1/16-nat rounding.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...utils.progress import progress_bar
from .neural import ACT_MAX, LO, LOGIT_BITS, OFFSETS, PREV_OFFSETS, IntegerNet, NeuralPrior
from .wavefront import MODES, N_MODE_CONTEXTS, NEW, candidates, gather, modes

__all__ = ["cell_table", "train_neural_prior", "FloatNet"]


def cell_table(grids: np.ndarray, stage: int = 0) -> dict[str, np.ndarray]:
    """Every cell of token grids ``(n, h, w)`` (or stage ``stage`` of residual grids
    ``(n, h, w, m)``) as a training row: its neighbours' tokens (-1 none), mode context, mode and
    token."""
    grids = np.asarray(grids, dtype=np.int64)
    planes = grids if grids.ndim == 3 else grids[..., stage]
    prev = None if grids.ndim == 3 or stage == 0 else grids[..., stage - 1]
    h, w = planes.shape[1:]
    rows, cols = np.divmod(np.arange(h * w), w)
    tin, ctx, mode, tok = [], [], [], []
    for k, g in enumerate(planes):
        t = gather(g, rows, cols, OFFSETS)
        if prev is not None:
            t = np.concatenate([t, gather(prev[k], rows, cols, PREV_OFFSETS)], 1)
        cand, c = candidates(t[:, :4])
        tin.append(t)
        ctx.append(c)
        tok.append(g.reshape(-1))
        mode.append(modes(cand, tok[-1]))
    return {"tokens": np.concatenate(tin), "ctx": np.concatenate(ctx), "mode": np.concatenate(mode), "tok": np.concatenate(tok)}


def _ste(x: Tensor, q: Tensor) -> Tensor:
    return x + (q - x).detach()


def _round_half_up(x: Tensor) -> Tensor:
    return torch.floor(x + 0.5)


class FloatNet(nn.Module):
    """The float twin of :class:`IntegerNet`; ``scales`` (set by :meth:`calibrate`) switches on
    fake quantization."""

    def __init__(self, n_hi: int, n_in: int, d: int = 32, hidden: int = 256):
        super().__init__()
        self.n_hi, self.n_in, self.d, self.hidden_dim = n_hi, n_in, d, hidden
        self.emb_hi = nn.Parameter(torch.randn(n_hi + 1, d) * 0.1)
        self.emb_lo = nn.Parameter(torch.randn(LO + 1, d) * 0.1)
        self.fc1, self.fc2 = nn.Linear(n_in * d, hidden), nn.Linear(hidden, hidden)
        self.ctx = nn.Parameter(torch.zeros(N_MODE_CONTEXTS, hidden))
        self.hi_gate = nn.Parameter(torch.zeros(n_hi, hidden))
        self.mode, self.hi, self.lo = nn.Linear(hidden, MODES), nn.Linear(hidden, n_hi), nn.Linear(hidden, LO)
        self.scales: dict[str, int] | None = None

    # -- fake quantization helpers (identity while scales is None)
    def _w(self, name: str, w: Tensor) -> Tensor:
        if self.scales is None:
            return w
        s = 2.0 ** self.scales[name]
        return _ste(w, torch.clamp(torch.round(w * s), -127, 127) / s)

    def _b(self, b: Tensor, scale_log2: int) -> Tensor:
        if self.scales is None:
            return b
        s = 2.0 ** scale_log2
        return _ste(b, torch.clamp(torch.round(b * s), -(2**31) + 1, 2**31 - 1) / s)

    def _a(self, name: str, v: Tensor) -> Tensor:
        if self.scales is None:
            return F.relu(v)
        s = 2.0 ** self.scales[name]
        v = torch.clamp(v, 0, ACT_MAX / s)
        return _ste(v, torch.clamp(_round_half_up(v * s), 0, ACT_MAX) / s)

    def _acc(self, a: str, w: str) -> int:
        return self.scales[a] + self.scales[w] if self.scales else 0

    def trunk(self, tokens: Tensor, ctx: Tensor) -> tuple[Tensor, Tensor]:
        """(p2, a2) of cells: ``tokens`` (n, n_in) (-1 none), ``ctx`` (n,)."""
        hi = torch.where(tokens >= 0, tokens // LO, self.n_hi)
        lo = torch.where(tokens >= 0, tokens % LO, LO)
        x = (self._w("emb", self.emb_hi)[hi] + self._w("emb", self.emb_lo)[lo]).reshape(len(tokens), -1)
        acc1 = self._acc("emb", "w1")
        pre1 = x @ self._w("w1", self.fc1.weight).T + self._b(self.fc1.bias, acc1) + self._b(self.ctx, acc1)[ctx]
        a1 = self._a("a1", pre1)
        p2 = a1 @ self._w("w2", self.fc2.weight).T + self._b(self.fc2.bias, self._acc("a1", "w2"))
        return p2, self._a("a2", p2)

    def head(self, name: str, lin: nn.Linear, a: Tensor) -> Tensor:
        """The float (quantization-aware) logits ``(n, k)`` of head ``name`` (a Linear) on activations
        ``a`` ``(n, hidden)``."""
        return a @ self._w(name, lin.weight).T + self._b(lin.bias, self._acc("a2", name))

    def lo_input(self, p2: Tensor, hi: Tensor) -> Tensor:
        """The hidden activations ``(n, hidden)`` of the low-part head: pre-activations ``p2`` ``(n,
        hidden)`` gated by the high part ``hi`` (int64 ``(n,)``)."""
        return self._a("a2", p2 + self._b(self.hi_gate, self._acc("a1", "w2"))[hi])

    def loss(self, tokens: Tensor, ctx: Tensor, mode: Tensor, tok: Tensor, n_codes: int) -> Tensor:
        """Mean code length in nats per cell (mode, then hi and lo of the new tokens)."""
        p2, a2 = self.trunk(tokens, ctx)
        ml = self.head("w_mode", self.mode, a2)
        valid = torch.arange(MODES)[None] < (ctx // 16)[:, None]  # the mode context holds the candidate count
        valid[:, NEW] = True
        nats = F.cross_entropy(ml.masked_fill(~valid, -1e4), mode, reduction="sum")
        new = mode == NEW
        if new.any():
            hi, lo = tok[new] // LO, tok[new] % LO
            nats = nats + F.cross_entropy(self.head("w_hi", self.hi, a2[new]), hi, reduction="sum")
            ll = self.head("w_lo", self.lo, self.lo_input(p2[new], hi))
            last = n_codes - (self.n_hi - 1) * LO
            bad = (torch.arange(LO)[None] >= last) & (hi == self.n_hi - 1)[:, None]
            nats = nats + F.cross_entropy(ll.masked_fill(bad, -1e4), lo, reduction="sum")
        return nats / len(tokens)

    @torch.no_grad()
    def calibrate(self, tokens: Tensor, ctx: Tensor, pct: float = 0.999) -> dict[str, int]:
        """Fix the power-of-two scales (log2) from the weights and the pre-activations of a sample."""
        def wscale(*ws: Tensor) -> int:
            m = max(float(w.abs().max()) for w in ws)
            return int(math.floor(math.log2(127 / max(m, 1e-12))))

        self.scales = None
        sc = {"emb": wscale(self.emb_hi, self.emb_lo), "w1": wscale(self.fc1.weight), "w2": wscale(self.fc2.weight),
              "w_mode": wscale(self.mode.weight), "w_hi": wscale(self.hi.weight), "w_lo": wscale(self.lo.weight)}
        hi = torch.where(tokens >= 0, tokens // LO, self.n_hi)
        lo = torch.where(tokens >= 0, tokens % LO, LO)
        x = (self.emb_hi[hi] + self.emb_lo[lo]).reshape(len(tokens), -1)
        pre1 = F.relu(self.fc1(x) + self.ctx[ctx])
        pre2 = F.relu(self.fc2(pre1))

        def ascale(v: Tensor) -> int:
            q = float(torch.quantile(v.reshape(-1)[:1_000_000], pct))
            return int(math.floor(math.log2(ACT_MAX / max(q, 1e-6))))

        sc["a1"], sc["a2"] = ascale(pre1), ascale(pre2)
        self.scales = sc
        return sc

    def export(self) -> IntegerNet:
        """The integer network (needs :meth:`calibrate` first)."""
        if self.scales is None:
            raise ValueError("calibrate the network before exporting it")
        s = self.scales

        def q8(w: Tensor, name: str) -> np.ndarray:
            return torch.clamp(torch.round(w.detach().double() * 2.0 ** s[name]), -127, 127).numpy().astype(np.int8)

        def q32(b: Tensor, scale_log2: int) -> np.ndarray:
            return torch.clamp(torch.round(b.detach().double() * 2.0 ** scale_log2), -(2**31) + 1, 2**31 - 1).numpy().astype(np.int32)

        acc1, acc2, acch = s["emb"] + s["w1"], s["a1"] + s["w2"], {k: s["a2"] + s[k] for k in ("w_mode", "w_hi", "w_lo")}
        arrays = {"emb_hi": q8(self.emb_hi, "emb"), "emb_lo": q8(self.emb_lo, "emb"),
                  "w1": q8(self.fc1.weight.T, "w1"), "b1": q32(self.fc1.bias, acc1), "ctx": q32(self.ctx, acc1),
                  "w2": q8(self.fc2.weight.T, "w2"), "b2": q32(self.fc2.bias, acc2), "hi_gate": q32(self.hi_gate, acc2),
                  "w_mode": q8(self.mode.weight.T, "w_mode"), "b_mode": q32(self.mode.bias, acch["w_mode"]),
                  "w_hi": q8(self.hi.weight.T, "w_hi"), "b_hi": q32(self.hi.bias, acch["w_hi"]),
                  "w_lo": q8(self.lo.weight.T, "w_lo"), "b_lo": q32(self.lo.bias, acch["w_lo"])}
        shifts = {"r1": acc1 - s["a1"], "r2": acc2 - s["a2"], "r_mode": acch["w_mode"] - LOGIT_BITS,
                  "r_hi": acch["w_hi"] - LOGIT_BITS, "r_lo": acch["w_lo"] - LOGIT_BITS}
        return IntegerNet(arrays, shifts)


def _train_net(table: dict[str, np.ndarray], n_codes: int, n_in: int, steps: int, qat_steps: int, batch: int, lr: float,
               d: int, hidden: int, seed: int, progress: bool, label: str) -> tuple[IntegerNet, list[float]]:
    torch.manual_seed(seed)
    n_hi = math.ceil(n_codes / LO)
    net = FloatNet(n_hi, n_in, d, hidden)
    t = {k: torch.from_numpy(v) for k, v in table.items()}
    n = len(t["tok"])
    g = torch.Generator().manual_seed(seed)
    hist: list[float] = []
    for phase, count, plr in (("float", steps, lr), ("qat", qat_steps, lr / 10)):
        if count == 0:
            continue
        if phase == "qat":
            idx = torch.randperm(n, generator=g)[:65536]
            net.calibrate(t["tokens"][idx], t["ctx"][idx])
        opt = torch.optim.AdamW(net.parameters(), lr=plr, weight_decay=1e-4)
        warm = max(1, int((0.05 if phase == "float" else 0.01) * count))  # linear warm-up, then cosine decay
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i, w=warm, c=count: (i + 1) / w if i < w else 0.5 * (1 + math.cos(math.pi * (i - w) / max(1, c - w))))
        bar = progress_bar(range(count), f"{label} ({phase})", progress)
        for _ in bar:
            idx = torch.randint(0, n, (batch,), generator=g)
            loss = net.loss(t["tokens"][idx], t["ctx"][idx], t["mode"][idx], t["tok"][idx], n_codes)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            hist.append(loss.item() / math.log(2))
            bar.set_postfix(bits=f"{sum(hist[-50:]) / len(hist[-50:]):.2f}")
    if net.scales is None:
        idx = torch.randperm(n, generator=g)[:65536]
        net.calibrate(t["tokens"][idx], t["ctx"][idx])
    return net.export(), hist


def train_neural_prior(tokens: np.ndarray | Tensor, n_codes: int, steps: int = 4000, qat_steps: int = 1000, batch: int = 2048,
                       lr: float = 2e-3, d: int = 32, hidden: int = 256, seed: int = 0,
                       progress: bool = True) -> tuple[NeuralPrior, list[float]]:
    """Train on token grids ``(n, h, w)`` (one network) or residual grids ``(n, h, w, m)`` (one per
    stage, stage k given stage k-1); returns the integer prior and the loss history (bits/token,
    all stages' histories one after the other)."""
    grids = np.asarray(tokens, dtype=np.int64)
    stages = 1 if grids.ndim == 3 else grids.shape[-1]
    nets, hist = [], []
    for k in range(stages):
        n_in = len(OFFSETS) + (len(PREV_OFFSETS) if k else 0)
        net, h = _train_net(cell_table(grids, k), n_codes, n_in, steps, qat_steps, batch, lr, d, hidden, seed + k, progress,
                            f"neural prior stage {k + 1}/{stages}" if stages > 1 else "neural prior")
        nets.append(net)
        hist += h
    return NeuralPrior(n_codes, nets), hist

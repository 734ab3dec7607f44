"""Learnable vector quantization and the remedies for its training problems.

:class:`VectorQuantizer` is a K x d codebook with

* assignment by Euclidean or cosine distance (chunked: a K = 2^18 codebook at batch 4,096 never
  materializes the full score matrix), by the logits ``z^T C`` (index backpropagation), or by
  learned logits (Gumbel softmax);
* codebook updates by gradient (codebook loss) or by EMA with Laplace smoothing;
* initialization: random, k-means on the first training batch, or a fixed codebook (a tensor or a
  spherical code name such as ``"leech"``) that then keeps learning;
* remedies: dead-code revival, CVQ-style online clustering towards anchors, affine
  reparameterization (learned, or from running statistics of the inputs);
* gradient estimators: STE, rotation trick, index backpropagation, Gumbel softmax.

All codebook statistics (EMA sums, usage counts, k-means, replacement samples, anchors, running
moments) are reduced over ``torch.distributed`` ranks so every rank holds the same codebook; every
rank runs the same collectives whatever its local batch, so uneven or empty batches cannot hang.

Training-time statistics are updated *after* the forward pass; ``decode(encode(z)) == z_q`` holds
in eval mode (and for the codebook as it was during the forward).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..lattices import make_code
from ..lattices.code import chunked_argmax
from ..utils import distributed as D
from ..utils.histogram import usage_stats
from .base import Quantizer, QuantizerOutput, check_positive_int, check_weight, commitment_loss
from .estimators import gumbel_softmax_codes, index_backprop, rotation_trick, straight_through
from .registry import register

__all__ = ["VectorQuantizer", "nearest_code"]

_DISTANCES = ("euclidean", "cosine")
_UPDATES = ("gradient", "ema")
_ESTIMATORS = ("ste", "rotation", "index_backprop", "gumbel")
_AFFINE = (None, "learned", "running")
_ANCHORS = ("closest", "random")


def nearest_code(z: Tensor, codebook: Tensor, metric: str = "euclidean", chunk: int = 1 << 24) -> Tensor:
    """Index of the nearest codeword for each row of ``z`` (n, d); lowest index on ties.

    ``metric="euclidean"`` minimizes ||z - c|| (as the argmax of z.c - |c|^2 / 2); ``"dot"``
    maximizes z.c. Memory is bounded by ``chunk`` scores whatever K is.
    """
    bias = -0.5 * (codebook * codebook).sum(-1) if metric == "euclidean" else None
    return chunked_argmax(z, codebook, bias, chunk)


def _kmeans_plus_plus(x: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """k-means++ seeding (D^2 sampling) of ``k`` centroids from the rows of ``x``."""
    n = x.shape[0]
    first = int(torch.randint(0, n, (1,), generator=gen))
    cent = [x[first]]
    d2 = (x - x[first]).pow(2).sum(-1)
    for _ in range(1, k):
        w = d2.double().cpu()
        j = int(torch.multinomial(w, 1, generator=gen)) if float(w.sum()) > 0 else int(torch.randint(0, n, (1,), generator=gen))
        cent.append(x[j])
        d2 = torch.minimum(d2, (x - x[j]).pow(2).sum(-1))
    return torch.stack(cent)


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


@register("vq", title="Learnable VQ", example={"dim": 8, "codebook_size": 1024}, tableau=None, tour=False)
class VectorQuantizer(Quantizer):
    """Learnable VQ with its remedies (see the module docstring).

    Args:
        dim: code dimension d.
        codebook_size: K.
        distance: ``"euclidean"`` or ``"cosine"`` (inputs and codes l2-normalized).
        commitment_weight: weight of the commitment loss ``mean((z - sg(q))^2)`` (mean over
            elements, as every npq quantizer; 0.25 as in VQ-VAE / VQGAN).
        codebook_weight: weight of ``mean((sg(z) - q)^2)`` (gradient updates only).
        update: ``"gradient"`` or ``"ema"`` (decay ``decay``, Laplace smoothing ``laplace_eps``).
        init: ``"random"`` (N(0, 1/d)), ``"kmeans"`` (on the first training batch,
            ``kmeans_iters`` Lloyd steps), a ``(K, d)`` tensor, or a spherical code name
            (``"leech"``, ``"e8"``, ...; K must equal its size) - a fixed code that keeps learning.
        dead_code_steps: replace codes unused for this many training steps by batch samples
            (0 disables).
        affine: ``None``, ``"learned"`` (per-dimension scale and shift parameters) or
            ``"running"`` (codebook moments matched to running moments of the inputs).
        cvq: online clustered codebook: move rarely used codes towards anchors from the batch
            (``cvq_anchor="closest"`` feature or ``"random"`` features), CVQ-style.
        estimator: ``"ste"``, ``"rotation"``, ``"index_backprop"`` or ``"gumbel"``.
        gumbel_tau: Gumbel softmax temperature.
        gumbel_hard: hard (one-hot) Gumbel sampling.
        gumbel_kl_weight: weight of KL(softmax(logits) || uniform).
        stats_decay: decay of the running usage and moments.
        chunk: scores per block in the nearest-code search.
        seed: seed of random initialization and replacement choices (identical on all ranks).
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        distance: str = "euclidean",
        commitment_weight: float = 0.25,
        codebook_weight: float = 1.0,
        update: str = "gradient",
        decay: float = 0.99,
        laplace_eps: float = 1e-5,
        init: str | Tensor = "random",
        kmeans_iters: int = 10,
        dead_code_steps: int = 0,
        affine: str | None = None,
        cvq: bool = False,
        cvq_anchor: str = "closest",
        estimator: str = "ste",
        gumbel_tau: float = 1.0,
        gumbel_hard: bool = True,
        gumbel_kl_weight: float = 0.0,
        stats_decay: float = 0.99,
        chunk: int = 1 << 24,
        seed: int = 0,
    ):
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        k = check_positive_int("codebook_size", codebook_size)
        if k < 2:
            raise ValueError(f"codebook_size must be >= 2, got {codebook_size}")
        self.k = k
        _choice("distance", distance, _DISTANCES)
        _choice("update", update, _UPDATES)
        _choice("estimator", estimator, _ESTIMATORS)
        _choice("affine", affine, _AFFINE)
        _choice("cvq_anchor", cvq_anchor, _ANCHORS)
        for name, v, lo, hi in (("decay", decay, 0.0, 1.0), ("stats_decay", stats_decay, 0.0, 1.0)):
            if not (isinstance(v, (int, float)) and lo < v < hi):
                raise ValueError(f"{name} must be in ({lo}, {hi}), got {v!r}")
        for name, v in (("commitment_weight", commitment_weight), ("codebook_weight", codebook_weight),
                        ("gumbel_kl_weight", gumbel_kl_weight), ("laplace_eps", laplace_eps)):
            check_weight(name, v)
        if not (isinstance(gumbel_tau, (int, float)) and gumbel_tau > 0):
            raise ValueError(f"gumbel_tau must be > 0, got {gumbel_tau!r}")
        if isinstance(dead_code_steps, bool) or not isinstance(dead_code_steps, int) or dead_code_steps < 0:
            raise ValueError(f"dead_code_steps must be an int >= 0, got {dead_code_steps!r}")
        if estimator == "gumbel" and update == "ema":
            raise ValueError("estimator='gumbel' learns the codebook by gradient; use update='gradient'")
        if cvq and update == "ema":
            raise ValueError("cvq=True and update='ema' both rewrite the codebook; choose one")
        self.distance, self.update, self.estimator, self.affine = distance, update, estimator, affine
        self.commitment_weight, self.codebook_weight = float(commitment_weight), float(codebook_weight)
        self.decay, self.laplace_eps, self.stats_decay = float(decay), float(laplace_eps), float(stats_decay)
        self.kmeans_iters, self.dead_code_steps = int(kmeans_iters), dead_code_steps
        self.cvq, self.cvq_anchor = bool(cvq), cvq_anchor
        self.gumbel_tau, self.gumbel_hard, self.gumbel_kl_weight = float(gumbel_tau), bool(gumbel_hard), float(gumbel_kl_weight)
        self.chunk, self.seed = int(chunk), int(seed)

        weight, needs_kmeans = self._initial_codebook(init)
        self.weight = nn.Parameter(weight, requires_grad=(update == "gradient"))
        self.register_buffer("initialized", torch.tensor(not needs_kmeans))
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        self.register_buffer("steps_unused", torch.zeros(k, dtype=torch.int64))
        self.register_buffer("usage_ema", torch.zeros(k))  # EMA of the usage frequency (CVQ starts at 0)
        if update == "ema":
            self.register_buffer("ema_count", torch.ones(k))
            self.register_buffer("ema_sum", weight.clone())
        if affine == "learned":
            self.affine_scale = nn.Parameter(torch.ones(self.dim))
            self.affine_shift = nn.Parameter(torch.zeros(self.dim))
        elif affine == "running":
            self.register_buffer("input_mean", torch.zeros(self.dim))
            self.register_buffer("input_var", torch.ones(self.dim))
        if estimator == "gumbel":
            self.gumbel_proj = nn.Linear(self.dim, k)

    # ------------------------------------------------------------------ setup
    def _initial_codebook(self, init) -> tuple[Tensor, bool]:
        gen = torch.Generator().manual_seed(self.seed)
        if isinstance(init, Tensor):
            if init.shape != (self.k, self.dim):
                raise ValueError(f"init tensor must have shape ({self.k}, {self.dim}), got {tuple(init.shape)}")
            if not torch.isfinite(init).all():
                raise ValueError("init tensor contains non-finite values")
            return init.detach().float().clone(), False
        if init == "random":
            return torch.randn(self.k, self.dim, generator=gen) / math.sqrt(self.dim), False
        if init == "kmeans":
            return torch.randn(self.k, self.dim, generator=gen) / math.sqrt(self.dim), True
        if isinstance(init, str):
            try:
                code = make_code(init, n=self.k, dim=self.dim, seed=self.seed)
            except ValueError as e:
                raise ValueError(f"init must be 'random', 'kmeans', a ({self.k}, {self.dim}) tensor or a spherical code name: {e}") from None
            if code.size != self.k or code.dim != self.dim:
                raise ValueError(
                    f"init={init!r} has {code.size} codes of dim {code.dim}; set codebook_size={code.size}, dim={code.dim}"
                )
            return code.codebook(torch.float32), False
        raise ValueError(f"init must be 'random', 'kmeans', a tensor or a code name, got {init!r}")

    @property
    def codebook_size(self) -> int:
        return self.k

    def _affine(self) -> tuple[Tensor, Tensor]:
        """(scale, shift) of the affine reparameterization: effective code = weight * scale + shift."""
        if self.affine == "learned":
            return self.affine_scale, self.affine_shift
        w = self.weight.detach()  # "running": match the codebook's moments to the inputs'
        w_mean, w_std = w.mean(0), w.std(0).clamp_min(1e-6)
        scale = self.input_var.sqrt() / w_std
        return scale, self.input_mean - w_mean * scale

    def _effective_codebook(self) -> Tensor:
        """The codebook ``(K, d)`` in use, differentiable (after affine reparameterization and,
        for cosine distance, normalization)."""
        c = self.weight
        if self.affine is not None:
            scale, shift = self._affine()
            c = c * scale + shift
        if self.distance == "cosine":
            c = F.normalize(c, dim=-1)
        return c

    def codebook(self, dtype: torch.dtype = torch.float32, device: str | torch.device | None = None) -> Tensor:
        """The effective codebook ``(K, d)``, detached (row i = ``decode(i)``)."""
        c = self._effective_codebook().detach().to(dtype)
        return c if device is None else c.to(device)

    # ------------------------------------------------------------------ assignment
    def _prep(self, z: Tensor) -> Tensor:
        return F.normalize(z, dim=-1) if self.distance == "cosine" else z

    def _assign(self, zp: Tensor, c: Tensor) -> Tensor:
        if self.estimator == "gumbel":
            return self.gumbel_proj(zp).argmax(-1)
        metric = "dot" if (self.estimator == "index_backprop" or self.distance == "cosine") else "euclidean"
        return nearest_code(zp.detach(), c.detach(), metric, self.chunk)

    def _encode(self, z: Tensor) -> Tensor:
        return self._assign(self._prep(z), self._effective_codebook())

    def _decode(self, indices: Tensor) -> Tensor:
        return self._effective_codebook().detach()[indices]

    # ------------------------------------------------------------------ forward
    def _quantize(self, z: Tensor) -> QuantizerOutput:
        if self.training and not bool(self.initialized):
            self._kmeans_init(z.detach())
        zp = self._prep(z)
        c = self._effective_codebook()
        loss = z.new_zeros(())
        stats: dict[str, Tensor] = {}
        if self.estimator == "gumbel":
            logits = self.gumbel_proj(zp)
            if self.training:
                z_q, idx = gumbel_softmax_codes(logits, c, self.gumbel_tau, self.gumbel_hard)
                if self.gumbel_kl_weight > 0:
                    logp = F.log_softmax(logits, -1)
                    kl = (logp.exp() * (logp + math.log(self.k))).sum(-1).mean()
                    loss = loss + self.gumbel_kl_weight * kl
            else:
                idx = logits.argmax(-1)
                z_q = c[idx]
        else:
            idx = self._assign(zp, c)
            q = c[idx]
            if self.estimator == "index_backprop":
                z_q = index_backprop(zp @ c.T, c, idx)
            elif self.estimator == "rotation":
                z_q = rotation_trick(zp, q)
            else:
                z_q = straight_through(zp, q)
            if self.commitment_weight > 0:
                loss = loss + commitment_loss(zp, q, self.commitment_weight)
            if self.update == "gradient" and self.codebook_weight > 0:
                loss = loss + commitment_loss(q, zp, self.codebook_weight)  # moves the codes towards sg(z)
        if self.training:
            stats.update(self._update_statistics(zp.detach(), idx))
        else:
            stats.update(self._batch_usage(idx))
        return QuantizerOutput(z_q, idx, loss, stats)

    # ------------------------------------------------------------------ statistics
    def _batch_usage(self, idx: Tensor) -> dict[str, Tensor]:
        counts = torch.bincount(idx, minlength=self.k).float()
        return usage_stats(counts)

    @torch.no_grad()
    def _update_statistics(self, zp: Tensor, idx: Tensor) -> dict[str, Tensor]:
        counts = D.all_reduce_sum(torch.bincount(idx, minlength=self.k).float())
        self.step += 1
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.step))
        self.usage_ema.mul_(self.stats_decay).add_(counts / counts.sum().clamp_min(1), alpha=1 - self.stats_decay)
        self.steps_unused.add_(1).masked_fill_(counts > 0, 0)
        if self.affine == "running":
            n = D.all_reduce_sum(torch.tensor([float(zp.shape[0])], device=zp.device))
            s1 = D.all_reduce_sum(zp.sum(0))
            s2 = D.all_reduce_sum((zp * zp).sum(0))
            if n.item() > 1:
                mean = s1 / n
                var = (s2 / n - mean * mean).clamp_min(1e-8)
                self.input_mean.mul_(self.stats_decay).add_(mean, alpha=1 - self.stats_decay)
                self.input_var.mul_(self.stats_decay).add_(var, alpha=1 - self.stats_decay)
        if self.update == "ema":
            sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, zp.to(self.ema_sum.dtype))
            D.all_reduce_sum(sums)
            self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
            total = self.ema_count.sum()
            smoothed = (self.ema_count + self.laplace_eps) / (total + self.k * self.laplace_eps) * total
            self._set_effective(torch.arange(self.k, device=zp.device), self.ema_sum / smoothed[:, None])
        if self.cvq:
            self._cvq_update(zp, gen)
        revived = 0
        if self.dead_code_steps > 0:
            revived = self._revive(zp, gen)
        stats = usage_stats(counts)
        stats["running_usage"] = (self.steps_unused < 100).float().mean()
        stats["revived"] = torch.tensor(float(revived))
        return stats

    def _set_effective(self, rows: Tensor, target: Tensor) -> None:
        """Set codebook rows so that the *effective* codes (before normalization) equal ``target``."""
        if self.affine is not None:
            scale, shift = self._affine()
            target = (target - shift.detach()) / scale.detach().clamp_min(1e-6)
        self.weight.data[rows] = target.to(self.weight.dtype)

    def _revive(self, zp: Tensor, gen: torch.Generator) -> int:
        dead = torch.nonzero(self.steps_unused >= self.dead_code_steps).flatten()
        n_dead = int(dead.numel())
        if n_dead == 0:
            return 0
        samples = D.gather_samples(zp, n_dead, int(self.step))
        if samples.shape[0] == 0:
            return 0
        pick = torch.randint(0, samples.shape[0], (n_dead,), generator=gen).to(zp.device)
        new = samples[pick]
        self._set_effective(dead, new)
        if self.update == "ema":
            self.ema_count[dead] = 1.0
            self.ema_sum[dead] = self.weight.data[dead]
        self.steps_unused[dead] = 0
        self.usage_ema[dead] = 0.0
        return n_dead

    def _cvq_update(self, zp: Tensor, gen: torch.Generator) -> None:
        c = self._effective_codebook().detach()
        if self.cvq_anchor == "random":
            samples = D.gather_samples(zp, self.k, int(self.step))
            if samples.shape[0] == 0:
                return
            anchors = samples[torch.randint(0, samples.shape[0], (self.k,), generator=gen).to(zp.device)]
        else:
            # for every code, the closest feature of the batch over all ranks
            if zp.shape[0] > 0:
                j = nearest_code(c, zp, "euclidean", self.chunk)
                local = zp[j]
                dist = (local - c).pow(2).sum(-1)
            else:
                local = torch.zeros_like(c)
                dist = torch.full((self.k,), math.inf, device=c.device)
            if D.is_distributed():
                import torch.distributed as dist_

                ws = D.world_size()
                all_d = [torch.empty_like(dist) for _ in range(ws)]
                all_f = [torch.empty_like(local) for _ in range(ws)]
                dist_.all_gather(all_d, dist.contiguous())
                dist_.all_gather(all_f, local.contiguous())
                best = torch.stack(all_d).argmin(0)
                local = torch.stack(all_f)[best, torch.arange(self.k, device=c.device)]
                dist = torch.stack(all_d).amin(0)
            if not torch.isfinite(dist).any():
                return
            anchors = torch.where(torch.isfinite(dist)[:, None], local, c)
        # CVQ: alpha_k = exp(-p_k K 10 / (1 - gamma) - eps): rarely used codes move most
        alpha = torch.exp(-self.usage_ema * self.k * 10 / (1 - self.stats_decay) - 1e-3)[:, None]
        self._set_effective(torch.arange(self.k, device=c.device), (1 - alpha) * c + alpha * anchors)

    @torch.no_grad()
    def _kmeans_init(self, z: Tensor) -> None:
        zp = self._prep(z)
        gen = torch.Generator().manual_seed(self.seed)
        # initial centroids: samples gathered from all ranks (identical everywhere)
        samples = D.gather_samples(zp, max(self.k, 4096), self.seed)
        if samples.shape[0] == 0:
            return  # no data anywhere yet: try again on the next batch
        if self.k <= 4096:
            cent = _kmeans_plus_plus(samples, self.k, gen)
        else:  # k-means++ is sequential in K: plain random samples for big codebooks
            cent = samples[torch.randint(0, samples.shape[0], (self.k,), generator=gen).to(z.device)].clone()
        if samples.shape[0] < self.k:  # too few samples: jitter the duplicates
            cent += 1e-3 * torch.randn(cent.shape, generator=gen).to(z.device)
        for _ in range(self.kmeans_iters):
            metric = "dot" if self.distance == "cosine" else "euclidean"
            idx = nearest_code(zp, cent, metric, self.chunk)
            sums = D.all_reduce_sum(torch.zeros_like(cent).index_add_(0, idx, zp))
            cnt = D.all_reduce_sum(torch.bincount(idx, minlength=self.k).float())
            cent = torch.where(cnt[:, None] > 0, sums / cnt.clamp_min(1)[:, None], cent)
            if self.distance == "cosine":
                cent = F.normalize(cent, dim=-1)
        self.weight.data.copy_(cent)
        if self.update == "ema":
            self.ema_sum.copy_(cent)
            self.ema_count.fill_(1.0)
        self.initialized.fill_(True)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, codebook_size={self.k}, distance={self.distance}, update={self.update}, "
            f"estimator={self.estimator}, affine={self.affine}, cvq={self.cvq}, dead_code_steps={self.dead_code_steps}"
        )

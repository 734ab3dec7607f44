"""Fréchet distance between feature statistics (rFID with torch-fidelity's InceptionV3).

:class:`FeatureStats` accumulates the sum, the sum of outer products and the count of feature
vectors in float64, across batches and torch.distributed ranks, so ``torchrun`` can evaluate 50k
images. The real-image statistics can be cached to a file keyed by dataset and resolution.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..utils import distributed as D
from ..utils.fileio import atomic_write
from .base import Metric, MetricContext, register_metric
from ..utils.weights import resolve_weights

__all__ = ["FeatureStats", "frechet_distance", "inception_feature_extractor", "INCEPTION_FILE", "stats_cache_path", "RFID"]

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


class FeatureStats:
    """Running mean/covariance of feature vectors (float64), mergeable across ranks."""

    def __init__(self, dim: int):
        self.dim = dim
        self.n = 0
        self.s1 = torch.zeros(dim, dtype=torch.float64)
        self.s2 = torch.zeros(dim, dim, dtype=torch.float64)

    def update(self, feats: Tensor) -> None:
        """Add feature vectors ``feats`` ``(..., dim)`` to the running sums (float64)."""
        f = feats.detach().double().cpu().reshape(-1, self.dim)
        self.n += f.shape[0]
        self.s1 += f.sum(0)
        self.s2 += f.T @ f

    def all_reduce(self) -> "FeatureStats":
        """Sum the statistics over torch.distributed ranks (in place)."""
        if D.is_distributed():
            n = torch.tensor([float(self.n)], dtype=torch.float64)
            for t in (n, self.s1, self.s2):
                D.all_reduce_sum(t)
            self.n = int(n.item())
        return self

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean (dim,), covariance (dim, dim))`` as float64 numpy arrays (unbiased); ValueError
        under 2 vectors."""
        if self.n < 2:
            raise ValueError(f"need at least 2 feature vectors for a covariance, have {self.n}")
        mu = self.s1 / self.n
        cov = (self.s2 - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return mu.numpy(), cov.numpy()

    def save(self, path: str | Path) -> None:
        """Write mean and covariance atomically (npz)."""
        mu, cov = self.mean_cov()
        atomic_write(path, lambda f: np.savez(f, mu=mu, cov=cov, n=self.n))


def psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (negative rounding clipped)."""
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray,
                     sqrt_cov1: np.ndarray | None = None) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), via the symmetric form
    (C1^(1/2) C2 C1^(1/2))^(1/2), which is well conditioned. ``sqrt_cov1``: ``psd_sqrt(cov1)``
    if already computed (one reference compared with many)."""
    diff = mu1 - mu2
    s1 = psd_sqrt(cov1) if sqrt_cov1 is None else sqrt_cov1
    m = s1 @ cov2 @ s1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = np.sqrt(np.clip(ev, 0, None)).sum()
    # >= 0 mathematically; clamp the rounding of identical statistics (-1e-4) to 0
    return max(float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt), 0.0)


def _safe_inception(path: Path):
    """torch-fidelity's InceptionV3 with the weights in ``path``, without letting torch-fidelity
    unpickle the user's file (it calls ``torch.load(weights_only=False)``, which runs any code a
    forged file carries). The file is read here with ``weights_only=True`` (tensors only; a
    forged file is refused with a one-line error) and handed over as a file npq wrote itself."""
    import tempfile

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from ..utils.fileio import load_torch

    state = load_torch(path, "InceptionV3 weights")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"cannot read InceptionV3 weights {path}: not a state dict of tensors")
    with tempfile.TemporaryDirectory(prefix="npq-inception-") as d:
        own = Path(d) / "inception.pt"
        torch.save(dict(state), own)  # only tensors: nothing in it can execute
        try:
            net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(own))
        except RuntimeError as e:  # wrong keys or shapes
            first = str(e).strip().splitlines()[0]
            raise ValueError(f"InceptionV3 weights {path} do not fit torch-fidelity's InceptionV3: {first}") from None
    return net.eval()


def inception_feature_extractor(weights_path: str | os.PathLike | None = None) -> Callable[[Tensor], Tensor]:
    """torch-fidelity's InceptionV3 (2048-d pool features) as ``f(images in [0,1]) -> (b, 2048)``.
    The weights file is never unpickled beyond tensors (see :func:`_safe_inception`)."""
    path = resolve_weights("InceptionV3 (torch-fidelity)", INCEPTION_FILE, weights_path, "NPQ_INCEPTION_WEIGHTS")
    net = _safe_inception(path)

    def extract(images: Tensor) -> Tensor:
        x = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8)
        with torch.no_grad():
            return net(x)[0].reshape(x.shape[0], -1)

    return extract


def stats_cache_path(cache_dir: str | Path, dataset: str | Path, resolution: int, extractor: str = "inception-2048") -> Path:
    """File for the real-image statistics of ``dataset`` at ``resolution``."""
    key = hashlib.sha1(f"{Path(dataset).resolve()}|{resolution}|{extractor}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"fid_stats_{Path(dataset).name}_{resolution}px_{key}.npz"


@register_metric("rfid")
class RFID(Metric):
    """Reconstruction FID: Fréchet distance between the features of the reconstructions and of the
    real images (from ``MetricContext.real_stats`` if given, else accumulated from ``real``)."""

    def __init__(self, ctx: MetricContext):
        if ctx.feature_extractor is None:
            raise ValueError("metric 'rfid' needs a feature_extractor (npq.metrics.inception_feature_extractor)")
        super().__init__(ctx)
        self.fake: FeatureStats | None = None
        self.real: FeatureStats | None = None

    def update(self, real: Tensor, recon: Tensor, indices: Tensor | None) -> None:
        """Add the Inception features of a batch's ``recon`` (and ``real``, unless the context carries
        precomputed real statistics); images ``(b, 3, h, w)`` float in [0, 1]."""
        f = self.ctx.feature_extractor(recon)
        self.fake = self.fake or FeatureStats(f.shape[-1])
        self.fake.update(f)
        if self.ctx.real_stats is None:
            r = self.ctx.feature_extractor(real)
            self.real = self.real or FeatureStats(r.shape[-1])
            self.real.update(r)

    def compute(self) -> dict:
        """``{rfid: Fréchet Inception distance}`` between the real and reconstructed images' statistics
        over every rank."""
        mu_f, cov_f = self.fake.all_reduce().mean_cov()
        mu_r, cov_r = self.ctx.real_stats if self.ctx.real_stats is not None else self.real.all_reduce().mean_cov()
        return {"rfid": frechet_distance(mu_r, cov_r, mu_f, cov_f)}

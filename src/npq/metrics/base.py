"""The metric protocol and registry: adding a metric is one class with a decorator.

    @register_metric("psnr")
    class PSNR(MeanMetric):
        def per_image(self, real, recon):
            return psnr_per_image(real, recon).clamp(max=100.0)

A metric accumulates over batches (:meth:`Metric.update`), reduces over torch.distributed ranks
in :meth:`Metric.compute` (a collective every rank calls) and formats its own table rows.
:class:`~npq.metrics.accumulate.ReconstructionMetrics`, ``npq eval`` and its help text read the
registry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..utils import distributed as D

__all__ = ["MetricContext", "Metric", "MeanMetric", "register_metric", "metric_names", "metric_class"]


@dataclass
class MetricContext:
    """What metrics may need besides the images.

    Attributes:
        lpips_model: an LPIPS module (:func:`npq.metrics.load_lpips`).
        feature_extractor: ``images in [0, 1] -> (b, k)`` features (rFID).
        real_stats: ``(mu, cov)`` of the real images' features, if known.
        codebook_size: number of codes (usage).
        code: a :class:`~npq.lattices.LeechCode` for per-class usage, or None.
        stage_sizes: codebook sizes of a residual quantizer's stages (tokens ``(..., K)``), or None.
    """

    lpips_model: nn.Module | None = None
    feature_extractor: Callable[[Tensor], Tensor] | None = None
    real_stats: tuple[np.ndarray, np.ndarray] | None = None
    codebook_size: int | None = None
    code: object = None
    stage_sizes: list[int] | None = None


class Metric:
    """Base class. Subclasses set ``name`` (by :func:`register_metric`) and implement ``update``,
    ``compute`` (returns ``{key: value}`` merged into the results) and optionally ``format``."""

    name: str = ""

    def __init__(self, ctx: MetricContext):
        self.ctx = ctx

    def update(self, real: Tensor, recon: Tensor, indices: Tensor | None) -> None:
        """Accumulate one batch: ``real`` and ``recon`` images ``(b, 3, h, w)`` float in [0, 1],
        ``indices`` the batch's tokens (int64 ``(b, h', w'[, stages])``) or None."""
        raise NotImplementedError

    def compute(self) -> dict:
        """``{key: value}`` over every batch and rank (a collective: call on every rank), merged into
        the results."""
        raise NotImplementedError

    @classmethod
    def format(cls, results: dict) -> list[tuple[str, str]]:
        """(label, value) rows of a results table; by default the metric's own key."""
        v = results.get(cls.name)
        if v is None:
            return []
        return [(cls.name, f"{v:.4f}" if isinstance(v, float) else str(v))]


class MeanMetric(Metric):
    """A per-image metric averaged over images (and ranks). Subclasses implement
    :meth:`per_image`; :meth:`applies` may skip batches (reported in ``<name>_note``)."""

    def __init__(self, ctx: MetricContext):
        super().__init__(ctx)
        self.total, self.count, self.skipped = 0.0, 0, 0

    def per_image(self, real: Tensor, recon: Tensor) -> Tensor:
        """The metric of each image pair, float ``(b,)``, for ``real`` and ``recon`` images ``(b, 3, h,
        w)`` float in [0, 1]."""
        raise NotImplementedError

    def applies(self, real: Tensor) -> str | None:
        """None when the batch ``real`` (images ``(b, 3, h, w)`` float in [0, 1]) can be measured, else
        the reason it is skipped."""
        return None

    def update(self, real: Tensor, recon: Tensor, indices: Tensor | None) -> None:
        """Add the per-image values of a batch (``real``, ``recon`` images ``(b, 3, h, w)`` float in
        [0, 1]; ``indices`` unused), or count it as skipped when :meth:`applies` gives a
        reason."""
        reason = self.applies(real)
        if reason is not None:
            self.skipped += real.shape[0]
            self.reason = reason
            return
        self.total += float(self.per_image(real, recon).sum())
        self.count += real.shape[0]

    def compute(self) -> dict:
        """``{name: mean over images and ranks}`` (NaN when none was measured) and ``{name}_note`` when
        images were skipped."""
        vec = D.all_reduce_sum(torch.tensor([self.total, self.count, self.skipped], dtype=torch.float64))
        total, count, skipped = vec.tolist()
        out: dict = {self.name: total / count if count > 0 else math.nan}
        if skipped:
            why = getattr(self, "reason", "not applicable")
            out[f"{self.name}_note"] = f"{self.name} skipped {int(skipped)} image(s) ({why})" + (": no value" if count == 0 else "")
        return out


_METRICS: dict[str, type[Metric]] = {}


def register_metric(name: str) -> Callable[[type[Metric]], type[Metric]]:
    """Class decorator: register a :class:`Metric` under ``name`` (its result key)."""

    def deco(cls: type[Metric]) -> type[Metric]:
        if name in _METRICS:
            raise ValueError(f"a metric named {name!r} is already registered")
        cls.name = name
        _METRICS[name] = cls
        return cls

    return deco


def metric_names() -> list[str]:
    """Registered metric names in registration order."""
    return list(_METRICS)


def metric_class(name: str) -> type[Metric]:
    """The registered metric class called ``name``; ValueError listing the names otherwise."""
    if name not in _METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {metric_names()}")
    return _METRICS[name]

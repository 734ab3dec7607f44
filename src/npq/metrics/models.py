"""The pretrained networks that metrics need (LPIPS-AlexNet for ``lpips``, InceptionV3 for
``rfid``): checked before any work starts, loaded once, or replaced by stand-ins in dry runs.

A long job (training followed by evaluation) calls :func:`missing_metric_weights` at its start,
so that a missing file is reported before the first step, never after the last one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .fid import INCEPTION_FILE
from .perceptual import BACKBONE_FILES
from ..utils.weights import MissingWeightsError, resolve_weights

__all__ = ["missing_metric_weights", "metric_models", "stand_in_feature_extractor"]

# metric -> (what, file, environment variable)
_NEEDS = {
    "lpips": ("LPIPS alex backbone", BACKBONE_FILES["alex"], "NPQ_LPIPS_BACKBONE"),
    "rfid": ("InceptionV3 (torch-fidelity)", INCEPTION_FILE, "NPQ_INCEPTION_WEIGHTS"),
}


def missing_metric_weights(metrics: Sequence[str], lpips_weights: str | os.PathLike | None = None,
                           inception_weights: str | os.PathLike | None = None) -> dict[str, str]:
    """``{metric: one-line message naming the file and where to put it}`` for every metric in
    ``metrics`` whose pretrained weights are not on disk (empty when all are)."""
    explicit = {"lpips": lpips_weights, "rfid": inception_weights}
    out = {}
    for m in metrics:
        if m in _NEEDS:
            what, file, env = _NEEDS[m]
            try:
                resolve_weights(what, file, explicit[m], env)
            except MissingWeightsError as e:
                out[m] = f"metric '{m}': {e}"
    return out


def stand_in_feature_extractor(dim: int = 64, seed: int = 0):
    """A fixed random conv net ``images in [0, 1] -> (b, dim)``: exercises rFID's plumbing in dry
    runs when InceptionV3's weights are absent. Its distances are not FID."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, dim, 3, 2, 1), nn.AdaptiveAvgPool2d(1)).eval()

    def extract(images: Tensor) -> Tensor:
        with torch.no_grad():
            return net(images.float().cpu()).flatten(1)

    return extract


def metric_models(metrics: Sequence[str], lpips_weights: str | os.PathLike | None = None,
                  inception_weights: str | os.PathLike | None = None, stand_ins: bool = False) -> dict:
    """Keyword arguments ``lpips_model`` / ``feature_extractor`` of
    :class:`~npq.metrics.ReconstructionMetrics` for the metrics that need them.

    Args:
        stand_ins: where weights are missing, use random networks (dry runs only: the numbers
            mean nothing). Otherwise a missing file raises
            :class:`~npq.utils.weights.MissingWeightsError` naming it.
    """
    from .fid import inception_feature_extractor
    from .perceptual import load_lpips, random_lpips

    missing = missing_metric_weights(metrics, lpips_weights, inception_weights)
    if missing and not stand_ins:
        raise MissingWeightsError("; ".join(missing.values()))
    out: dict = {}
    if "lpips" in metrics:
        out["lpips_model"] = random_lpips("alex", 0) if "lpips" in missing else load_lpips("alex", lpips_weights)
    if "rfid" in metrics:
        out["feature_extractor"] = stand_in_feature_extractor() if "rfid" in missing else inception_feature_extractor(inception_weights)
    return out

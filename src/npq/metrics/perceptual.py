"""LPIPS through the ``lpips`` package, loading the backbone from a local file (no download).

The package ships its linear calibration layers; the ImageNet backbone (AlexNet for evaluation,
VGG16 for the training loss, as the papers do) comes from torchvision's checkpoint, looked for in
the argument, ``$NPQ_LPIPS_BACKBONE``, or torch hub's cache; otherwise a
:class:`~npq.utils.weights.MissingWeightsError` names the file.
"""

from __future__ import annotations

import functools
import os

import torch
from torch import Tensor, nn

from .base import MeanMetric, MetricContext, register_metric
from ..utils.weights import resolve_weights

__all__ = ["load_lpips", "random_lpips", "lpips_per_image", "BACKBONE_FILES", "LPIPS"]

BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def load_lpips(net: str = "alex", backbone_path: str | os.PathLike | None = None, random_backbone: bool = False) -> nn.Module:
    """An ``lpips.LPIPS`` model in eval mode with frozen weights.

    Args:
        net: ``"alex"`` (evaluation) or ``"vgg"`` (training loss).
        backbone_path: torchvision checkpoint of the backbone (else env / torch hub cache).
        random_backbone: skip loading the backbone (random weights). For tests of the plumbing
            only: the numbers are not LPIPS.
    """
    import lpips

    if net not in BACKBONE_FILES:
        raise ValueError(f"net must be one of {sorted(BACKBONE_FILES)}, got {net!r}")
    path = None if random_backbone else resolve_weights(f"LPIPS {net} backbone", BACKBONE_FILES[net], backbone_path, "NPQ_LPIPS_BACKBONE")
    import warnings

    with warnings.catch_warnings():  # torchvision's deprecation notice for lpips' pretrained=False
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, pnet_rand=True, pretrained=True, verbose=False)
    if path is not None:
        from ..utils.fileio import load_torch

        state = load_torch(path, f"LPIPS {net} backbone weights")  # tensors only: a forged pickle is refused
        own = model.net.state_dict()
        mapped = {}
        for name in own:  # "slice2.3.weight" <- "features.3.weight"
            _, idx, kind = name.split(".")
            v = state.get(f"features.{idx}.{kind}") if isinstance(state, dict) else None
            if not isinstance(v, torch.Tensor) or v.shape != own[name].shape:
                raise ValueError(f"{path} is not torchvision's {net} checkpoint ({BACKBONE_FILES[net]}): "
                                 f"features.{idx}.{kind} is missing or has another shape")
            mapped[name] = v
        model.net.load_state_dict(mapped)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


@functools.lru_cache(maxsize=4)
def random_lpips(net: str = "alex", seed: int = 0) -> nn.Module:
    """LPIPS with a seeded *random* backbone (not LPIPS: a fixed feature distance for offline
    recipes and dry-run stand-ins), built once per process (a random VGG16 takes ~4 s); frozen
    and shared: callers that move or modify it take a copy."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return load_lpips(net, random_backbone=True)


def lpips_per_image(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """LPIPS distance of each pair of [0, 1] images (b, 3, h, w), shape (b,)."""
    with torch.no_grad():
        return model(x * 2 - 1, y * 2 - 1).flatten().double()


@register_metric("lpips")
class LPIPS(MeanMetric):
    """Mean LPIPS distance (needs ``MetricContext.lpips_model``)."""

    def __init__(self, ctx: MetricContext):
        if ctx.lpips_model is None:
            raise ValueError("metric 'lpips' needs lpips_model (npq.metrics.load_lpips)")
        super().__init__(ctx)

    def per_image(self, real: Tensor, recon: Tensor) -> Tensor:
        """LPIPS distance of each pair, float ``(b,)``; ``real`` and ``recon`` images ``(b, 3, h, w)``
        float in [0, 1]."""
        dev = next(self.ctx.lpips_model.parameters()).device
        return lpips_per_image(self.ctx.lpips_model, real.to(dev), recon.to(dev))

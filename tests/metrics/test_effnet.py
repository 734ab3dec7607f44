"""EfficientNet-Lite0 (the one pretrained network offline) and the feature distances on it."""

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from npq.data.photos import load_rgb, public_eval_photos
from npq.metrics import ReconstructionMetrics, effnet_pd_per_image
from npq.models.efficientnet_lite import load_efficientnet_lite0


def _photo(name: str, side: int) -> torch.Tensor:
    path = next(p for p in public_eval_photos() if p.name.startswith(name))
    im = Image.fromarray(load_rgb(path))
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((side, side), Image.BICUBIC)
    return torch.from_numpy(np.array(im)).permute(2, 0, 1).float()[None] / 255


def test_effnet_lite0_classifies_public_photos():
    """Independent truth for the architecture and the weight mapping: ImageNet classes of photos
    (a cat -> the cat classes 281-285; a cup of coffee -> espresso 967 or cup 968)."""
    net = load_efficientnet_lite0()
    with torch.no_grad():
        cat = int(net(_photo("chelsea", 224)).argmax())
        coffee = net(_photo("coffee", 224)).softmax(-1)[0]
    assert 281 <= cat <= 285
    assert int(coffee.argmax()) in (967, 968) and float(coffee.max()) > 0.5


@pytest.fixture(scope="module")
def tiles():
    x = torch.cat([_photo(n, 64) for n in ("astronaut", "coffee", "chelsea", "rocket")])
    return x


def test_effnet_distances_zero_for_identical_images(tiles):
    m = ReconstructionMetrics(["effnet_pd", "effnet_fd"])
    m.update(tiles, tiles.clone())
    r = m.compute()
    assert r["effnet_pd"] == 0.0 and r["effnet_fd"] == 0.0


def test_effnet_distances_grow_with_distortion(tiles):
    """Noise and blur of growing strength: both distances strictly increase (real features once)."""
    from npq.metrics import effnet_features, frechet_distance
    from npq.metrics.fid import FeatureStats, psd_sqrt

    def stats(x):
        fs = FeatureStats(1280)
        fs.update(effnet_features(x))
        return fs.mean_cov()

    real = stats(tiles)
    sqrt_real = psd_sqrt(real[1])  # the reference's square root once, not per comparison
    noise = torch.randn(tiles.shape, generator=torch.Generator().manual_seed(0))
    for kind in ("noise", "blur"):
        pd, fd = [], []
        for level in (0.5, 1.5, 3.0):
            y = (tiles + 0.04 * level * noise).clamp(0, 1) if kind == "noise" else TF.gaussian_blur(tiles, 2 * int(3 * level) + 1, level)
            pd.append(float(effnet_pd_per_image(tiles, y).mean()))
            fd.append(frechet_distance(*real, *stats(y), sqrt_cov1=sqrt_real))
        assert 0 < pd[0] < pd[1] < pd[2], (kind, pd)
        assert 0 < fd[0] < fd[1] < fd[2], (kind, fd)

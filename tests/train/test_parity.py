"""The authors' recipe as npq options: schedule, LR scaling, training crop, discriminator, eval
resize, against independent formulas and libraries (the ViT and checkpoint mapping:
tests/models/test_official.py)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from repo_paths import CONFIGS

from npq.train import load_config
from npq.train.trainer import lr_lambda


def _taming(n, warm, total, lr_start, lr_min, lr_max=1.0):
    """taming-transformers' LambdaWarmUpCosineScheduler, written from its definition."""
    if n < warm:
        return (lr_max - lr_start) / warm * n + lr_start
    t = min((n - warm) / (total - warm), 1.0)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(t * math.pi))


def test_schedule_is_tamings_warmup_cosine_within_one_step():
    f = lr_lambda(5000, 1_000_000, 0.01, start=0.1)
    for n in (0, 1, 2500, 4999):
        assert _taming(n, 5000, 1_000_000, 0.1, 0.01) <= f(n) <= _taming(n + 1, 5000, 1_000_000, 0.1, 0.01) + 1e-12
    for n in (5000, 200_000, 700_000, 1_000_000, 1_200_000):
        assert f(n) == pytest.approx(_taming(n, 5000, 1_000_000, 0.1, 0.01), abs=1e-12)
    assert lr_lambda(10, 100, 0.0)(0) == 0.1  # start 0: npq's earlier warm-up, unchanged


@pytest.mark.parametrize("name, floor", [("imagenet128_vits8_leech", 0.01), ("imagenet256_vitb8_leech", 0.01), ("imagenet128_vits8_bsq18", 0.5)])
def test_paper_configs_use_the_published_recipe(name, floor):
    c = load_config(CONFIGS / f"{name}.yaml")
    assert (c.optim.lr_per_image, c.optim.warmup_start, c.optim.min_lr_ratio, c.optim.steps, c.optim.grad_clip) == (4e-7, 0.1, floor, 1_000_000, 0.0)
    assert (c.data.crop, c.data.flip, c.loss.discriminator, c.train.ema_warmup_power) == ("resize-random", False, "stylegan2-ada", 0.0)
    assert c.model.clamp_output and c.model.vit == {"pos": "learned", "ln_pre": True, "head": "tanh-mlp", "head_dim": 3072, "init": "trunc-normal"}


def test_lr_scales_with_the_global_batch(tmp_path, skimage_photos):
    from npq.train import Trainer

    o = ["data.train=" + str(skimage_photos), "data.resolution=32", "data.batch_size=6", "data.preload=true", "model.arch=conv",
         "model.conv={channels: 8, mult: [1, 2, 4], blocks: 1, width: 32}", "loss.perceptual=0", "loss.gan=0",
         "optim.lr_per_image=4e-7", "optim.warmup=0", f"train.out_dir={tmp_path}", "train.tensorboard=false"]
    t = Trainer(load_config(CONFIGS / "tiny_cpu_leech.yaml", o), progress=False)
    assert t.lr == pytest.approx(2.4e-6) and t.opt_g.param_groups[0]["lr"] == pytest.approx(2.4e-6)


def test_resize_random_crop_is_torchvisions_resize_then_a_crop(tmp_path):
    import torchvision.transforms.v2.functional as TF

    from npq.data.images import ImageDataset

    g = np.random.default_rng(0)
    Image.fromarray(g.integers(0, 256, (40, 53, 3), dtype=np.uint8)).save(tmp_path / "a.png")  # h 40, w 53
    ds = ImageDataset(tmp_path, 32, crop="resize-random", flip=False, seed=1)
    ref = np.array(TF.resize(Image.open(tmp_path / "a.png").convert("RGB"), 32))  # bilinear, short side 32
    assert ref.shape == (32, 42, 3)
    for epoch in range(3):
        x = ((ds[(0, epoch)] + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
        assert any(np.array_equal(x, ref[:, j : j + 32]) for j in range(ref.shape[1] - 31)), epoch


def test_stylegan2_ada_discriminator_shape_of_the_published_one():
    from npq.models import make_discriminator
    from npq.models.discriminator import StyleGAN2ADADiscriminator, _blur

    with torch.device("meta"):  # shapes only: the full-size networks without seconds of random init
        d = make_discriminator("stylegan2-ada", 128, 32)  # base 32768
        d256 = make_discriminator("stylegan2-ada", 256, 16)
    assert isinstance(d, StyleGAN2ADADiscriminator)
    # channels min(32768 / r, 512) at r = 128 .. 4; the first block reads RGB with a 1x1 conv
    assert [b.conv0.weight.shape[0] for b in d.blocks] == [256, 512, 512, 512, 512]
    assert d.blocks[0].fromrgb.weight.shape == (256, 3, 1, 1) and d.fc.weight.shape == (512, 512 * 16)
    assert [b.conv0.weight.shape[0] for b in d256.blocks] == [64, 128, 256, 512, 512, 512]
    # FIR [1, 3, 3, 1] downsampling keeps a constant image constant away from the border
    c = _blur(torch.full((1, 2, 16, 16), 3.0), 1, 2)
    assert c.shape == (1, 2, 8, 8) and torch.allclose(c[..., 1:-1, 1:-1], torch.tensor(3.0))
    d = make_discriminator("stylegan2-ada", 32, 4)  # a small one for the double backward
    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    out = d(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)  # R1 needs a double backward
    g.square().sum().backward()
    assert out.shape == (4, 1) and d.blocks[0].conv0.weight.grad is not None


def test_lanczos_eval_resize(tmp_path):
    from npq.data.transforms import resize_center_crop

    im = Image.fromarray(np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8))
    want = np.array(im.resize((45, 32), Image.LANCZOS))[:, 6:38]
    assert np.array_equal(np.array(resize_center_crop(im, 32, "lanczos")), want)
    with pytest.raises(ValueError, match="interpolation"):
        resize_center_crop(im, 32, "nearest")

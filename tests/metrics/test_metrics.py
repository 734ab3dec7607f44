"""Metrics with the field's conventions, against independent implementations."""

import math
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from npq.data.photos import load_rgb, public_eval_photos
from npq.lattices import LeechCode
from npq.metrics import (
    CodeUsage,
    FeatureStats,
    MissingWeightsError,
    ReconstructionMetrics,
    frechet_distance,
    inception_feature_extractor,
    load_lpips,
    ms_ssim_per_image,
    psnr_per_image,
    ssim_per_image,
)
from npq.metrics.perceptual import lpips_per_image


@pytest.fixture(scope="module")
def photo_pair():
    img = load_rgb(public_eval_photos()[0])[:192, :256]
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    g = torch.Generator().manual_seed(0)
    y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


def _u8(t):
    return (t.double().clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()


def test_psnr_and_ssim_match_scikit_image(photo_pair):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    x, y = photo_pair
    ref = peak_signal_noise_ratio(_u8(x), _u8(y), data_range=255)
    assert psnr_per_image(x, y).item() == pytest.approx(ref, abs=1e-9)
    ref_ssim = structural_similarity(_u8(x), _u8(y), data_range=255, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim_per_image(x, y).item() == pytest.approx(ref_ssim, abs=2e-3)  # border handling differs slightly


def test_psnr_is_averaged_per_image(photo_pair):
    x, y = photo_pair
    y2 = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    both = psnr_per_image(torch.cat([x, x]), torch.cat([y, y2]))
    assert both.shape == (2,)
    m = ReconstructionMetrics(["psnr"])
    m.update(torch.cat([x, x]), torch.cat([y, y2]))
    assert m.compute()["psnr"] == pytest.approx(both.mean().item())


def _ms_ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """MS-SSIM (Wang, Simoncelli & Bovik 2003) written out in numpy with pytorch_msssim's
    conventions (11-tap Gaussian, sigma 1.5, 'valid' filtering, K = (0.01, 0.03), 2x2 average
    pooling with zero padding of odd sides, weights of the paper), for one (3, h, w) image on
    [0, 255]: an independent implementation, not the call npq wraps."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g /= g.sum()

    def blur(a):  # valid separable filtering of (c, h, w)
        a = np.stack([np.stack([np.convolve(r, g[::-1], mode="valid") for r in ch]) for ch in a])
        return np.stack([np.stack([np.convolve(c, g[::-1], mode="valid") for c in ch.T]).T for ch in a])

    def pool(a):
        c, h, w = a.shape
        p = np.zeros((c, h + 2 * (h % 2), w + 2 * (w % 2)))
        p[:, h % 2 : h % 2 + h, w % 2 : w % 2 + w] = a
        hh, ww = (p.shape[1] - 2) // 2 + 1, (p.shape[2] - 2) // 2 + 1
        return p[:, : 2 * hh, : 2 * ww].reshape(c, hh, 2, ww, 2).mean((2, 4))

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    vals = []
    for level in range(5):
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        ssim = ((2 * mx * my + c1) / (mx**2 + my**2 + c1)) * cs
        vals.append(np.maximum(cs.reshape(3, -1).mean(1), 0) if level < 4 else np.maximum(ssim.reshape(3, -1).mean(1), 0))
        x, y = pool(x), pool(y)
    return float(np.prod([v ** w for v, w in zip(vals, weights)], axis=0).mean())


def test_ms_ssim_matches_an_independent_implementation(photo_pair):
    x, y = photo_pair
    ours = ms_ssim_per_image(x, y)
    for i in range(x.shape[0]):
        ref = _ms_ssim_reference((x[i] * 255).round().double().numpy(), (y[i] * 255).round().double().numpy())
        assert float(ours[i]) == pytest.approx(ref, abs=1e-5)
    with pytest.raises(ValueError, match="at least 161x161"):
        ms_ssim_per_image(x[..., :100, :100], y[..., :100, :100])
    m = ReconstructionMetrics(["ms_ssim"])
    m.update(x[..., :100, :100], y[..., :100, :100])
    out = m.compute()
    assert math.isnan(out["ms_ssim"]) and "skipped 1" in out["ms_ssim_note"]


def test_lpips_plumbing_with_random_backbone(photo_pair):
    """Uses a RANDOM backbone (no pretrained AlexNet/VGG weights exist offline): checks the
    plumbing, not LPIPS values."""
    x, y = photo_pair
    model = load_lpips("alex", random_backbone=True)
    d_same = lpips_per_image(model, x, x)
    d_diff = lpips_per_image(model, x, y)
    assert d_same.abs().max() < 1e-6 and (d_diff > 0).all()
    m = ReconstructionMetrics(["lpips"], lpips_model=model)
    m.update(x, y)
    assert m.compute()["lpips"] == pytest.approx(d_diff.item())


def test_lpips_loads_a_local_backbone_checkpoint(tmp_path):
    import torchvision

    tv = torchvision.models.alexnet()  # random weights standing in for the ImageNet checkpoint
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(tv.state_dict(), path)
    model = load_lpips("alex", backbone_path=path)
    assert torch.equal(getattr(model.net.slice1, "0").weight, tv.features[0].weight)
    assert torch.equal(getattr(model.net.slice5, "10").bias, tv.features[10].bias)


def test_missing_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("NPQ_LPIPS_BACKBONE", raising=False)
    monkeypatch.delenv("NPQ_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(MissingWeightsError, match="alexnet-owt-7be5be79.pth"):
        load_lpips("alex")
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
        load_lpips("vgg")
    with pytest.raises(MissingWeightsError, match="weights-inception-2015-12-05-6726825d.pth"):
        inception_feature_extractor()
    with pytest.raises(MissingWeightsError, match="not found at"):
        inception_feature_extractor(tmp_path / "nope.pth")


def _small_features():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())

    def f(images):
        with torch.no_grad():
            return net(images * 2 - 1)

    return f


def test_fid_is_zero_for_identical_sets_and_grows_with_noise():
    g = torch.Generator().manual_seed(1)
    real = torch.rand(256, 3, 16, 16, generator=g)
    f = _small_features()
    fids = []
    for sigma in (0.0, 0.05, 0.2, 0.5):
        m = ReconstructionMetrics(["rfid"], feature_extractor=f)
        for i in range(0, 256, 64):  # batch accumulation
            fake = (real[i : i + 64] + sigma * torch.randn(real[i : i + 64].shape, generator=g)).clamp(0, 1)
            m.update(real[i : i + 64], fake)
        fids.append(m.compute()["rfid"])
    assert abs(fids[0]) < 1e-6
    assert fids[0] < fids[1] < fids[2] < fids[3]


def test_frechet_distance_closed_form_for_gaussians():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    c1, c2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 9.0])
    # diagonal covariances: ||mu||^2 + sum (sqrt(a) - sqrt(b))^2
    expect = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expect)
    from npq.metrics.fid import psd_sqrt

    assert np.allclose(psd_sqrt(c1), np.diag([1.0, 2.0, 3.0]))
    assert frechet_distance(mu1, c1, mu2, c2, sqrt_cov1=psd_sqrt(c1)) == pytest.approx(expect)


def test_usage_statistics_against_a_hand_counted_histogram():
    u = CodeUsage(8)
    u.update(torch.tensor([0, 0, 0, 1, 1, 5]))
    u.update(torch.tensor([[5, 7]]))
    s = u.summary(top=2)
    p = np.array([3, 2, 2, 1]) / 8
    assert s["tokens"] == 8 and s["codes_used"] == 4 and s["usage"] == 0.5
    assert s["entropy_bits"] == pytest.approx(float(-(p * np.log2(p)).sum()))
    assert s["perplexity"] == pytest.approx(2 ** s["entropy_bits"])
    assert s["most_used"] == [(0, 3), (1, 2)] and s["least_used"] == [(7, 1), (5, 2)]
    assert s["bits_per_token"] == 3.0
    with pytest.raises(ValueError, match=r"\[0, 7\]"):
        u.update(torch.tensor([8]))


def test_usage_per_leech_shape_class():
    code = LeechCode()
    u = CodeUsage(code.size, code)
    u.update(torch.tensor([0, 1, 1104, 1104, 98256, 196559]))
    per = u.summary()["per_class"]
    assert per["A"]["codes_used"] == 2 and per["B"]["codes_used"] == 1 and per["C"]["codes_used"] == 2
    assert per["B"]["token_share"] == pytest.approx(2 / 6)


def _dist_worker(rank, world, init_file, out_file):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    real, fake, idx = _dist_data()
    part = slice(0, 40) if rank == 0 else slice(40, 64)  # uneven shards
    m = ReconstructionMetrics(["psnr", "ssim", "rfid", "usage"], feature_extractor=_small_features(), codebook_size=32)
    for i in range(part.start, part.stop, 16):
        j = min(i + 16, part.stop)
        m.update(real[i:j], fake[i:j], idx[i:j])
    res = m.compute()
    torch.save(res, f"{out_file}.{rank}")
    dist.destroy_process_group()


def _dist_data():
    g = torch.Generator().manual_seed(3)
    real = torch.rand(64, 3, 16, 16, generator=g)
    fake = (real + 0.1 * torch.randn(real.shape, generator=g)).clamp(0, 1)
    idx = torch.randint(0, 32, (64, 4, 4), generator=g)
    return real, fake, idx


def test_distributed_accumulation_equals_single_process():
    real, fake, idx = _dist_data()
    single = ReconstructionMetrics(["psnr", "ssim", "rfid", "usage"], feature_extractor=_small_features(), codebook_size=32)
    single.update(real, fake, idx)
    ref = single.compute()
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_dist_worker, args=(2, os.path.join(d, "init"), os.path.join(d, "out")), nprocs=2, join=True)
        r0, r1 = torch.load(os.path.join(d, "out.0"), weights_only=False), torch.load(os.path.join(d, "out.1"), weights_only=False)
    for r in (r0, r1):
        assert r["images"] == 64
        for k in ("psnr", "ssim", "rfid"):
            assert r[k] == pytest.approx(ref[k], rel=1e-6, abs=1e-6), k
        assert r["usage"] == ref["usage"]


def test_bad_metric_configuration():
    with pytest.raises(ValueError, match="unknown metric"):
        ReconstructionMetrics(["psnr", "bleu"])
    with pytest.raises(ValueError, match="needs lpips_model"):
        ReconstructionMetrics(["lpips"])
    with pytest.raises(ValueError, match=r"shape \(b, 3, h, w\)"):
        psnr_per_image(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))


def test_feature_stats_cache_round_trip(tmp_path):
    from npq.metrics.fid import stats_cache_path

    f = FeatureStats(4)
    f.update(torch.randn(50, 4, generator=torch.Generator().manual_seed(0)))
    path = stats_cache_path(tmp_path, "/data/val", 256)
    assert path.name.startswith("fid_stats_val_256px_") and stats_cache_path(tmp_path, "/data/val", 128) != path
    f.save(path)
    z = np.load(path)
    mu, cov = f.mean_cov()
    assert np.allclose(z["mu"], mu) and np.allclose(z["cov"], cov) and int(z["n"]) == 50

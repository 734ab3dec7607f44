"""Residual (multi-stage) tokenizers as a codec: the number of stages is the rate ladder."""

import numpy as np
import pytest
import torch
from PIL import Image

from npq.codec import BitstreamError, compress, decompress
from npq.codec.bitstream import pack, unpack
from npq.codec.codec import model_stages
from npq.data.transforms import pad_to_multiple, to_tensor, to_uint8
from npq.models.build import build_tokenizer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_tokenizer({"arch": "conv", "conv": {"channels": 8, "mult": [1, 2, 4], "blocks": 1, "width": 32},
                         "quantizer": {"name": "residual", "quantizer": "leech", "stages": 3}}, 32)
    m.train()
    m(torch.rand(2, 3, 32, 32) * 2 - 1)  # data-initialized stage gains
    return m.eval()


def _img(h=40, w=56):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 4, y * 5, (x + y) * 2], -1) % 256
    return Image.fromarray((base + rng.integers(0, 30, (h, w, 3))).clip(0, 255).astype(np.uint8), "RGB")


def test_every_prefix_round_trips_to_the_tokenizers_reconstruction(model):
    assert model_stages(model) == (3, 196560)
    img = _img()
    x, _ = pad_to_multiple(to_tensor(np.array(img)), model.downsample)
    tokens = model.encode(x)  # (1, h, w, 3)
    sizes, errs = [], []
    for m in (1, 2, 3):
        res = compress(img, model, stages=m)
        assert res.tokens.shape == (*tokens.shape[1:3], m) and np.array_equal(res.tokens, tokens[0, ..., :m].numpy())
        hdr = unpack(res.data)[0]
        assert hdr.stages == m and hdr.version == (1 if m == 1 else 2)
        out = decompress(res.data, model)
        own = to_uint8(model.decode(tokens[..., :m])[..., :40, :56])
        assert np.array_equal(np.array(out), own)
        sizes.append(len(res.data))
        errs.append(float(((np.array(out, dtype=np.float64) - np.array(img)) ** 2).mean()))
    # each stage adds log2(196,560) = 17.58 bits per token (uniform prior), plus at most a stage
    # length (4 bytes), the version-2 header fields (4 bytes) and the coder's flush
    n_tok = tokens.shape[1] * tokens.shape[2]
    for a, b in zip(sizes, sizes[1:]):
        assert 17.5 * n_tok / 8 <= b - a <= 17.59 * n_tok / 8 + 16
    assert compress(img, model).tokens.shape[-1] == 3  # default: every stage


def test_bad_stage_requests_and_forged_stage_counts(model):
    img = _img()
    for bad in (0, 4, 1.5, True):
        with pytest.raises(ValueError, match="stages must be an integer in 1..3"):
            compress(img, model, stages=bad)
    res = compress(img, model, stages=2)
    h, payload, alpha = unpack(res.data)
    h.stages = 5  # more stages than the model has
    with pytest.raises(BitstreamError, match="codes 5 quantizer stages per token; this model has 3"):
        decompress(pack(h, payload, alpha), model)
    h.stages = 3  # claims a third stage that the payload does not hold
    with pytest.raises(BitstreamError):
        decompress(pack(h, payload, alpha), model)
    h.stages = 2
    with pytest.raises(BitstreamError):  # a stage length pointing past the end
        decompress(pack(h, b"\xff\xff\xff\x00" + payload[4:], alpha), model)


def test_cli_quality_levels(skimage_photos, tmp_path, capsys):
    """npq compress --quality N codes N stages of a residual model; decompress needs no flag."""
    from repo_paths import TINY_CONFIG

    from npq.cli.main import main
    from npq.train import Trainer, latest_checkpoint, load_config

    over = [f"data.train={skimage_photos}", "data.resolution=32", "data.batch_size=4", "data.preload=true", "model.arch=conv",
            "model.conv={channels: 8, mult: [1, 2, 4], blocks: 1, width: 32}", "model.quantizer={name: residual, stages: 2}",
            "loss.perceptual=0", "optim.steps=2", f"train.out_dir={tmp_path / 'run'}", "train.tensorboard=false"]
    Trainer(load_config(TINY_CONFIG, over), progress=False).run()
    ckpt = str(latest_checkpoint(tmp_path / "run"))
    img = tmp_path / "in.png"
    _img(64, 96).save(img)
    sizes = []
    for q in (1, 2):
        out = tmp_path / f"q{q}.npq"
        assert main(["compress", str(img), str(out), "--checkpoint", ckpt, "--prior", "uniform", "--quality", str(q)]) == 0
        assert main(["decompress", str(out), str(tmp_path / f"q{q}.png"), "--checkpoint", ckpt]) == 0
        assert Image.open(tmp_path / f"q{q}.png").size == (96, 64)
        sizes.append(out.stat().st_size)
    assert sizes[1] > sizes[0]
    capsys.readouterr()
    assert main(["compress", str(img), str(tmp_path / "q3.npq"), "--checkpoint", ckpt, "--quality", "3"]) == 2
    assert "--quality must be in 1..2 for this model" in capsys.readouterr().err
    # a context prior with counts per stage, trained and used from the command line
    prior = tmp_path / "ctx.safetensors"
    assert main(["train-prior", "--kind", "context", "--checkpoint", ckpt, "--data", str(skimage_photos), "--out", str(prior),
                 "--crops", "4", "--crop", "64", "--quiet"]) == 0
    assert main(["compress", str(img), str(tmp_path / "c.npq"), "--checkpoint", ckpt, "--prior-file", str(prior), "--quality", "2"]) == 0
    assert main(["decompress", str(tmp_path / "c.npq"), str(tmp_path / "c.png"), "--checkpoint", ckpt, "--prior-file", str(prior)]) == 0
    assert np.array_equal(np.array(Image.open(tmp_path / "c.png")), np.array(Image.open(tmp_path / "q2.png")))
    # and a neural prior (one network per stage, stage 2 given stage 1), tiny settings
    neural = tmp_path / "neural.safetensors"
    assert main(["train-prior", "--kind", "neural", "--checkpoint", ckpt, "--data", str(skimage_photos), "--out", str(neural),
                 "--crops", "4", "--crop", "64", "--steps", "20", "--qat-steps", "5", "--batch", "256", "--width", "16", "--dim", "4",
                 "--quiet"]) == 0
    assert main(["compress", str(img), str(tmp_path / "n.npq"), "--checkpoint", ckpt, "--prior-file", str(neural), "--quality", "2"]) == 0
    assert main(["decompress", str(tmp_path / "n.npq"), str(tmp_path / "n.png"), "--checkpoint", ckpt, "--prior-file", str(neural)]) == 0
    assert np.array_equal(np.array(Image.open(tmp_path / "n.png")), np.array(Image.open(tmp_path / "q2.png")))
    capsys.readouterr()
    assert main(["train-prior", "--checkpoint", ckpt, "--data", str(skimage_photos), "--out", str(prior), "--quiet"]) == 2
    assert "use --kind neural or context" in capsys.readouterr().err


def test_rd_draws_the_ladder_and_per_image_bd(model, tmp_path):
    from npq.codec.rd import per_image_bd, run_rd

    for i in range(2):
        _img(48 + 16 * i, 64).save(tmp_path / f"im{i}.png")
    out = run_rd(tmp_path, [("res", model, None)], ["jpeg"], progress=False)
    res = next(r for r in out["results"] if r["name"] == "res")["results"]
    assert len(res["bpp"]) == 3 and res["bpp"] == sorted(res["bpp"])
    c = out["comparisons"][0]
    assert len(c["levels"]) == 3 and c["images"] == 2 and {"bd_rate", "bd_rate_per_image", "bd_psnr_per_image"} <= set(c)
    # known curves: the npq curve is the codec's shifted up by 1 dB (BD-PSNR +1) on one image,
    # and does not overlap the codec's rates on the other (left out, counted)
    codec = [{"images": [{"bpp": b, "psnr": 30 + 6 * np.log2(b)}, {"bpp": b, "psnr": 30.0}]} for b in (0.1, 0.2, 0.4, 0.8)]
    npq = [{"images": [{"bpp": b, "psnr": 31 + 6 * np.log2(b)}, {"bpp": 8 * b, "psnr": 40.0}]} for b in (0.15, 0.3)]
    bd = per_image_bd(npq, codec)
    assert bd["bd_psnr_per_image"] == pytest.approx(1.0, abs=1e-6) and bd["bd_psnr_images"] == 1 and bd["images"] == 2
    assert bd["bd_rate_per_image"] == pytest.approx((2 ** (-1 / 6) - 1) * 100, abs=1e-4)


def test_context_prior_per_stage_round_trips_and_saves(model, tmp_path):
    from npq.codec import load_prior
    from npq.codec.priors.context import ContextPrior

    img = _img(64, 96)
    x, _ = pad_to_multiple(to_tensor(np.array(img)), model.downsample)
    rng = np.random.default_rng(0)
    crops = [model.encode(torch.from_numpy(rng.random((1, 3, 64, 96), dtype=np.float32) * 2 - 1))[0] for _ in range(6)]
    prior = ContextPrior.fit(torch.stack(crops + [model.encode(x)[0]]).numpy(), 196560)  # (n, h, w, 3)
    assert len(prior.stages) == 2 and prior.stage_prior(0) is prior and prior.stage_prior(5) is prior.stages[-1]
    sizes = []
    for m in (1, 2, 3):
        res = compress(img, model, prior, stages=m)
        assert np.array_equal(np.array(decompress(res.data, model, prior)), to_uint8(model.decode(model.encode(x)[..., :m])[..., :64, :96]))
        sizes.append(len(res.data))
    assert sizes == sorted(sizes) and sizes[-1] < len(compress(img, model, stages=3).data)  # fitted on this image: fewer bits
    again = load_prior(prior.save(tmp_path / "p.safetensors"))
    assert again.fingerprint() == prior.fingerprint() and len(again.stages) == 2
    assert compress(img, model, again).data == compress(img, model, prior).data

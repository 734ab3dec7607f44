"""Encoder-side latent refinement: better tokens for the same decoder, files decode as usual."""

import numpy as np
import pytest
import torch
from PIL import Image

from npq.codec import compress, decompress
from npq.codec.rd import image_metrics
from npq.codec.refine import encode_refined, refine_latents
from npq.data.photos import load_rgb, public_eval_photos
from npq.data.transforms import pad_to_multiple, to_tensor, to_uint8
from npq.models.tiling import decode_tiled, tile_count


@pytest.fixture(scope="module")
def shipped():
    from npq.zoo import load_default

    return load_default()


@pytest.fixture(scope="module")
def crop():
    img = load_rgb(next(p for p in public_eval_photos() if p.name.startswith("coffee")))
    return img[100:147, 200:255]  # 47 x 55: odd sizes, padded to 48 x 56


def test_refinement_lowers_the_error_of_the_coded_prefix_and_decodes_as_usual(shipped, crop):
    model, prior = shipped
    base = compress(Image.fromarray(crop), model, prior, stages=1)
    res = compress(Image.fromarray(crop), model, prior, stages=1, refine=4)
    assert not np.array_equal(base.tokens, res.tokens)  # the tokens moved
    out_base = np.array(decompress(base.data, model, prior))
    out = np.array(decompress(res.data, model, prior))  # an ordinary file: the decoder knows nothing of it
    x, _ = pad_to_multiple(to_tensor(crop), model.downsample)
    assert np.array_equal(out, to_uint8(model.decode(torch.from_numpy(res.tokens)[None]))[:47, :55])
    assert image_metrics(crop, out)[0] > image_metrics(crop, out_base)[0] + 0.1  # measured here: +0.55 dB at 4 steps


def test_zero_steps_are_the_encoders_tokens_and_bad_arguments_are_refused(shipped, crop):
    model, _ = shipped
    x, _ = pad_to_multiple(to_tensor(crop), model.downsample)
    assert torch.equal(encode_refined(model, x, 0, 2), model.encode(x)[..., :2])
    assert torch.equal(refine_latents(model, x, 0), model.latents(x))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="steps"):
            refine_latents(model, x, bad)
    with pytest.raises(ValueError, match="lr"):
        refine_latents(model, x, 1, lr=0.0)
    assert all(p.grad is None for p in model.parameters())  # no weight gradients were formed


def test_tiled_refinement_improves_every_tile_and_keeps_the_tile_layout(shipped):
    model, prior = shipped
    img = load_rgb(next(p for p in public_eval_photos() if p.name.startswith("astronaut")))[:70, :75]  # 2 x 2 tiles
    plain = compress(Image.fromarray(img), model, prior, tile=64, stages=1)
    res = compress(Image.fromarray(img), model, prior, tile=64, stages=1, refine=2)
    assert res.data[4] == 2 and res.tokens.shape == plain.tokens.shape == (9, 10, 1)
    assert tile_count(model, 70, 75, 64, one_pass=0) == 4 and tile_count(model, 70, 75, 0) == tile_count(model, 70, 75) == 1
    out = np.array(decompress(res.data, model, prior))
    want = to_uint8(decode_tiled(model, torch.from_numpy(res.tokens)[None], 64, 8, one_pass=0))[:70, :75]
    assert np.array_equal(out, want)
    assert image_metrics(img, out)[0] > image_metrics(img, np.array(decompress(plain.data, model, prior)))[0]


def test_cli_compress_refine_and_rd_curve(shipped, crop, tmp_path, capsys):
    from npq.cli.main import main
    from npq.codec.rd import run_rd

    src = tmp_path / "in" / "crop.png"
    src.parent.mkdir()
    Image.fromarray(crop[:32, :40]).save(src)
    assert main(["compress", str(src), str(tmp_path / "c.npq"), "--quality", "1", "--refine", "2"]) == 0
    assert "2 refinement steps" in capsys.readouterr().out
    assert main(["decompress", str(tmp_path / "c.npq"), str(tmp_path / "c.png")]) == 0  # no flag needed
    with pytest.raises(SystemExit) as e:  # argparse: a usage message, not a traceback
        main(["compress", str(src), str(tmp_path / "d.npq"), "--refine", "-3"])
    assert e.value.code == 2 and "--refine: expected an integer >= 0" in capsys.readouterr().err
    model, prior = shipped
    out = run_rd(src.parent, [("plain", model, prior), ("refined", model, prior, 2)], ["jpeg"], progress=False)
    names = [r["name"] for r in out["results"]]
    assert names == ["jpeg", "plain", "refined"] and len(out["results"][2]["results"]["bpp"]) == 4

"""The shipped default Λ24-SQ tokenizer and `npq demo` (docs/default-model.md)."""

import json

import torch
from PIL import Image

from npq.apps.demo import run_demo
from npq.codec.rd import image_metrics
from npq.data.photos import load_rgb, public_eval_photos
from npq.data.transforms import pad_to_multiple, to_tensor, to_uint8
from npq.zoo import DEFAULT, SHIPPED, load_default

# floor set from the model card: mean PSNR of the shipped model on the public photos minus a margin
PSNR_FLOOR_DB = 22.0  # astronaut 23.31 dB, mean 24.28 dB in docs/default-model.md


def test_shipped_files_exist_and_are_small():
    shipped = SHIPPED[DEFAULT]
    assert shipped.model.is_file() and shipped.model.stat().st_size < 20 * 2**20
    assert shipped.prior.is_file() and shipped.prior.stat().st_size < 20 * 2**20


def test_shipped_model_reconstructs_a_photo_above_the_floor():
    model, prior = load_default()
    assert model.quantizer.codebook_size == 196560 and model.downsample == 8
    img = load_rgb(public_eval_photos()[0])
    x, (h, w) = pad_to_multiple(to_tensor(img), 8)
    with torch.no_grad():
        rec = to_uint8(model(x).recon[..., :h, :w])
    psnr, _ = image_metrics(img, rec)
    assert psnr > PSNR_FLOOR_DB


def test_demo_runs_and_writes_the_report(tmp_path):
    # `npq demo` on one 256 x 256 crop of a public photo (the whole demo: `make demo`)
    crop = tmp_path / "crop.png"
    Image.fromarray(load_rgb(public_eval_photos()[0])[128:384, 128:384]).save(crop)
    s = run_demo(tmp_path / "out", images=[crop], progress=False)
    tmp_path = tmp_path / "out"
    assert s["images"] == 1 and (tmp_path / "report.html").stat().st_size > 10_000
    assert (tmp_path / "rd.png").is_file()
    page = (tmp_path / "report.html").read_text()
    assert "<b>mean</b>" in page and "**" not in page  # Markdown bold is rendered, not printed
    m = s["mean"]
    assert 0.26 < m["bpp_uniform"] < 0.30  # 17.58 bits per 8x8 patch plus the header
    assert m["bpp_learned"] < m["bpp_uniform"]
    assert m["psnr"] > PSNR_FLOOR_DB
    res = json.loads((tmp_path / "results.json").read_text())
    assert {r["name"] for r in res["results"]} >= {"jpeg", "webp", "jpeg2000"}

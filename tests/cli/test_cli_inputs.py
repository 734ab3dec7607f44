"""Awkward inputs get clear errors or the right result, not tracebacks or silent surprises."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from repo_paths import REPO, TINY_CONFIG

from npq.cli.main import main
from npq.codec.codec import prepare_image
from npq.data.photos import load_rgb, open_image
from npq.metrics import ReconstructionMetrics, format_results
from npq.quantize import make
from npq.train import load_config

PHOTO = REPO / "tests" / "data" / "npq-0.1" / "astronaut_crop.png"


def _jpeg_with_orientation(path, arr, orientation):
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes())


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    _jpeg_with_orientation(tmp_path / "r.jpg", arr, 6)  # "rotate 90 CW to display"
    out = load_rgb(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 3) and out[:20].mean() > 200 and out[20:].mean() < 50


def test_16_bit_truncated_and_bomb_images_are_clear_errors(tmp_path, capsys, monkeypatch):
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(tmp_path / "deep.png")
    assert main(["tokenize", str(tmp_path / "deep.png"), "--out", str(tmp_path / "t.npz")]) == 2
    assert "16-bit" in capsys.readouterr().err
    data = PHOTO.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert main(["tokenize", str(tmp_path / "cut.png"), "--out", str(tmp_path / "t.npz")]) == 2
    assert "truncated" in capsys.readouterr().err
    monkeypatch.setenv("NPQ_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(ValueError, match="NPQ_MAX_IMAGE_PIXELS"):
        open_image(PHOTO)  # 72 x 96 > 1000 pixels: Pillow's bomb guard, explained
    monkeypatch.setenv("NPQ_MAX_IMAGE_PIXELS", str(178956970))
    open_image(PHOTO)


def test_animated_images_warn_and_alpha_modes_convert(tmp_path):
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (0, 255)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match="2 frames"):
        open_image(tmp_path / "a.gif")
    for mode in ("PA", "RGBa", "LA"):  # alpha modes keep their alpha plane in the codec
        rgb, out_mode, alpha = prepare_image(Image.new(mode, (8, 6)))
        assert rgb.shape == (6, 8, 3) and out_mode == "RGBA" and alpha.shape == (6, 8)


def test_scientific_notation_in_overrides_and_bad_counts(capsys):
    assert load_config(TINY_CONFIG, ["optim.lr=3e-4"]).optim.lr == pytest.approx(3e-4)
    with pytest.raises(SystemExit) as e:
        main(["train", TINY_CONFIG, "--stop-at", "-5"])
    assert e.value.code == 2 and "integer >= 1" in capsys.readouterr().err


def test_prior_file_with_the_uniform_prior_is_refused(tmp_path, capsys):
    assert main(["compress", str(PHOTO), str(tmp_path / "x.npq"), "--prior", "uniform", "--prior-file", "p.pt"]) == 2
    assert "--prior-file is a trained prior" in capsys.readouterr().err


def test_skipped_metrics_are_explained():
    m = ReconstructionMetrics(["psnr", "ms_ssim"])
    x = torch.rand(1, 3, 64, 64)
    m.update(x, x.clamp(0.1, 0.9))
    res = m.compute()
    assert math.isnan(res["ms_ssim"]) and "smaller than 161 px" in format_results(res)


def test_quantizers_refuse_values_beyond_float32_and_empty_batches_are_zero_loss():
    for name, kw in (("leech", {}), ("e8-sq", {}), ("rpvq", {"dim": 8, "codebook_size": 64})):
        q = make(name, **kw)
        with pytest.raises(ValueError, match="beyond float32"):
            q(torch.full((2, q.dim), 1e200, dtype=torch.float64))
    vq = make("vq", dim=4, codebook_size=8).train()
    out = vq(torch.zeros(0, 4))
    assert out.loss.item() == 0.0 and out.z_q.shape == (0, 4)


def test_eval_skips_unreadable_files_and_keeps_the_results(tmp_path, capsys):
    d = tmp_path / "imgs"
    d.mkdir()
    (d / "good.png").write_bytes(PHOTO.read_bytes())
    (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    assert main(["eval", "--data", str(d), "--resolution", "64", "--metrics", "psnr", "--quiet", "--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "| images | 1 |" in out and "skipped 1 unreadable file(s)" in out and "bad.png" in out


def _png(path, width, height, bit_depth, color_type, raw: bytes):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_48_bit_pngs_are_refused_as_the_docs_say(tmp_path, capsys):
    """Pillow reads a 16-bit-per-channel RGB PNG as 8-bit RGB, so it was silently reduced while
    docs/bitstream.md says 16-bit images are refused: now refused with one line."""
    from PIL import Image

    from npq.cli.main import main

    w, h = 8, 4
    rows = b"".join(b"\0" + bytes(range(w * 6)) for _ in range(h))  # filter byte + 8 px x 3 channels x 2 bytes
    _png(tmp_path / "deep.png", w, h, 16, 2, rows)
    assert Image.open(tmp_path / "deep.png").mode == "RGB"  # what Pillow makes of it
    assert main(["compress", str(tmp_path / "deep.png"), str(tmp_path / "deep.npq"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "48-bit PNG" in err and len(err.splitlines()) == 1 and not (tmp_path / "deep.npq").exists()
    _png(tmp_path / "ok.png", w, h, 8, 2, b"".join(b"\0" + bytes(range(w * 3)) for _ in range(h)))
    assert main(["compress", str(tmp_path / "ok.png"), str(tmp_path / "ok.npq"), "--prior", "uniform", "--quiet"]) == 0


def test_the_missing_training_photos_message_says_what_a_folder_needs(monkeypatch, tmp_path):
    """It offered only Debian apt-get commands; it now says first what a folder of one's own
    photos must contain (the corpus is absent here: an empty set of package folders)."""
    import npq.data.images as images

    monkeypatch.setattr(images, "DEBIAN_PHOTO_DIRS", {"mate-backgrounds": str(tmp_path / "none")})
    with pytest.raises(FileNotFoundError) as e:
        images.debian_training_photos()
    msg = str(e.value)
    assert msg.index("folder of your own photos") < msg.index("apt-get") and "short side >= 128 px" in msg

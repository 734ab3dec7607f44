"""The image codec: bitstream round trips, corruption handling, priors, RD tools."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from repo_paths import TINY_CONFIG

from npq.codec import BitstreamError, PriorConfig, TokenPrior, compress, decompress
from npq.codec.entropy_coding import CategoricalEncoder, encode_uniform, quantized_pmf
from npq.codec.rd import aggregate, bd_psnr, bd_rate, interp_psnr_at, sweep_classic
from npq.data.transforms import pad_to_multiple, to_tensor, to_uint8
from npq.train import Trainer, latest_checkpoint, load_config
from npq.zoo import load_tokenizer

SKIMAGE = Path(__import__("skimage").__file__).parent / "data"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, skimage_photos):
    d = tmp_path_factory.mktemp("codec")
    over = [f"data.train={skimage_photos}", "data.resolution=32", "data.batch_size=4", "data.preload=true", "model.arch=conv",
            "model.conv={channels: 8, mult: [1, 2, 4], blocks: 1, width: 32}", "loss.perceptual=0", "optim.steps=2",
            f"train.out_dir={d / 'run'}", "train.tensorboard=false"]
    Trainer(load_config(TINY_CONFIG, over), progress=False).run()
    return latest_checkpoint(d / "run")


@pytest.fixture(scope="module")
def model(ckpt):
    return load_tokenizer(ckpt)[0]


@pytest.fixture(scope="module")
def prior():
    torch.manual_seed(0)
    return TokenPrior(PriorConfig(196560, width=32, depth=1, heads=2))


def _img(h, w, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    base = np.asarray(Image.open(SKIMAGE / "astronaut.png").convert("RGB").resize((max(w, 1), max(h, 1))))
    if mode == "L":
        return Image.fromarray(base[..., 0], "L")
    if mode == "RGBA":
        return Image.fromarray(np.dstack([base, rng.integers(0, 256, (h, w), dtype=np.uint8)]), "RGBA")
    return Image.fromarray(base, "RGB")


def _own_reconstruction(model, img):
    x, (h, w) = pad_to_multiple(to_tensor(np.array(img.convert("RGB"))), model.downsample)
    with torch.no_grad():
        return to_uint8(model(x).recon[..., :h, :w])


@pytest.mark.parametrize("use_prior", [False, True], ids=["uniform", "learned"])
def test_round_trip_equals_the_tokenizers_reconstruction(model, prior, use_prior):
    img = _img(40, 56)
    res = compress(img, model, prior if use_prior else None)
    assert res.bpp == pytest.approx(len(res.data) * 8 / (40 * 56))
    out = decompress(res.data, model, prior if use_prior else None)
    assert out.size == img.size and out.mode == "RGB"
    assert np.array_equal(np.array(out), _own_reconstruction(model, img))


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (8, 1000), (333, 7)])
def test_odd_sizes(model, size):
    img = _img(*size)
    out = decompress(compress(img, model).data, model)
    assert out.size == img.size
    assert np.array_equal(np.array(out), _own_reconstruction(model, img))


def test_modes_gray_rgba_palette_and_refusals(model):
    g = _img(24, 24, "L")
    out = decompress(compress(g, model).data, model)
    assert out.mode == "L" and out.size == g.size
    a = _img(24, 24, "RGBA")
    out = decompress(compress(a, model).data, model)
    assert out.mode == "RGBA" and np.array_equal(np.array(out)[..., 3], np.array(a)[..., 3])  # alpha lossless
    p = _img(24, 24).convert("P")
    assert decompress(compress(p, model).data, model).mode == "RGB"
    with pytest.raises(ValueError, match="16-bit or float"):
        compress(Image.new("I;16", (8, 8)), model)


def test_uniform_prior_reaches_log2_n(model):
    tokens = np.random.default_rng(0).integers(0, 196560, 4096)
    bits = len(encode_uniform(tokens, 196560)) * 8 / 4096
    assert math.log2(196560) <= bits < math.log2(196560) * 1.01  # 17.58, not 18


def test_learned_prior_code_length_is_within_one_percent_of_ideal():
    rng = np.random.default_rng(0)
    probs = quantized_pmf(rng.normal(size=(2000, 384)) * 2)
    syms = np.array([rng.choice(384, p=p) for p in probs])
    enc = CategoricalEncoder()
    enc.encode(syms, probs)
    ideal = -np.log2(probs[np.arange(2000), syms]).sum()
    assert len(enc.finish()) * 8 < ideal * 1.01 + 64


def test_errors_for_bad_files(model, ckpt, prior):
    data = compress(_img(32, 32), model).data
    cases = {
        "empty": (b"", "empty file"),
        "truncated": (data[:-7], "truncated"),
        "wrong magic": (b"XXXX" + data[4:], "wrong magic"),
        "bit flip": (data[:40] + bytes([data[40] ^ 0x10]) + data[41:], "CRC32"),
    }
    for name, (blob, msg) in cases.items():
        with pytest.raises(BitstreamError, match=msg):
            decompress(blob, model)
    other = load_tokenizer(ckpt)[0]
    with torch.no_grad():
        other.quant_in.weight.add_(1e-3)
    other._npq_model_id = None
    with pytest.raises(BitstreamError, match="another model"):
        decompress(data, other)
    coded = compress(_img(16, 16), model, prior).data
    with pytest.raises(BitstreamError, match="learned prior"):
        decompress(coded, model)


def test_fuzz_random_corruptions_never_decode_silently(model):
    data = compress(_img(24, 40), model).data
    rng = np.random.default_rng(0)
    for trial in range(300):
        b = bytearray(data)
        kind = trial % 3
        if kind == 0:
            for _ in range(rng.integers(1, 4)):
                i = int(rng.integers(0, len(b)))
                b[i] ^= int(rng.integers(1, 256))
        elif kind == 1:
            b = b[: int(rng.integers(0, len(b)))]
        else:
            b += bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8))
        with pytest.raises(BitstreamError):
            decompress(bytes(b), model)


def test_fuzz_forged_headers_behind_a_valid_crc(model):
    """Header fields changed and the file re-packed (a valid CRC, so the header checks run, which
    random corruption never reached): a BitstreamError naming the field, or - for a forged but
    consistent header - an image of the declared size; never another exception."""
    import dataclasses

    from npq.codec.bitstream import pack, unpack

    res = compress(_img(72, 80), model, tile=0)
    h0, payload, alpha = unpack(res.data)
    rng = np.random.default_rng(1)
    fields = {"height": (1, 70, 72, 73, 80, 1 << 20), "width": (1, 79, 81, 160), "mode": ("L", "RGBA"), "grid_h": (0, 8, 10, 65535),
              "grid_w": (0, 9, 11), "n_codes": (2, 196559, 196561), "tile": (0, 1, 7, 8, 9, 100), "margin": (0, 8, 9, 64),
              "stages": (1, 2, 3), "prior": (0, 1, 2, 3, 9, 255), "token_crc": (0, h0.token_crc ^ 1)}
    messages = set()
    for trial in range(400):
        h = dataclasses.replace(h0)
        for name in rng.choice(sorted(fields), size=int(rng.integers(1, 3)), replace=False):
            setattr(h, name, fields[name][int(rng.integers(0, len(fields[name])))])
        if h.version == 1 and (h.tile or h.margin or h.stages != 1):
            h.stages = max(h.stages, 1)
        try:
            data = pack(h, payload, alpha if trial % 7 else b"x")
        except Exception:  # noqa: BLE001 - a value the format cannot hold is not a file
            continue
        try:
            img = decompress(data, model)
        except BitstreamError as e:
            messages.add(str(e)[:90])
            continue
        assert img.size == (h.width, h.height)
    # the checks behind the CRC were reached: size / grid, tiles, stages, prior, alpha, tokens
    text = " ".join(messages)
    for part in ("inconsistent", "tiles of", "stages", "prior", "alpha", "checksum"):
        assert part in text, (part, messages)


def test_encode_in_one_process_decode_in_another(model, ckpt, prior, tmp_path):
    prior_path = tmp_path / "prior.pt"
    prior.save(prior_path)
    img_path = tmp_path / "in.png"
    _img(24, 40).save(img_path)
    from npq.cli.main import main

    # encoded here (the test process, its thread count), decoded in a fresh process with 2 threads
    assert main(["compress", str(img_path), str(tmp_path / "x.npq"), "--checkpoint", str(ckpt), "--prior", "learned",
                 "--prior-file", str(prior_path)]) == 0
    run = [sys.executable, "-m", "npq.cli.main"]
    r = subprocess.run(run + ["decompress", str(tmp_path / "x.npq"), str(tmp_path / "out.png"), "--checkpoint", str(ckpt),
                              "--prior-file", str(prior_path)], capture_output=True, text=True, env={**__import__("os").environ, "OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.array(Image.open(tmp_path / "out.png")), _own_reconstruction(model, Image.open(img_path)))


def test_cli_errors_are_messages_not_tracebacks(ckpt, tmp_path, capsys):
    """Non-zero exit, a message, no traceback, no output file (main() is the console script's body)."""
    from npq.cli.main import main

    (tmp_path / "bad.npq").write_bytes(b"NPQ\x89garbage")
    assert main(["decompress", str(tmp_path / "bad.npq"), str(tmp_path / "bad.png"), "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and "Traceback" not in err and not (tmp_path / "bad.png").exists()
    assert main(["compress", str(tmp_path / "nope.png"), str(tmp_path / "n.npq"), "--checkpoint", str(ckpt)]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "n.npq").exists()


def test_bd_metrics_on_known_curves():
    bpp = np.array([0.1, 0.2, 0.4, 0.8])
    psnr = np.array([25.0, 28.0, 31.0, 34.0])
    assert bd_psnr(bpp, psnr, bpp, psnr + 1.0) == pytest.approx(1.0, abs=1e-9)
    assert bd_rate(bpp, psnr, bpp * 0.8, psnr) == pytest.approx(-20.0, abs=1e-6)
    assert interp_psnr_at(0.3, bpp, psnr) == pytest.approx(28 + 3 * math.log(1.5) / math.log(2))


def test_classic_codecs_and_compressai_json():
    img = np.array(_img(64, 96))
    for codec in ("jpeg", "webp", "jpeg2000"):
        pts = sweep_classic([img], codec, None)
        res = aggregate(pts, codec)
        assert set(res["results"]) == {"bpp", "psnr-rgb", "ms-ssim"} and res["name"] == codec
        by_quality = [p["images"][0]["bpp"] for p in pts]  # the sweep's own order: rate grows with quality
        assert all(a <= b for a, b in zip(by_quality, by_quality[1:])) and 0 < by_quality[0] < by_quality[-1]
        assert res["results"]["bpp"] == sorted(by_quality) and res["results"]["psnr-rgb"][-1] > res["results"]["psnr-rgb"][0]


def test_cli_rd_and_train_prior(ckpt, tmp_path):
    from npq.cli.main import main

    data = tmp_path / "imgs"
    data.mkdir()
    _img(48, 64).save(data / "a.png")
    photos = tmp_path / "train"
    photos.mkdir()
    (photos / "brick.png").write_bytes((SKIMAGE / "brick.png").read_bytes())
    assert main(["train-prior", "--checkpoint", str(ckpt), "--data", str(photos), "--out", str(tmp_path / "p.pt"), "--crops", "8",
                 "--crop", "32", "--steps", "3", "--width", "32", "--depth", "1", "--heads", "2", "--quiet"]) == 0
    assert main(["rd", "--data", str(data), "--checkpoint", str(ckpt), "--prior-file", str(tmp_path / "p.pt"), "--codecs", "jpeg",
                 "--out", str(tmp_path / "rd"), "--quiet"]) == 0
    import json

    jpeg = json.loads((tmp_path / "rd" / "jpeg.json").read_text())
    from npq.codec.classic import CLASSIC_CODECS

    assert len(jpeg["results"]["bpp"]) == len(CLASSIC_CODECS["jpeg"])
    text = (tmp_path / "rd" / "comparisons.json").read_text()
    comps = json.loads(text)
    assert {c["model"] for c in comps} == {"npq tiny_cpu_leech (uniform prior)", "npq tiny_cpu_leech (learned prior)"}
    assert (tmp_path / "rd" / "rd.png").stat().st_size > 1000
    # valid JSON (null, never a bare NaN) and portable file names (no spaces or parentheses)
    assert "NaN" not in text and "Infinity" not in text
    names = sorted(p.name for p in (tmp_path / "rd").glob("*.json"))
    assert "npq_tiny_cpu_leech_learned_prior.json" in names and all(" " not in n and "(" not in n for n in names)
    # one level, both sweeps reach it or say why not; the rate figure in the BD-rate convention
    lv = comps[0]["levels"][0]
    if lv["rate_diff_pct"] is not None:
        assert lv["rate_diff_pct"] == pytest.approx((lv["bpp"] / lv["codec_bpp_at_psnr"] - 1) * 100)


def test_learned_prior_learns_and_saves_bits_on_structured_tokens():
    from npq.codec.entropy_coding import encode_uniform
    from npq.codec.priors.training import train_prior

    g = torch.Generator().manual_seed(0)
    vocab = torch.tensor([7, 1234, 98300, 196559])  # tokens repeat along rows: predictable from the left
    rows = vocab[torch.randint(0, 4, (64, 8, 1), generator=g)].expand(64, 8, 8).contiguous()
    prior, hist = train_prior(rows, 196560, steps=80, batch=8, lr=3e-3, cfg=PriorConfig(196560, width=32, depth=1, heads=2),
                              progress=False, max_offset=4)
    assert hist[-1] < 0.25 * hist[0]
    tokens = rows[0].numpy()
    learned = len(prior.encode(tokens)) * 8
    assert learned < 0.5 * len(encode_uniform(tokens, 196560)) * 8
    assert np.array_equal(prior.decode(prior.encode(tokens), tokens.shape), tokens)


def test_jpeg2000_uses_the_colour_transform():
    from npq.codec.classic import classic_roundtrip

    img = np.asarray(Image.open(SKIMAGE / "astronaut.png").convert("RGB"))[:64, :64].copy()
    data, _ = classic_roundtrip(img, "jpeg2000", 24)
    cod = data.index(b"\xff\x52")  # COD marker: Lcod (2), Scod (1), progression (1), layers (2), MCT (1)
    assert data[cod + 2 + 2 + 1 + 1 + 2] == 1


# --- tiled network passes (bounded memory for camera photos) ---------------------------------------
def _photo(h: int, w: int) -> Image.Image:
    g = np.random.default_rng(0)
    base = g.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    return Image.fromarray(np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]).filter(__import__("PIL.ImageFilter").ImageFilter.BLUR)


def test_tiled_files_record_their_tiling_and_decode_with_it(model):
    from npq.codec.bitstream import unpack
    from npq.models.tiling import decode_tiled

    img = _photo(150, 203)  # padded 152 x 208: 19 x 26 tokens, tiles of 8 tokens
    small = compress(img, model, tile=0)
    assert small.data[4] == 1 and unpack(small.data)[0].tile == 0  # one pass: a version-1 file as before
    res = compress(img, model, tile=64)
    h = unpack(res.data)[0]
    assert res.data[4] == 2 and (h.tile, h.margin, h.stages) == (8, 8, 1)
    # the first core's tokens are those of its own tile (core + margin), computed independently
    x, _ = pad_to_multiple(to_tensor(np.array(img)), 8)
    own = model.encode(x[:, :, : 16 * 8, : 16 * 8])[0, :8, :8].numpy()
    assert np.array_equal(res.tokens[:8, :8], own)
    # decoding uses the recorded tiles
    out = np.array(decompress(res.data, model))
    want = to_uint8(decode_tiled(model, torch.from_numpy(res.tokens)[None], 64, 8, one_pass=0))[:150, :203]
    assert np.array_equal(out, want)
    with pytest.raises(ValueError, match="tile must be"):
        compress(img, model, tile=16)


def test_forged_tile_fields_are_refused(model):
    from npq.codec.bitstream import pack, unpack

    res = compress(_photo(100, 100), model, tile=64)
    h, payload, alpha = unpack(res.data)
    # the encoder writes (0, 0) or (tile >= 8, margin 8) on a grid larger than a tile: anything else
    # is forged (tile 8 / margin 64 passed before and made decoding 42x slower)
    for tile, margin, stages in ((1, 8, 1), (8, 200, 1), (8, 8, 3), (8, 64, 1), (0, 8, 2), (8, 0, 1), (13, 8, 1)):
        h.tile, h.margin, h.stages = tile, margin, stages
        with pytest.raises(BitstreamError, match="tiles of|stages"):
            decompress(pack(h, payload, alpha), model)
    h.tile, h.margin, h.stages = 8, 8, 1
    with pytest.raises(BitstreamError, match="alpha plane in a RGB file"):  # an RGB file carrying an alpha plane
        decompress(pack(h, payload, b"x"), model)


def test_every_field_has_one_byte_order_whatever_the_host():
    """Payload words and the token CRC are little-endian on any host (they used the host's order):
    a big-endian host's native arrays serialize to the same bytes."""
    import zlib

    from npq.codec.codec import _token_crc
    from npq.codec.entropy_coding import _words, words_to_bytes

    words = np.array([1, 0x01020304, 0xFFFFFFFF], dtype=np.uint32)
    as_big_endian_host = words.astype(">u4")  # what get_compressed() returns on such a host
    assert words_to_bytes(as_big_endian_host) == words_to_bytes(words) == b"\x01\0\0\0\x04\x03\x02\x01\xff\xff\xff\xff"
    assert np.array_equal(_words(words_to_bytes(words)), words)
    tokens = np.array([[1, 70000], [196559, 0]], dtype=np.int64)
    assert _token_crc(tokens.astype(">i8")) == _token_crc(tokens) == zlib.crc32(np.array([1, 70000, 196559, 0], "<i4").tobytes())


def test_tiles_cost_the_shipped_model_little_quality():
    """GroupNorm statistics differ per tile, so tiled tokens are not the whole-image tokens; on a
    real photo the shipped model's quality must not suffer for it."""
    from npq.codec.rd import image_metrics
    from npq.data.photos import load_rgb, public_eval_photos
    from npq.zoo import load_default

    shipped, _ = load_default()
    img = load_rgb(next(p for p in public_eval_photos() if p.name.startswith("astronaut")))[:256, :320]
    whole = np.array(decompress(compress(Image.fromarray(img), shipped, tile=0).data, shipped))
    tiled_res = compress(Image.fromarray(img), shipped, tile=128)
    tiled = np.array(decompress(tiled_res.data, shipped))
    assert tiled_res.data[4] == 2
    p_whole, p_tiled = image_metrics(img, whole)[0], image_metrics(img, tiled)[0]
    assert abs(p_whole - p_tiled) < 0.5, (p_whole, p_tiled)


def test_learned_prior_refuses_grids_over_its_time_bound_at_once():
    from npq.codec.priors.transformer import MAX_TOKENS

    full = TokenPrior(PriorConfig(n_codes=600, width=16, depth=1, heads=2, max_len=1 << 20)).eval()  # window 0
    big = np.zeros((129, 128), dtype=np.int64)
    assert big.size > MAX_TOKENS
    for p in (full, full.with_window(64)):
        with pytest.raises(ValueError, match="at most 16,384"):  # checked before any token is coded
            p.encode(big)
        with pytest.raises(ValueError, match="context prior"):
            p.decode(b"\x00" * 64, (129, 128))


@torch.no_grad()
def test_windowed_incremental_coding_matches_the_masked_teacher_forced_pass():
    """The ring-buffer cache of the coding path attends to exactly the last `window` tokens: its
    hidden states equal those of the training pass with an explicit band mask, and differ from
    full attention once the grid is longer than the window."""
    torch.manual_seed(0)
    prior = TokenPrior(PriorConfig(n_codes=700, width=16, depth=2, heads=2, window=7)).eval()
    grid = (4, 6)
    tokens = torch.randint(0, 700, (1, 24))
    x = prior._inputs(tokens) + prior._positions(grid)[None]
    ref = x
    for blk in prior.blocks:
        ref = blk(ref, 7)
    ref = F.layer_norm(ref, (16,), prior.norm.weight, prior.norm.bias, prior.norm.eps)[0]
    caches = [{"k": torch.zeros(2, 7, 8), "v": torch.zeros(2, 7, 8)} for _ in prior.blocks]
    pos = prior._positions(grid)
    steps = torch.stack([prior._step_hidden(None if i == 0 else int(tokens[0, i - 1]), pos[i], caches, i) for i in range(24)])
    torch.testing.assert_close(steps, ref, atol=1e-5, rtol=1e-5)
    full = x
    for blk in prior.blocks:
        full = blk(full, 0)
    full = F.layer_norm(full, (16,), prior.norm.weight, prior.norm.bias, prior.norm.eps)[0]
    assert torch.allclose(full[:7], ref[:7], atol=1e-5) and not torch.allclose(full[7:], ref[7:], atol=1e-3)
    g = tokens.numpy().reshape(grid)
    assert np.array_equal(prior.decode(prior.encode(g), grid), g)


def test_windowed_prior_decodes_files_of_its_full_attention_form(model, prior):
    """A prior gains a window (linear time) without orphaning files written by its full-attention
    form: the fingerprints differ, and decompress picks the variant the file names."""
    full = prior.eval()
    windowed = full.with_window(4)
    assert full.cfg.window == 0 and windowed.fingerprint() != full.fingerprint()
    img = _img(40, 48)
    old = compress(img, model, full).data
    new = compress(img, model, windowed).data
    assert np.array_equal(np.array(decompress(old, model, windowed)), np.array(decompress(old, model, full)))
    assert np.array_equal(np.array(decompress(new, model, windowed)), np.array(decompress(old, model, full)))
    with pytest.raises(BitstreamError, match="another learned prior"):
        decompress(new, model, full)  # a full-attention prior cannot stand in for a windowed one


def test_classic_baselines_run_at_their_best_documented_settings():
    """JPEG: optimized Huffman tables and 4:2:0; WebP: method 6; JPEG 2000: mct=1 (test above)."""
    import io

    from PIL import JpegImagePlugin

    from npq.codec.classic import classic_roundtrip

    rgb = np.array(_img(64, 96))
    data, _ = classic_roundtrip(rgb, "jpeg", 50)
    with Image.open(io.BytesIO(data)) as im:
        assert JpegImagePlugin.get_sampling(im) == 2  # 4:2:0
    plain = io.BytesIO()
    Image.fromarray(rgb).save(plain, format="JPEG", quality=50, subsampling=2)
    assert len(data) < len(plain.getvalue())  # optimize=True: smaller than the default tables
    data, _ = classic_roundtrip(rgb, "webp", 50)
    for method, same in ((6, True), (4, False)):
        ref = io.BytesIO()
        Image.fromarray(rgb).save(ref, format="WEBP", quality=50, method=method)
        assert (ref.getvalue() == data) is same, method


@pytest.mark.parametrize("kind", ["context", "learned", "neural"])
def test_fuzz_prior_payloads_behind_a_valid_outer_crc(model, prior, kind):
    """Corrupt the payload and recompute the outer CRC, so that the prior's own decoder runs on
    the damage: a BitstreamError, never garbage, a hang or another exception. (Whole words
    appended to a range-coded payload are not always detectable by the coder - constriction
    cannot see end-of-stream - but then the tokens, checked by their CRC, and the image are the
    original ones.)"""
    from npq.codec.bitstream import pack, unpack
    from npq.codec.priors.context import ContextPrior

    rng = np.random.default_rng(1)
    if kind == "context":
        pr = ContextPrior.fit(rng.integers(0, 196560, (4, 8, 8)), 196560)
    elif kind == "neural":
        from npq.codec.priors.neural_training import train_neural_prior

        pr = train_neural_prior(rng.integers(0, 196560, (4, 8, 8)), 196560, steps=5, qat_steps=2, batch=64, d=4, hidden=8, progress=False)[0]
    else:
        pr = prior
    data = compress(_img(48, 64), model, pr).data
    original = np.array(decompress(data, model, pr))
    h, payload, alpha = unpack(data)
    for trial in range(60):
        p = bytearray(payload)
        if trial % 3 == 0:
            i = int(rng.integers(0, len(p)))
            p[i] ^= int(rng.integers(1, 256))
        elif trial % 3 == 1:
            p = p[: int(rng.integers(0, len(p)))]
        else:
            p += bytes(rng.integers(0, 256, 4 * int(rng.integers(1, 3)), dtype=np.uint8))
        try:
            out = decompress(pack(h, bytes(p), alpha), model, pr)
        except BitstreamError:
            continue
        assert trial % 3 == 2 and np.array_equal(np.array(out), original), trial


def test_the_model_id_covers_generated_tables_and_structure(model):
    """Two tokenizers with the same weights but another random-projection codebook (another seed:
    what a change in torch's generator would do) or another quantizer have different ids, so a
    file of one is refused by the other instead of decoding to other pixels; npq 0.1's id still opens
    its files (tests/codec/test_golden.py)."""
    import copy

    from npq.codec.codec import legacy_model_id, model_id
    from npq.quantize import make

    a = copy.deepcopy(model)
    a.quantizer = make("rpvq", dim=24, codebook_size=4096, seed=0)
    b = copy.deepcopy(a)
    b.quantizer = make("rpvq", dim=24, codebook_size=4096, seed=1)
    for m in (a, b):
        m._npq_model_id = m._npq_legacy_model_id = None
    assert legacy_model_id(a) == legacy_model_id(b)  # the old id could not tell them apart
    assert model_id(a) != model_id(b) and model_id(a) != model_id(model)
    data = compress(_img(24, 40), a).data
    assert np.array_equal(np.array(decompress(data, a)), np.array(decompress(data, a)))
    with pytest.raises(BitstreamError, match="another model"):
        decompress(data, b)


def test_classic_at_rate_finds_the_nearest_setting_of_the_whole_sweep():
    # #32 item 10: the demo's classic crops are at the rate nearest npq's, over the codec's whole
    # range (brute force over every JPEG quality; JPEG 2000 asked for the rate directly)
    from npq.codec.classic import classic_at_rate, classic_roundtrip

    img = np.asarray(Image.open(SKIMAGE / "astronaut.png").convert("RGB"))[:96, :128]
    n = img.shape[0] * img.shape[1]
    sweep = [len(classic_roundtrip(img, "jpeg", q)[0]) * 8 / n for q in range(1, 96)]
    for target in (0.05, 0.7, 1.5, 20.0):  # below and above the reachable range too
        q, data, rec = classic_at_rate(img, "jpeg", target)
        assert abs(len(data) * 8 / n - target) == min(abs(b - target) for b in sweep), (target, q)
        assert rec.shape == img.shape
    _, data, _ = classic_at_rate(img, "jpeg2000", 1.0)
    assert abs(len(data) * 8 / n - 1.0) < 0.1
    with pytest.raises(ValueError, match="positive"):
        classic_at_rate(img, "webp", 0.0)


def test_rd_figure_axes_span_every_point():
    # #32 item 10: the x-axis cut the curves off at 1.0 bpp
    from npq.codec.rd import rd_figure

    res = [{"name": "a", "results": {"bpp": [0.03, 0.2, 3.5], "psnr-rgb": [22.0, 28.0, 44.0], "ms-ssim": [0.8, 0.9, 0.99]}},
           {"name": "b", "results": {"bpp": [0.14], "psnr-rgb": [25.0], "ms-ssim": [0.91]}}]
    fig = rd_figure(res)
    for ax, key in zip(fig.axes, ("psnr-rgb", "ms-ssim")):
        lo, hi = ax.get_xlim()
        assert lo < 0.03 and hi > 3.5 and ax.get_xscale() == "log"
        ys = [v for r in res for v in r["results"][key]]
        assert ax.get_ylim()[0] < min(ys) and ax.get_ylim()[1] > max(ys)


def test_most_different_region_is_the_brute_force_window():
    from npq.apps.demo import most_different_region

    rng = np.random.default_rng(0)
    decodes = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(3)]
    ys, xs = most_different_region(decodes, (5, 7))
    var = np.stack([d.astype(float) for d in decodes]).var(0).sum(-1)
    best = max(((y, x) for y in range(16) for x in range(24)), key=lambda p: var[p[0]:p[0] + 5, p[1]:p[1] + 7].sum())
    assert (ys.start, xs.start, ys.stop - ys.start, xs.stop - xs.start) == (*best, 5, 7)
    ys, xs = most_different_region(decodes, (50, 70))  # larger than the image: the whole image
    assert (ys, xs) == (slice(0, 20), slice(0, 30))


def test_the_decoder_chooses_its_own_tiles_beyond_the_recorded_ones():
    # #30 items 4 and 6: recorded tiles up to ONE_PASS pixels are used; a one-pass file up to
    # ONE_PASS a side stays one pass; anything larger (a forged or API-made header) is decoded in
    # the decoder's own TILE tiles, so memory is bounded by the decoder, not the header
    from npq.codec.bitstream import Header
    from npq.codec.codec import _decoder_tiles
    from npq.models.tiling import MARGIN, ONE_PASS, TILE

    def hdr(height, width, tile):
        return Header(b"\0" * 16, 0, b"\0" * 8, height, width, "RGB", -(-height // 8), -(-width // 8), 4, 0, tile, MARGIN if tile else 0, 1)

    assert _decoder_tiles(hdr(900, 1000, 0), 8) == (0, 0, 0)
    assert _decoder_tiles(hdr(900, ONE_PASS + 8, 0), 8) == (TILE, MARGIN, 0)
    assert _decoder_tiles(hdr(4000, 6000, 64), 8) == (512, MARGIN, 0)
    assert _decoder_tiles(hdr(4000, 6000, 128), 8) == (1024, MARGIN, 0)  # what earlier versions wrote
    assert _decoder_tiles(hdr(40000, 60000, 4000), 8) == (TILE, MARGIN, 0)


def test_large_images_are_tiled_from_the_pil_image_and_the_summary_psnr_is_the_files(model):
    # compress's default tiling (one pass up to ONE_PASS px, TILE tiles beyond) works from the PIL
    # image tile by tile; the file decodes to what the tiles give, and psnr_of_tokens (the CLI's
    # summary, computed tile by tile) is the PSNR of decompress's image against the input
    from npq.codec.bitstream import unpack
    from npq.codec.codec import psnr_of_tokens
    from npq.metrics.image import psnr_uint8
    from npq.models.tiling import ONE_PASS, TILE, encode_tiled

    img = _photo(40, ONE_PASS + 40).convert("RGBA")
    img.putalpha(Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, ONE_PASS + 40), dtype=np.uint8)))
    res = compress(img, model)
    h = unpack(res.data)[0]
    assert (h.tile, h.margin, h.mode) == (TILE // 8, 8, "RGBA")
    x, _ = pad_to_multiple(to_tensor(np.array(img.convert("RGB"))), 8)
    assert np.array_equal(res.tokens, encode_tiled(model, x, TILE, 8, one_pass=0)[0].numpy())
    out = decompress(res.data, model)
    assert out.mode == "RGBA" and np.array_equal(np.array(out)[..., 3], np.array(img)[..., 3])
    assert psnr_of_tokens(model, res.tokens, h, img) == pytest.approx(psnr_uint8(np.array(img.convert("RGB")), np.array(out.convert("RGB"))), abs=1e-9)

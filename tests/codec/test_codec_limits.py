"""Hostile bitstreams (valid CRCs, forged fields) are refused quickly, with bounded memory."""

import resource
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from npq.codec import BitstreamError, compress, decompress, model_id
from npq.codec.bitstream import Header, pack, unpack
from npq.zoo import load_tokenizer


@pytest.fixture(scope="module")
def model():
    return load_tokenizer("default_leech_f8")[0]  # single-stage: the header fields these forge


def _forge(model, h, w, payload=b"", mode="RGB", alpha=b"", prior=0):
    f = model.downsample
    header = Header(model_id(model), prior, bytes(8), h, w, mode, -(-h // f), -(-w // f), model.quantizer.codebook_size, 0)
    return pack(header, payload, alpha)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_huge_declared_sizes_are_refused_before_allocating(model):
    before = _peak_mb()
    t0 = time.perf_counter()
    for side in (60000, 65535):
        with pytest.raises(BitstreamError, match="over the limit"):
            decompress(_forge(model, side, side, b"\0" * 64), model)
    assert time.perf_counter() - t0 < 5 and _peak_mb() - before < 200


def test_a_payload_too_short_or_too_long_is_refused(model):
    with pytest.raises(BitstreamError, match="too short"):
        decompress(_forge(model, 512, 512, b"\0" * 16), model)  # 4,096 tokens need 9 kB
    img = Image.fromarray((np.random.default_rng(0).random((16, 24, 3)) * 255).astype(np.uint8))
    good = compress(img, model).data
    hdr, payload, _ = unpack(good)  # the same file with 8 extra payload bytes (and valid CRCs)
    with pytest.raises(BitstreamError, match="longer than its tokens"):
        decompress(pack(hdr, payload + b"\0" * 8), model)
    assert np.asarray(decompress(good, model)).shape == (16, 24, 3)


def test_an_alpha_bomb_stops_at_the_plane_size(model):
    img = Image.fromarray((np.random.default_rng(1).random((16, 16, 4)) * 255).astype(np.uint8), "RGBA")
    hdr, payload, _ = unpack(compress(img, model).data)
    bomb = zlib.compress(b"\0" * (200 << 20), 9)  # 200 MB inflated, ~200 kB compressed
    before = _peak_mb()
    with pytest.raises(BitstreamError, match="alpha"):
        decompress(pack(hdr, payload, bomb), model)
    assert _peak_mb() - before < 100


def test_decompress_checks_the_header_before_reading_the_file(tmp_path, monkeypatch, capsys):
    """A huge file whose header declares a small one is refused from its first bytes: the file
    is never read whole (it used to be read before any check)."""
    import pathlib

    from npq.cli.main import main
    from npq.codec.bitstream import Header, pack

    h = Header(model_id=bytes(16), prior=0, prior_id=bytes(8), height=8, width=8, mode="RGB", grid_h=1, grid_w=1,
               n_codes=196560, token_crc=0)
    big = tmp_path / "big.npq"
    big.write_bytes(pack(h, bytes(10)))
    with open(big, "r+b") as f:
        f.truncate(1 << 30)  # 1 GiB (sparse)
    monkeypatch.setattr(pathlib.Path, "read_bytes", lambda self: (_ for _ in ()).throw(AssertionError("read whole")))
    assert main(["decompress", str(big), str(tmp_path / "out.png")]) == 2
    err = capsys.readouterr().err
    assert "header says" in err and "1,073,741,824 bytes" in err

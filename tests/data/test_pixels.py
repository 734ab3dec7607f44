"""`npq.data.pixels`: a PIL image's padded float tensor computed slice by slice equals the
whole-image conversion for every mode the codec accepts (#30 item 6: large photos are never a
whole float array or a second colour copy), and the alpha plane deflated in strips equals the
one-shot deflate the bitstream stored before."""

import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from npq.codec.codec import prepare_image
from npq.data.pixels import ImagePixels, deflate_alpha, image_mode
from npq.data.transforms import pad_to_multiple, to_tensor


def _images() -> dict[str, Image.Image]:
    a = np.random.default_rng(0).integers(0, 256, (37, 53, 4), dtype=np.uint8)
    rgba = Image.fromarray(a, "RGBA")
    p = Image.fromarray(a[..., :3]).convert("P")
    pt = p.copy()
    pt.info["transparency"] = 3
    return {"RGBA": rgba, "RGB": Image.fromarray(a[..., :3]), "L": Image.fromarray(a[..., 0]), "LA": Image.fromarray(a[..., :2], "LA"),
            "RGBa": rgba.convert("RGBa"), "P": p, "P+transparency": pt, "PA": rgba.convert("PA"), "CMYK": rgba.convert("RGB").convert("CMYK"),
            "YCbCr": rgba.convert("RGB").convert("YCbCr")}


@pytest.mark.parametrize("name", list(_images()))
def test_slices_equal_the_whole_image_conversion(name):
    im = _images()[name]
    rgb, mode, alpha = prepare_image(im)
    assert image_mode(im) == mode
    want, _ = pad_to_multiple(to_tensor(rgb), 8)  # (1, 3, 40, 56): 3 rows and 3 columns of padding
    px = ImagePixels(im, 8)
    assert px.shape == tuple(want.shape)
    for y0, y1, x0, x1 in ((0, 40, 0, 56), (8, 40, 16, 56), (32, 40, 48, 56), (5, 17, 3, 9), (37, 40, 53, 56)):
        assert torch.equal(px[:, :, y0:y1, x0:x1], want[:, :, y0:y1, x0:x1]), (name, y0, x0)
    assert torch.equal(px.full(), want)
    if alpha is not None:
        assert deflate_alpha(im, rows=7) == zlib.compress(alpha.tobytes(), 9)


def test_bad_images_and_slices_are_refused():
    with pytest.raises(ValueError, match="16-bit"):
        ImagePixels(Image.new("I;16", (4, 4)))
    px = ImagePixels(Image.new("RGB", (4, 4)), 2)
    with pytest.raises(TypeError, match="slicing"):
        px[0]
    with pytest.raises(ValueError, match="unsupported slice"):
        px[:, :, 0:4:2, :]


def test_release_memory_runs_and_tiled_results_are_unchanged():
    # npq.utils.memory: malloc_trim between tiles (a no-op where glibc is absent) must not change
    # what the tiles compute
    from npq.models.tiling import decode_tiled, encode_tiled
    from npq.utils.memory import release_memory
    from npq.zoo import load_tokenizer

    release_memory()
    model, _ = load_tokenizer()
    x = torch.rand(1, 3, 96, 160) * 2 - 1
    tiled = encode_tiled(model, x, 64, 8, one_pass=0)
    assert tiled.shape == (1, 12, 20, 4)
    seen, pasted = [], torch.zeros(1, 3, 96, 160)

    def emit(px, at):
        seen.append(at)
        pasted[:, :, at[0] : at[0] + px.shape[-2], at[1] : at[1] + px.shape[-1]] = px

    assert decode_tiled(model, tiled, 64, 8, one_pass=0, emit=emit) is None
    assert seen == [(0, 0), (0, 64), (0, 128), (64, 0), (64, 64), (64, 128)]
    assert torch.equal(pasted, decode_tiled(model, tiled, 64, 8, one_pass=0))  # emitted tiles = the assembled image

"""Tokenize / reconstruct / detokenize of large images tile by tile (npq.apps.images): the same
tokens and pixels as the whole-tensor path they replaced, without its whole-image float copies."""

import numpy as np
import torch

from npq.apps.images import detokenize_array, reconstruct_array, tokenize_array
from npq.data.transforms import pad_to_multiple, to_tensor, to_uint8
from npq.models import build_tokenizer
from npq.models.tiling import decode_tiled, encode_tiled, tile_count


def test_large_images_match_the_whole_tensor_path():
    torch.manual_seed(0)
    model = build_tokenizer({"arch": "conv", "conv": {"channels": 8, "mult": [1, 2], "blocks": 0, "width": 16},
                             "quantizer": {"name": "leech"}}, 32).eval()
    g = np.random.default_rng(0)
    rgb = (g.random((301, 1101, 3)) * 255).astype(np.uint8)  # not a multiple of f; a side over ONE_PASS: tiled
    assert tile_count(model, 301, 1101) > 1
    x, (h, w) = pad_to_multiple(to_tensor(rgb), model.downsample)
    want_tokens = encode_tiled(model, x)
    want = to_uint8(decode_tiled(model, want_tokens)[..., :h, :w])
    tokens = tokenize_array(model, rgb)
    assert np.array_equal(tokens, want_tokens[0].numpy())
    assert np.array_equal(reconstruct_array(model, rgb), want)
    assert np.array_equal(detokenize_array(model, tokens, (h, w)), want)
    full = detokenize_array(model, tokens)  # no size: the whole padded grid
    assert full.shape == (tokens.shape[0] * model.downsample, tokens.shape[1] * model.downsample, 3)
    assert np.array_equal(full[:h, :w], want)

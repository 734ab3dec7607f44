"""The tables of the Golay code and the Leech lattice's shape classes that the decoders read:
codewords, octads and their positions, coordinate pairs, parity indices, 6-bit patterns. A leaf
module (it imports only :mod:`npq.lattices.golay`), so that ``leech``, ``leech_ties`` and the
fused ``kernels`` all read it without importing each other.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from . import golay

__all__ = ["np_tables", "torch_tables", "class_a_codebook", "octad_patterns"]


@lru_cache(maxsize=None)
def np_tables() -> dict[str, np.ndarray]:
    cw = golay.codewords().astype(np.int64)  # (4096, 24)
    oct_pos = golay.octads()  # (759, 8)
    oct_mask = np.zeros((24, 759), dtype=np.float64)
    oct_mask[oct_pos, np.arange(759)[:, None]] = 1.0
    pairs = np.array([(i, j) for i in range(24) for j in range(i + 1, 24)], dtype=np.int64)  # (276, 2)
    pair_index = np.full((24, 24), -1, dtype=np.int64)
    pair_index[pairs[:, 0], pairs[:, 1]] = np.arange(len(pairs))
    bits6 = ((np.arange(64)[:, None] >> np.arange(6)) & 1).astype(np.float64)  # (64, 6)
    return {
        "cw": cw,
        "oct_pos": oct_pos,
        "oct_mask": oct_mask,
        "oct_of_cw": golay.octad_of_codeword(),
        "pairs": pairs,
        "pair_index": pair_index,
        "par_idx": golay.parity_index(),
        "bits6": bits6,
    }


@lru_cache(maxsize=None)
def torch_tables(device: str, dtype: torch.dtype) -> dict[str, Tensor]:
    t = np_tables()
    dev = torch.device(device)
    out = {}
    for k, v in t.items():
        tv = torch.from_numpy(np.array(v)).to(dev)
        if k in ("oct_mask", "bits6"):
            tv = tv.to(dtype)
        out[k] = tv
    out["signs"] = (1 - 2 * out["cw"]).to(dtype)  # s_c, (4096, 24)
    out["cw_f"] = out["cw"].to(dtype)  # (4096, 24) in {0, 1}
    mask_t = out["oct_mask"].T
    out["oct_mask_t"] = torch.cat([mask_t, mask_t.new_zeros(768 - 759, 24)]).contiguous()  # (768, 24)
    out["oct_pos_pad"] = torch.cat([out["oct_pos"], out["oct_pos"][:768 - 759]])  # (768, 8)
    out["par_lo"] = out["par_idx"] & 63
    out["par_hi"] = out["par_idx"] >> 6
    out["bits6_b"] = out["bits6"].bool()  # (64, 6)
    return out


@lru_cache(maxsize=None)
def class_a_codebook() -> Tensor:
    """Class A in index order (``4 * pair + 2 * neg_i + neg_j``): int64 ``(1104, 24)``, ±4 at
    the pair's two positions."""
    t = np_tables()
    out = np.zeros((4 * len(t["pairs"]), 24), dtype=np.int64)
    for p, (i, j) in enumerate(t["pairs"]):
        for ni in (0, 1):
            for nj in (0, 1):
                out[4 * p + 2 * ni + nj, i] = 4 * (1 - 2 * ni)
                out[4 * p + 2 * ni + nj, j] = 4 * (1 - 2 * nj)
    return torch.from_numpy(out)


@lru_cache(maxsize=None)
def octad_patterns() -> Tensor:
    """The 128 sign patterns of an octad in class-B order (``k``: bit t = minus sign on the
    octad's t-th position, t < 7; the 8th sign restores even parity): int64 ``(128, 8)`` of ±2."""
    k = np.arange(128)[:, None]
    bits = (k >> np.arange(7)) & 1  # (128, 7)
    last = bits.sum(1, keepdims=True) % 2  # odd count of minus signs so far -> the 8th is minus
    return torch.from_numpy(2 * (1 - 2 * np.concatenate([bits, last], 1)).astype(np.int64))

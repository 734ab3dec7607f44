"""The authors' released tokenizers (``zhaoyue-zephyrus/bsq-vit``, Λ24-SQ / BSQ-ViT) as npq models.

Their ``VITVQModel`` is npq's ViT tokenizer with the parity options of :mod:`npq.models.vit`
(``ln_pre``, learned positions, the tanh-MLP decoder head, output clamp), so a checkpoint maps
key by key (table below, also in docs/training.md). Their Λ24 codebook is a ``(196560, 24)``
table in their own order; npq's indices are structural (:mod:`npq.lattices.leech`). The row i of
their table is looked up exactly (``round(v * sqrt(32))`` is the integer vector, then
``vector_to_index``), giving ``index_map[i]`` = npq's index of their token i, a bijection checked
here, so their token files translate with ``index_map[tokens]``.

=====================================================  ==========================================
theirs (``state_dict`` / ``ema_state_dict``)            npq
=====================================================  ==========================================
``{enc,dec}oder.conv1.weight`` (w, 3 p^2)               ``encoder.patch_embed.weight`` (w, 3, p, p)
``*.positional_embedding`` (g^2, w)                     ``*.pos_embed`` (1, g^2, w)
``*.ln_pre`` / ``*.ln_post``                            ``*.norm_pre`` / ``*.norm``
``*.transformer.resblocks.i.ln_1`` / ``ln_2``           ``*.blocks.i.norm1`` / ``norm2``
``*.resblocks.i.attn.in_proj_{weight,bias}``            ``*.blocks.i.qkv.{weight,bias}``
``*.resblocks.i.attn.out_proj``                         ``*.blocks.i.proj``
``*.resblocks.i.mlp.c_fc`` / ``c_proj``                 ``*.blocks.i.mlp.0`` / ``mlp.2``
``decoder.ffn.0`` / ``decoder.conv_out``                ``decoder.head.0`` / ``decoder.to_pixels``
``quant_embed`` / ``post_quant_embed``                  ``quant_in`` / ``quant_out``
``quantize.embedding.weight`` (196560, 24)              ``index_map`` (not a weight: npq's Λ24-SQ
                                                        has no table)
=====================================================  ==========================================

Their checkpoints also pickle an OmegaConf config and argparse arguments; they are read here with
``weights_only`` and inert stand-in classes for those objects, so loading never runs code.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..utils.fileio import load_torch

__all__ = ["official_model_config", "load_official_state", "convert_official_state", "leech_index_map", "from_official"]


def official_model_config(width: int = 768, depth: int = 12, heads: int = 12, patch: int = 8, image_size: int = 256,
                          quantizer: dict | None = None) -> dict:
    """The ``model:`` section of npq's parity model for their ViT tokenizer (ViT-B/8 at 256 px and
    Λ24-SQ by default, their ``imagenet_256x256_l24sq`` config)."""
    return {
        "arch": "vit", "vit_preset": None,
        "vit": {"width": width, "depth": depth, "heads": heads, "mlp_ratio": 4.0, "patch": patch, "image_size": image_size,
                "pos": "learned", "ln_pre": True, "head": "tanh-mlp", "head_dim": 3072, "init": "trunc-normal"},
        "quantizer": quantizer or {"name": "leech"}, "clamp_output": True,
    }


class _Inert:
    """Stands in for a pickled object of another library (OmegaConf config, argparse Namespace):
    keeps its arguments and state as data; nothing of that library is imported or run."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state


def _stand_in(name: str) -> type:
    module, _, qual = name.rpartition(".")
    return type(qual, (_Inert,), {"__module__": module, "__qualname__": qual})


def load_official_state(path: str | Path) -> dict:
    """Their checkpoint file as a dict (tensors, plain data, inert stand-ins for other objects)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(p))
    except Exception as e:  # noqa: BLE001 - not a zip checkpoint; load_torch says what it is
        names = []
        del e
    allowed = [_stand_in(n) for n in names if not n.startswith(("torch.", "collections.", "builtins.", "numpy."))]
    with torch.serialization.safe_globals(allowed):
        st = load_torch(p, "authors' checkpoint")
    if not isinstance(st, dict):
        raise ValueError(f"{p} is not a checkpoint of the authors' tokenizer (a dict with state_dict / ema_state_dict)")
    return st


_BLOCK = {"ln_1": "norm1", "ln_2": "norm2", "attn.in_proj_weight": "qkv.weight", "attn.in_proj_bias": "qkv.bias",
          "attn.out_proj": "proj", "mlp.c_fc": "mlp.0", "mlp.c_proj": "mlp.2"}
_TOP = {"ln_pre": "norm_pre", "ln_post": "norm", "ffn.0": "head.0", "conv_out": "to_pixels", "positional_embedding": "pos_embed"}


def _map_key(k: str) -> str | None:
    m = re.fullmatch(r"(encoder|decoder)\.transformer\.resblocks\.(\d+)\.(.+)", k)
    if m:
        part, i, rest = m.groups()
        for a, b in _BLOCK.items():
            if rest == a or rest.startswith(a + "."):
                return f"{part}.blocks.{i}.{b}{rest[len(a):]}"
        return None
    m = re.fullmatch(r"(encoder|decoder)\.(.+)", k)
    if m:
        part, rest = m.groups()
        if rest.startswith("conv1.") and part == "encoder":
            return f"encoder.patch_embed.{rest[6:]}"
        for a, b in _TOP.items():
            if rest == a or rest.startswith(a + "."):
                return f"{part}.{b}{rest[len(a):]}"
        return None
    for a, b in (("quant_embed.", "quant_in."), ("post_quant_embed.", "quant_out.")):
        if k.startswith(a):
            return b + k[len(a):]
    return None


def leech_index_map(codebook: Tensor) -> np.ndarray:
    """npq's Λ24 index of each row of their normalized codebook ``(196560, 24)`` (exact lookup)."""
    from ..lattices.leech import vector_to_index

    c = torch.as_tensor(codebook).double()
    if c.shape != (196560, 24):
        raise ValueError(f"the Λ24 codebook must have shape (196560, 24), got {tuple(c.shape)}")
    scaled = c * math.sqrt(32)
    ints = scaled.round()
    err = float((scaled - ints).abs().max())
    if err > 1e-3:
        raise ValueError(f"the codebook rows are not unit Leech minimal vectors (a row is {err:.3g} from the integer lattice)")
    idx = vector_to_index(ints.long()).numpy()
    if len(np.unique(idx)) != len(idx):
        raise ValueError("the codebook has repeated codewords: not the 196,560 minimal vectors")
    return idx.astype(np.int64)


def convert_official_state(st: dict, use_ema: bool = True) -> tuple[dict[str, Tensor], np.ndarray | None, list[str]]:
    """``(npq state dict, their-index -> npq-index map int64 (196560,) or None, their keys left
    unused)`` of a checkpoint dict of the authors' code (the EMA weights when ``use_ema`` and
    present)."""
    sd, prefix = None, ""
    if use_ema and isinstance(st.get("ema_state_dict"), dict):
        sd, prefix = st["ema_state_dict"], "module.module."
    elif isinstance(st.get("state_dict"), dict):
        sd, prefix = st["state_dict"], "module."
    if sd is None:
        raise ValueError("no state_dict / ema_state_dict in the authors' checkpoint")
    sd = {(k[len(prefix):] if k.startswith(prefix) else k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
    out, unused, index_map = {}, [], None
    for k, v in sd.items():
        if k == "quantize.embedding.weight" and v.shape == (196560, 24):
            index_map = leech_index_map(v)
            continue
        nk = _map_key(k)
        if nk is None:
            unused.append(k)
            continue
        if nk == "encoder.patch_embed.weight":
            w = v.shape[0]
            p = int(round(math.sqrt(v.shape[1] / 3)))
            v = v.reshape(w, 3, p, p)  # their (c, y, x) flattening = a conv kernel's layout
        elif nk.endswith("pos_embed"):
            v = v[None]
        out[nk] = v
    return out, index_map, unused


def from_official(path: str | Path, use_ema: bool = True, model: dict | None = None):
    """(npq Tokenizer in eval mode, its model config, index map or None) from the authors' checkpoint.

    ``model``: npq's model section (default: :func:`official_model_config` with the width, depth,
    patch and grid read from the weights; heads 12 for width 768, 6 for 384)."""
    from .build import build_tokenizer

    sd, index_map, unused = convert_official_state(load_official_state(path), use_ema)
    if model is None:
        w, _, p, _ = sd["encoder.patch_embed.weight"].shape
        depth = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("encoder.blocks."))
        g = int(round(math.sqrt(sd["encoder.pos_embed"].shape[1])))
        model = official_model_config(w, depth, max(1, w // 64), p, g * p)
    tok = build_tokenizer(model, model["vit"]["image_size"])
    own = tok.state_dict()
    missing = sorted(set(own) - set(sd) - {k for k in own if k.startswith("quantizer.")})
    if missing or unused:
        raise ValueError(f"{path}: the weights do not match the authors' ViT tokenizer (missing {missing[:4]}, unused {unused[:4]})")
    try:
        tok.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in sd.items()}})
    except RuntimeError as e:
        raise ValueError(f"{path}: the weights do not fit the parity model: {str(e).strip().splitlines()[-1].strip()}") from None
    return tok.eval(), model, index_map

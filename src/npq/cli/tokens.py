"""Commands between images and tokens: tokenize, reconstruct."""

from __future__ import annotations

import argparse
import io

from ..utils.fileio import NPZ_MAGIC, atomic_write_bytes, check_output
from .common import add_force, add_model_arg


def cmd_tokenize(args: argparse.Namespace) -> int:
    import numpy as np

    from ..apps.images import tokenize_files
    from ..zoo import load_tokenizer

    check_output(args.out, args.images, NPZ_MAGIC, "an npz archive", args.force)
    model, _ = load_tokenizer(args.checkpoint, ema=not args.no_ema)
    grids = tokenize_files(model, args.images)
    buf = io.BytesIO()
    np.savez_compressed(buf, **grids)
    atomic_write_bytes(args.out, buf.getvalue())
    for k, v in grids.items():
        print(f"{k}: tokens {v.shape[0]}x{v.shape[1]} ({model.quantizer.bits_per_token:.2f} bits each)")
    print(f"wrote {args.out}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from ..apps.images import reconstruct_files
    from ..zoo import load_tokenizer

    model, _ = load_tokenizer(args.checkpoint, ema=not args.no_ema)
    for src, target, psnr in reconstruct_files(model, args.images, args.out, force=args.force):
        print(f"{src} -> {target}  PSNR {psnr:.2f} dB")
    return 0


def add_commands(sub) -> None:
    for name, func, what, out in (("tokenize", cmd_tokenize, "images -> token grids (.npz, one int64 array per image)", "output .npz"),
                                  ("reconstruct", cmd_reconstruct, "images -> tokens -> reconstructed PNGs", "output folder")):
        s = sub.add_parser(name, help=what)
        s.add_argument("images", nargs="+")
        add_model_arg(s, ema=True)
        s.add_argument("--out", required=True, help=out)
        add_force(s, images=name == "reconstruct")
        s.set_defaults(func=func)

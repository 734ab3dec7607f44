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
    from ..apps.images import SIZE_SUFFIX

    if not args.quiet:
        for k, v in grids.items():
            if not k.endswith(SIZE_SUFFIX):
                print(f"{k}: tokens {v.shape[0]}x{v.shape[1]} ({model.quantizer.bits_per_token:.2f} bits each)")
        print(f"wrote {args.out}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from ..apps.images import reconstruct_files
    from ..zoo import load_tokenizer

    model, _ = load_tokenizer(args.checkpoint, ema=not args.no_ema)
    for src, target, psnr in reconstruct_files(model, args.images, args.out, force=args.force):
        if not args.quiet:
            print(f"{src} -> {target}  PSNR {psnr:.2f} dB")
    return 0


def cmd_detokenize(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from ..apps.images import SIZE_SUFFIX, detokenize_array
    from ..utils.fileio import PNG_MAGIC
    from ..zoo import load_tokenizer

    p = Path(args.tokens)
    if not p.is_file():
        raise FileNotFoundError(f"token file not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError) as e:
        raise ValueError(f"cannot read {p} as an npz of token grids (npq tokenize writes them): {e}") from None
    grids = {k: v for k, v in arrays.items() if not k.endswith(SIZE_SUFFIX)}
    if not grids:
        raise ValueError(f"{p} holds no token grids")
    names = {k: Path(k).stem + ".png" for k in grids}
    if len(set(names.values())) != len(names):
        raise ValueError("two token grids would both be written as the same file name: rename them")
    for name in names.values():
        check_output(Path(args.out) / name, [p], PNG_MAGIC, "a PNG image", args.force, replace_same_kind=False)
    model, _ = load_tokenizer(args.checkpoint, ema=not args.no_ema)
    n = model.quantizer.codebook_size if not hasattr(model.quantizer, "stages") else model.quantizer.stages[0].codebook_size
    for k, t in grids.items():
        if t.dtype.kind not in "iu" or t.ndim not in (2, 3) or (t.size and (t.min() < 0 or t.max() >= n)):
            raise ValueError(f"{k}: not a token grid of this model (integers in [0, {n}), shape (h, w) or (h, w, stages)), "
                             f"got {t.dtype} {t.shape}")
        size = arrays.get(k + SIZE_SUFFIX)
        img = detokenize_array(model, t, None if size is None else tuple(size))
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        target = atomic_write_bytes(Path(args.out) / names[k], buf.getvalue())
        if not args.quiet:
            print(f"{k}: tokens {t.shape[0]}x{t.shape[1]} -> {target} ({img.shape[1]}x{img.shape[0]})")
    return 0


def add_commands(sub) -> None:
    for name, func, what, out in (("tokenize", cmd_tokenize, "images -> token grids (.npz, one int64 array per image)", "output .npz"),
                                  ("reconstruct", cmd_reconstruct, "images -> tokens -> reconstructed PNGs", "output folder")):
        s = sub.add_parser(name, help=what)
        s.add_argument("images", nargs="+")
        add_model_arg(s, ema=True)
        s.add_argument("--out", required=True, help=out)
        add_force(s, images=name == "reconstruct")
        s.add_argument("--quiet", action="store_true", help="print nothing but errors")
        s.set_defaults(func=func)
    s = sub.add_parser("detokenize", help="token grids (.npz from npq tokenize) -> images: the inverse of tokenize",
                       description="Decode every token grid of an npz archive with the model that made it. "
                                   "Example: npq tokenize photo.png --out t.npz; npq detokenize t.npz --out images/")
    s.add_argument("tokens", help="npz archive written by npq tokenize (one int64 grid per image)")
    add_model_arg(s, ema=True)
    s.add_argument("--out", required=True, help="output folder: <name>.png per grid")
    add_force(s, images=True)
    s.add_argument("--quiet", action="store_true", help="print nothing but errors")
    s.set_defaults(func=cmd_detokenize)

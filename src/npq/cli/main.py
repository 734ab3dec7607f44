"""The ``npq`` command line: thin wrappers that parse, call the library and print."""

from __future__ import annotations

import argparse
import json
import sys


def _cmd_list(args: argparse.Namespace) -> int:
    from .. import quantize

    print("| name | dim | codebook size | bits/token |\n|---|---|---|---|")
    examples = {
        "lfq": {"dim": 18}, "bsq": {"dim": 18}, "fsq": {"bits": 14}, "rpvq": {"dim": 24, "codebook_size": 2**14},
        "random-projection-vq": {"dim": 24, "codebook_size": 2**14}, "spherical": {"code": "e8"},
        "fibonacci": {"n": 2**14, "dim": 8}, "leech-subset": {"classes": "C"}, "vq": {"dim": 8, "codebook_size": 1024},
    }
    for name in quantize.available():
        q = quantize.make(name, **examples.get(name, {}))
        kw = ", ".join(f"{k}={v}" for k, v in examples.get(name, {}).items())
        print(f"| {name}({kw}) | {q.dim} | {q.codebook_size:,} | {q.bits_per_token:.2f} |")
    return 0


def _cmd_tour(args: argparse.Namespace) -> int:
    from ..tour import format_table, run_tour

    rows = run_tour(args.images or None, max_patches=args.max_patches, seed=args.seed, progress=not args.quiet)
    print(
        "Quantizing the directions of whitened PCA latents of 8x8 RGB patches of real photos "
        "(shape-gain: the latent norm is kept in float; each code at its own bit rate)."
    )
    print(format_table(rows))
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def _write_text(path: str, text: str) -> None:
    from ..fileio import atomic_write_text

    atomic_write_text(path, text)


def _cmd_tableau(args: argparse.Namespace) -> int:
    from ..geometry import compute_tableau, format_tableau

    from ..geometry import ROWS

    specs = ROWS
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
        names = [r.method for r in ROWS]
        unknown = [m for m in wanted if m not in names]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {names}")
        specs = [r for r in ROWS if r.method in wanted]
    rows = compute_tableau(samples=args.samples, seed=args.seed, rows=specs, progress=not args.quiet)
    text = format_tableau(rows, args.format)
    if args.out:
        _write_text(args.out, text + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from ..geometry import plots

    if args.figure == "voronoi":
        paths = plots.plot_voronoi(args.out)
    elif args.figure == "delta-min":
        paths = plots.plot_delta_min(args.out, dims=args.dims)
    else:
        paths = plots.plot_entropy(args.out)
    for p in paths:
        print(f"wrote {p}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from ..train import Trainer, load_config

    cfg = load_config(args.config, args.overrides)
    trainer = Trainer(cfg, resume=True if args.resume else False, progress=not args.quiet)
    res = trainer.run(steps=args.stop_at)
    if trainer.rank == 0:
        print(json.dumps({k: v for k, v in res.items() if k != "last"} | {"last": res["last"]}, indent=2))
    return 0


def _load_images(paths):
    from ..data.photos import load_rgb

    return [load_rgb(p) for p in paths]


def _cmd_tokenize(args: argparse.Namespace) -> int:
    import io
    import os

    import numpy as np
    import torch

    from ..data.transforms import pad_to_multiple, to_tensor
    from ..train import load_tokenizer

    model, _ = load_tokenizer(args.checkpoint, ema=not args.no_ema)
    arrays = {}
    with torch.no_grad():
        for path, img in zip(args.images, _load_images(args.images)):
            x, (h, w) = pad_to_multiple(to_tensor(img), model.downsample)
            arrays[os.path.basename(path)] = model.encode(x)[0].numpy().astype(np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    _write_bytes(args.out, buf.getvalue())
    for k, v in arrays.items():
        print(f"{k}: tokens {v.shape[0]}x{v.shape[1]} ({model.quantizer.bits_per_token:.2f} bits each)")
    print(f"wrote {args.out}")
    return 0


def _write_bytes(path: str, data: bytes) -> None:
    from ..fileio import atomic_write_bytes

    atomic_write_bytes(path, data)


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    import io
    from pathlib import Path

    import torch
    from PIL import Image

    from ..data.transforms import pad_to_multiple, to_tensor, to_uint8
    from ..metrics import psnr_per_image
    from ..train import load_tokenizer

    model, _ = load_tokenizer(args.checkpoint, ema=not args.no_ema)
    out_dir = Path(args.out)
    with torch.no_grad():
        for path, img in zip(args.images, _load_images(args.images)):
            x, (h, w) = pad_to_multiple(to_tensor(img), model.downsample)
            recon = model(x).recon[..., :h, :w]
            arr = to_uint8(recon)
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG")
            target = out_dir / (Path(path).stem + ".png")
            _write_bytes(str(target), buf.getvalue())
            psnr = psnr_per_image(torch.from_numpy(img).permute(2, 0, 1)[None] / 255.0, torch.from_numpy(arr).permute(2, 0, 1)[None] / 255.0)
            print(f"{path} -> {target}  PSNR {psnr.item():.2f} dB")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate_tokenizer, format_results
    from ..train import build_tokenizer, load_config, load_tokenizer

    if bool(args.checkpoint) == bool(args.config):
        raise ValueError("give exactly one of --checkpoint C or --config CFG (an untrained model, for smoke runs)")
    if args.checkpoint:
        model, cfg = load_tokenizer(args.checkpoint, ema=not args.no_ema)
    else:
        cfg = load_config(args.config, args.overrides or [])
        model = build_tokenizer(cfg.model, cfg.data.resolution).eval()
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    res = evaluate_tokenizer(model, args.data, resolution=args.resolution or None, metrics=metrics, batch_size=args.batch_size,
                             lpips_weights=args.lpips_weights, inception_weights=args.inception_weights,
                             fid_cache=args.fid_cache, progress=not args.quiet)
    print(format_results(res))
    if args.out:
        _write_text(args.out, json.dumps(res, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


def _load_prior(path):
    from ..codec import TokenPrior

    return TokenPrior.load(path) if path else None


def _cmd_compress(args: argparse.Namespace) -> int:
    import time

    from PIL import Image, UnidentifiedImageError

    from ..codec import compress
    from ..train import load_tokenizer

    if args.prior == "learned" and not args.prior_file:
        raise ValueError("--prior learned needs --prior-file PRIOR.pt (trained with npq train-prior)")
    model, cfg = load_tokenizer(args.checkpoint)
    prior = _load_prior(args.prior_file) if args.prior == "learned" else None
    try:
        img = Image.open(args.image)
        img.load()
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {args.image}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot read {args.image} as an image: {e}") from None
    t0 = time.perf_counter()
    res = compress(img, model, prior)
    dt = time.perf_counter() - t0
    _write_bytes(args.out, res.data)
    print(f"{args.image}: {img.size[0]}x{img.size[1]} {img.mode} -> {args.out}: {len(res.data):,} bytes, "
          f"{res.bpp:.4f} bpp ({args.prior} prior), {dt:.2f} s")
    return 0


def _cmd_decompress(args: argparse.Namespace) -> int:
    import io
    import time
    from pathlib import Path

    from ..codec import decompress
    from ..train import load_tokenizer

    p = Path(args.input)
    if not p.is_file():
        raise FileNotFoundError(f"bitstream not found: {p}")
    data = p.read_bytes()
    model, cfg = load_tokenizer(args.checkpoint)
    prior = _load_prior(args.prior_file)
    t0 = time.perf_counter()
    img = decompress(data, model, prior)
    dt = time.perf_counter() - t0
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    _write_bytes(args.out, buf.getvalue())
    bpp = len(data) * 8 / (img.size[0] * img.size[1])
    print(f"{args.input} ({len(data):,} bytes, {bpp:.4f} bpp) -> {args.out}: {img.size[0]}x{img.size[1]} {img.mode}, {dt:.2f} s")
    return 0


def _cmd_train_prior(args: argparse.Namespace) -> int:
    from ..codec.prior import PriorConfig
    from ..codec.prior_train import tokenize_crops, train_prior
    from ..train import load_tokenizer

    model, cfg = load_tokenizer(args.checkpoint)
    tokens = tokenize_crops(model, args.data, crops=args.crops, crop=args.crop, seed=args.seed, progress=not args.quiet)
    pcfg = PriorConfig(model.quantizer.codebook_size, width=args.width, depth=args.depth, heads=args.heads)
    prior, hist = train_prior(tokens, model.quantizer.codebook_size, steps=args.steps, batch=args.batch, lr=args.lr, cfg=pcfg,
                              seed=args.seed, progress=not args.quiet)
    prior.save(args.out)
    last = sum(hist[-50:]) / len(hist[-50:])
    print(f"prior: {last:.2f} bits/token on training crops (uniform: {model.quantizer.bits_per_token:.2f}); wrote {args.out}")
    return 0


def _cmd_rd(args: argparse.Namespace) -> int:
    from ..codec.rd import run_rd
    from ..train import load_tokenizer

    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    models = []
    priors = args.prior_file or []
    for i, ck in enumerate(args.checkpoint or []):
        model, cfg = load_tokenizer(ck)
        models.append((f"npq {cfg.name} (uniform prior)", model, None))
        if i < len(priors):
            models.append((f"npq {cfg.name} (learned prior)", model, _load_prior(priors[i])))
    out = run_rd(args.data, models, codecs, args.out, progress=not args.quiet)
    print("| codec / model | bpp | PSNR (dB) | MS-SSIM |\n|---|---|---|---|")
    for r in out["results"]:
        res = r["results"]
        for b, p, m in zip(res["bpp"], res["psnr-rgb"], res["ms-ssim"]):
            print(f"| {r['name']} | {b:.4f} | {p:.2f} | {m:.4f} |")
    for c in out["comparisons"]:
        print(f"{c['model']} vs {c['codec']}: {c['psnr_gain_db']:+.2f} dB at equal bpp, {c['rate_saving_pct']:+.1f}% rate at equal PSNR")
    print(f"wrote {args.out}/ (JSON per codec in CompressAI's format, comparisons.json, rd.png/svg)")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    s = run_demo(args.out, quick=args.quick, images=args.images or None, progress=not args.quiet)
    print("npq default Λ24-SQ tokenizer (downsampling 8) as an image codec on the public evaluation photos\n")
    print(s["table"])
    print("(classic codecs' PSNR interpolated at each image's learned-prior rate; — : the codec cannot go that low)\n")
    n = s["images"]
    for c in ("jpeg", "webp", "jpeg2000"):
        lc, uc = s["comparisons"][f"{c}_learned"], s["comparisons"][f"{c}_uniform"]
        low = f"{lc['psnr_gain_db']:+.2f} dB on {lc['images']}/{n} images" if lc["images"] else "cannot reach the rate on any image"
        print(f"vs {c:9s}: at the learned-prior rate {low}; at the uniform-prior rate "
              f"{uc['psnr_gain_db']:+.2f} dB on {uc['images']}/{n} images (npq PSNR minus the codec's)")
    print(f"\nreport: {s['report']}  ({s['seconds']:.0f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="npq", description="Non-parametric quantization for visual tokenization.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("list", help="list the quantizers of the registry with their sizes")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("tour", help="quantize real photos' patches with each quantizer and print a table")
    s.add_argument("images", nargs="*", help="image files (default: the public evaluation photos)")
    s.add_argument("--max-patches", type=int, default=20000, help="patches sampled (default 20000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true", help="also print the rows as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_tour)

    s = sub.add_parser("tableau", help="the grand tableau comparing the methods as lattice codes")
    s.add_argument("--format", choices=["md", "json", "csv"], default="md")
    s.add_argument("--samples", type=int, default=20000, help="Monte-Carlo inputs per method (default 20000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--methods", help="comma-separated subset of rows, e.g. 'BSQ,Λ24-SQ' (default: all)")
    s.add_argument("--out", help="write to this file instead of stdout")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_tableau)

    s = sub.add_parser("plot", help="figures: voronoi, delta-min, entropy (PNG and SVG)")
    s.add_argument("figure", choices=["voronoi", "delta-min", "entropy"])
    s.add_argument("--out", default=None, help="output path without extension (default docs/figures/<figure>)")
    s.add_argument("--dims", type=int, nargs="+", default=[3, 8, 24], help="dimensions for delta-min")
    s.set_defaults(func=_cmd_plot)

    s = sub.add_parser("train", help="train a tokenizer: npq train CONFIG [key=value ...] (torchrun for several processes)")
    s.add_argument("config", help="YAML config (see configs/)")
    s.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.steps=1000 data.batch_size=8")
    s.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in train.out_dir")
    s.add_argument("--stop-at", type=int, default=None, help="stop at this step (the schedule still spans optim.steps)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("tokenize", help="images -> token grids (.npz, one int64 array per image)")
    s.add_argument("images", nargs="+")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--out", required=True, help="output .npz")
    s.add_argument("--no-ema", action="store_true", help="use the raw instead of the EMA weights")
    s.set_defaults(func=_cmd_tokenize)

    s = sub.add_parser("reconstruct", help="images -> tokens -> reconstructed PNGs")
    s.add_argument("images", nargs="+")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--no-ema", action="store_true")
    s.set_defaults(func=_cmd_reconstruct)

    s = sub.add_parser("eval", help="reconstruction metrics (PSNR, SSIM, MS-SSIM, LPIPS, rFID) and codebook usage")
    s.add_argument("--checkpoint", help="training checkpoint")
    s.add_argument("--config", help="or a config: evaluates an untrained model (smoke runs)")
    s.add_argument("overrides", nargs="*", help="key=value overrides for --config")
    s.add_argument("--data", required=True, help="folder of images (recursive)")
    s.add_argument("--resolution", type=int, default=256, help="resize + center-crop side (0: full size)")
    s.add_argument("--metrics", default="psnr,ssim,lpips,rfid,usage", help="comma-separated: psnr,ssim,ms_ssim,lpips,rfid,usage")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--lpips-weights", help="AlexNet checkpoint for LPIPS (else $NPQ_LPIPS_BACKBONE / torch hub cache)")
    s.add_argument("--inception-weights", help="torch-fidelity InceptionV3 weights (else $NPQ_INCEPTION_WEIGHTS / cache)")
    s.add_argument("--fid-cache", help="folder to cache real-image feature statistics")
    s.add_argument("--out", help="write the results as JSON")
    s.add_argument("--no-ema", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_eval)

    s = sub.add_parser("compress", help="image -> npq bitstream (entropy-coded tokens)")
    s.add_argument("image")
    s.add_argument("out", help="output .npq file")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--prior", choices=["uniform", "learned"], default="uniform")
    s.add_argument("--prior-file", help="learned prior (npq train-prior)")
    s.set_defaults(func=_cmd_compress)

    s = sub.add_parser("decompress", help="npq bitstream -> PNG")
    s.add_argument("input")
    s.add_argument("out", help="output PNG")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--prior-file", help="the learned prior the file was coded with")
    s.set_defaults(func=_cmd_decompress)

    s = sub.add_parser("train-prior", help="train the learned token prior on tokens of training photos")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--data", default="photos:debian", help="training photos (default: the Debian corpus)")
    s.add_argument("--out", required=True)
    s.add_argument("--crops", type=int, default=512)
    s.add_argument("--crop", type=int, default=256)
    s.add_argument("--steps", type=int, default=1500)
    s.add_argument("--batch", type=int, default=8)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--width", type=int, default=192)
    s.add_argument("--depth", type=int, default=3)
    s.add_argument("--heads", type=int, default=4)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_train_prior)

    s = sub.add_parser("rd", help="rate-distortion: npq models vs JPEG, WebP, JPEG 2000 (real bitstreams)")
    s.add_argument("--data", required=True, help="folder of images")
    s.add_argument("--checkpoint", nargs="*", help="npq tokenizer checkpoint(s)")
    s.add_argument("--prior-file", nargs="*", help="learned prior for each checkpoint (optional)")
    s.add_argument("--codecs", default="jpeg,webp,jpeg2000")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_rd)

    s = sub.add_parser("demo", help="the default Λ24-SQ model as a codec on the public photos vs JPEG/WebP/JPEG 2000")
    s.add_argument("images", nargs="*", help="images (default: the public evaluation photos)")
    s.add_argument("--quick", action="store_true", help="two images only")
    s.add_argument("--out", default="demo_out", help="output folder (report.html, rd.png, results.json)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if getattr(args, "command", None) == "plot" and args.out is None:
        args.out = f"docs/figures/{args.figure}"
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:  # includes ConfigError and MissingWeightsError
        print(f"npq {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Commands of the image codec: compress, decompress, train-prior, rd, demo."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from ..utils.fileio import PNG_MAGIC, atomic_write, atomic_write_bytes, check_output
from .common import add_force, add_model_arg, add_quiet, nonnegative_int, positive_int


def _compress_prior(args: argparse.Namespace, model):
    """The prior to compress with: --prior-file, else the shipped model's prior of kind --prior
    (none named: its default prior, npq.zoo.PRIOR_PREFERENCE), else uniform."""
    from ..codec import UniformPrior, load_prior
    from ..codec.codec import model_stages
    from ..zoo import shipped_prior

    n = model_stages(model)[1]
    if args.prior == "uniform":
        if args.prior_file:
            raise ValueError("--prior-file is a trained prior: drop --prior uniform, or drop --prior-file")
        return UniformPrior(n)
    if args.prior_file:
        prior = load_prior(args.prior_file)
        if args.prior is not None and prior.name != args.prior:
            raise ValueError(f"{args.prior_file} is a {prior.name} prior, not a {args.prior} prior")
        return prior
    shipped = shipped_prior(args.checkpoint, args.prior)
    if shipped is not None:
        return shipped
    if args.prior is None:
        return UniformPrior(n)
    raise ValueError(f"--prior {args.prior} needs --prior-file PRIOR.safetensors (written by npq train-prior)")


def _decompress_prior(args: argparse.Namespace, header, model):
    """--prior-file if given; else the model's shipped prior that the file names (kind and
    fingerprint); else uniform (decompress then says which prior the file needs)."""
    from ..codec import UniformPrior, load_prior
    from ..codec.codec import model_stages
    from ..codec.priors import prior_kinds
    from ..zoo import shipped_prior

    if args.prior_file:
        return load_prior(args.prior_file)
    kind = prior_kinds().get(header.prior)  # only the shipped prior of the file's kind is loaded
    shipped = shipped_prior(args.checkpoint, kind) if kind is not None else None
    if shipped is not None and (match := shipped.variant_for(header.prior_id)) is not None:
        return match
    return UniformPrior(model_stages(model)[1])




def cmd_compress(args: argparse.Namespace) -> int:
    from ..codec import compress
    from ..codec.codec import DEFAULT_QUALITY, model_stages
    from ..data.photos import open_image
    from ..zoo import load_tokenizer

    from ..codec.bitstream import MAGIC

    check_output(args.out, [args.image], MAGIC, "an npq bitstream", args.force)
    model, _ = load_tokenizer(args.checkpoint)
    prior = _compress_prior(args, model)
    k_all, _ = model_stages(model)
    if args.quality is not None and not 1 <= args.quality <= k_all:
        raise ValueError(f"--quality must be in 1..{k_all} for this model ({k_all} quantizer stage{'s' if k_all > 1 else ''}; "
                         "each level codes one more)")
    quality = args.quality if args.quality is not None else min(DEFAULT_QUALITY, k_all)
    img = open_image(args.image)
    t0 = time.perf_counter()
    res = compress(img, model, prior, stages=quality, refine=args.refine, progress=not args.quiet)
    dt = time.perf_counter() - t0
    atomic_write_bytes(args.out, res.data)
    if not args.quiet:  # what the file costs and what it decodes to, against the input
        from ..codec import read_header
        from ..codec.codec import psnr_of_tokens

        # the decoder's image of the file's own tokens: what decompress gives (tested), without
        # decoding the prior again; tile by tile against the input (little memory for large photos)
        psnr = psnr_of_tokens(model, res.tokens, read_header(res.data), img)
        level = f"level {quality} of {k_all}, " if k_all > 1 else ""
        print(f"{args.image}: {img.size[0]}x{img.size[1]} {img.mode} -> {args.out}: {len(res.data):,} bytes, "
              f"{res.bpp:.4f} bpp, PSNR {psnr:.2f} dB ({level}{prior.name} prior"
              f"{f', {args.refine} refinement steps' if args.refine else ''}), {dt:.2f} s")
    if prior.name == "learned":
        print("note: this file is machine-bound: the learned prior's float logits must round the same way when it is "
              "decoded (other CPU kernels, a GPU or another torch build may refuse it); the neural and context priors "
              "write files that decode everywhere", file=sys.stderr)
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    from ..codec import bits_per_pixel, decompress, read_header
    from ..zoo import load_tokenizer, shipped_tokenizer_for

    p = Path(args.input)
    if not p.is_file():
        raise FileNotFoundError(f"bitstream not found: {p}")
    check_output(args.out, [args.input], PNG_MAGIC, "a PNG image", args.force, replace_same_kind=False)
    from ..codec.bitstream import HEADER_PREFIX, BitstreamError, declared_size

    with open(p, "rb") as f:  # the header first: its declared size must be the file's before reading the rest
        expected, size = declared_size(f.read(HEADER_PREFIX)), p.stat().st_size
    if size != expected:
        raise BitstreamError(f"truncated or padded npq bitstream: {size:,} bytes, header says {expected:,}")
    data = p.read_bytes()
    header = read_header(data)
    found = shipped_tokenizer_for(header.model_id) if args.checkpoint is None else None
    if found is not None:  # the shipped model that wrote the file (files of earlier defaults still open)
        args.checkpoint, model = found
    else:
        model, _ = load_tokenizer(args.checkpoint)
    prior = _decompress_prior(args, header, model)
    t0 = time.perf_counter()
    img = decompress(data, model, prior)
    dt = time.perf_counter() - t0
    atomic_write(args.out, lambda f: img.save(f, format="PNG"))  # streamed: no second copy in memory
    bpp = bits_per_pixel(len(data), img.size[1], img.size[0])
    if not args.quiet:
        print(f"{args.input} ({len(data):,} bytes, {bpp:.4f} bpp) -> {args.out}: {img.size[0]}x{img.size[1]} {img.mode}, {dt:.2f} s")
    return 0


def cmd_train_prior(args: argparse.Namespace) -> int:
    from ..codec.priors import ContextPrior, PriorConfig
    from ..codec.codec import model_stages
    from ..codec.priors.neural_training import train_neural_prior
    from ..codec.priors.training import tokenize_crops, train_prior
    from ..zoo import load_tokenizer

    model, _ = load_tokenizer(args.checkpoint)
    if getattr(model.quantizer, "stages", None) is not None and args.kind == "learned":
        raise ValueError("the learned prior models single-stage tokenizers; for a residual (multi-stage) one use --kind neural or context")
    n = model_stages(model)[1]
    data = args.data[0] if len(args.data) == 1 else list(args.data)
    tokens = tokenize_crops(model, data, crops=args.crops, crop=args.crop, seed=args.seed, progress=not args.quiet)
    if args.kind == "context":
        prior = ContextPrior.fit(tokens, n)
        grids = tokens.numpy() if tokens.ndim == 4 else tokens.numpy()[..., None]  # (crops, h, w, stages)
        last = sum(prior.stage_prior(k).bits(g[..., k]) for g in grids for k in range(g.shape[-1])) / tokens.numel()
    elif args.kind == "neural":
        prior, hist = train_neural_prior(tokens.numpy(), n, steps=args.steps or 4000, qat_steps=args.qat_steps, batch=args.batch or 2048,
                                         lr=args.lr or 2e-3, d=args.dim, hidden=args.width or 256, seed=args.seed, progress=not args.quiet)
        last = sum(prior.bits(g) for g in tokens.numpy()[:64]) / tokens[:64].numel()
    else:
        pcfg = PriorConfig(n, width=args.width or 192, depth=args.depth, heads=args.heads)
        prior, hist = train_prior(tokens, n, steps=args.steps or 1500, batch=args.batch or 8, lr=args.lr or 1e-3, cfg=pcfg, seed=args.seed,
                                  progress=not args.quiet)
        last = sum(hist[-50:]) / len(hist[-50:])
    prior.save(args.out)
    print(f"{args.kind} prior: {last:.2f} bits/token on training crops (uniform: {math.log2(n):.2f}); wrote {args.out}")
    return 0


def _num(v: float, fmt: str, why: str) -> str:
    return f"n/a ({why})" if math.isnan(v) else format(v, fmt)


def cmd_rd(args: argparse.Namespace) -> int:
    from ..codec import load_prior
    from ..codec.rd import run_rd
    from ..zoo import load_tokenizer, shipped_prior

    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    models = []
    priors = args.prior_file or []
    for i, ck in enumerate(args.checkpoint or [None]):  # none named: the shipped default model
        model, cfg = load_tokenizer(ck)
        name = cfg.get("name", Path(ck).stem if ck else "default")
        models.append((f"npq {name} (uniform prior)", model, None))
        prior = load_prior(priors[i]) if i < len(priors) else shipped_prior(ck)
        if prior is not None:
            models.append((f"npq {name} ({prior.name} prior)", model, prior))
        if args.refine:
            models.append((f"npq {name} ({models[-1][2].name if models[-1][2] else 'uniform'} prior, refine {args.refine})",
                           model, models[-1][2], args.refine))
    out = run_rd(args.data, models, codecs, args.out, progress=not args.quiet)
    print("| codec / model | bpp | PSNR (dB) | MS-SSIM |\n|---|---|---|---|")
    for r in out["results"]:
        res = r["results"]
        for b, p, m in zip(res["bpp"], res["psnr-rgb"], res["ms-ssim"]):
            print(f"| {r['name']} | {b:.4f} | {p:.2f} | {m:.4f} |")
    print("Against each codec (rate: the BD-rate convention, positive = more bits than the codec for the same PSNR)")
    for c in out["comparisons"]:
        for lv in c["levels"]:
            gain = (f"{lv['psnr_gain_db']:+.2f} dB at equal bpp" if not math.isnan(lv["psnr_gain_db"])
                    else f"PSNR at equal bpp n/a ({c['codec']}'s sweep does not reach {lv['bpp']:.4f} bpp)")
            rate = (f"{lv['rate_diff_pct']:+.1f}% rate at equal PSNR" if not math.isnan(lv["rate_diff_pct"])
                    else f"rate at equal PSNR n/a ({c['codec']}'s sweep does not reach {lv['psnr']:.2f} dB)")
            print(f"{c['model']} vs {c['codec']} at {lv['bpp']:.4f} bpp: {gain}, {rate}")
        if len(c["levels"]) > 1:
            print(f"  BD-rate {_num(c['bd_rate'], '+.1f', 'the curves do not overlap')}% (mean curves), "
                  f"{_num(c['bd_rate_per_image'], '+.1f', 'no image overlaps')}% per image "
                  f"({c['bd_rate_images']}/{c['images']} images overlap); BD-PSNR {_num(c['bd_psnr'], '+.2f', 'no overlap')} dB")
    print(f"wrote {args.out}/ (JSON per codec in CompressAI's format, comparisons.json, rd.png/svg)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..apps.demo import run_demo

    s = run_demo(args.out, quick=args.quick, images=args.images or None, progress=not args.quiet, model=args.checkpoint,
                 refine=args.refine)
    refined = f", {s['refine']} refinement steps" if s["refine"] else ""
    print(f"npq tokenizer as an image codec on the public evaluation photos ({s['prior']} prior{refined}, real bitstreams)\n")
    print(s["ladder_table"])
    print("(classic codecs' PSNR at each image's npq rate, interpolated in log-rate and averaged over the images"
          " whose sweep reaches it; in brackets how many)\n")
    for c, b in s["bd"].items():
        print(f"  vs {c:9s}: BD-rate {_num(b['bd_rate'], '+.1f', 'the curves do not overlap')}% (mean curves), {_num(b['bd_rate_per_image'], '+.1f', 'no image overlaps')}% per image "
              f"({b['bd_rate_images']}/{b['images']} images overlap); BD-PSNR {_num(b['bd_psnr'], '+.2f', 'no overlap')} dB")
    sky = s["sky"]
    print(f"\nsynthetic sky gradient: {sky['distinct_first_stage']} distinct first-stage tokens, {sky['distinct_tokens']} of all stages, "
          f"for {sky['tokens']} patches; PSNR "
          + ", ".join(f"level {r['level']} {r['psnr']:.2f} dB" for r in sky["levels"]))
    print(f"\nper image at the top level:\n{s['table']}")
    print(f"\nreport: {s['report']}  ({s['seconds']:.0f} s)")
    return 0


def _prior_name(text: str) -> str:
    """argparse type of ``--prior``: a registered prior name (the registry is read only when the
    option is given, so help needs no torch)."""
    from ..codec import prior_names

    if text not in prior_names():
        raise argparse.ArgumentTypeError(f"unknown prior {text!r}; choose from {', '.join(prior_names())}")
    return text


def add_commands(sub) -> None:
    s = sub.add_parser("compress", help="image -> npq bitstream (entropy-coded tokens)")
    s.add_argument("image")
    s.add_argument("out", help="output .npq file")
    add_model_arg(s)
    s.add_argument("--prior", type=_prior_name, default=None, metavar="PRIOR",
                   help="token prior: uniform, learned, context, neural or a plugin's (default: a shipped model's "
                        "default prior, see docs/default-model.md; else uniform)")
    s.add_argument("--prior-file", help="a trained prior file (npq train-prior: neural, context or learned)")
    s.add_argument("--quality", type=int, default=None, metavar="N",
                   help="rate level 1..K of a residual model (quantizer stages coded). Default 1: the shipped model's "
                        "levels 1/2/3/4 cost 0.14/0.36/0.63/0.91 bpp for 24.6/26.5/27.0/27.3 dB on the public photos; "
                        "level 1 is 0.4 dB ahead of JPEG at its rate, levels 2-4 are 2-5 dB behind JPEG (npq demo, "
                        "docs/default-model.md); smooth skies band at level 1: use 3-4 for them. Single-stage models have only level 1")
    s.add_argument("--refine", type=nonnegative_int, default=0, metavar="N",
                   help="encoder-side refinement: N gradient steps on the latents through the decoder before coding "
                        "(better PSNR for a little more rate; slower: each step is a decoder pass forward and back; "
                        "files decode as usual; see docs/default-model.md)")
    add_force(s)
    add_quiet(s)
    s.set_defaults(func=cmd_compress)

    s = sub.add_parser("decompress", help="npq bitstream -> PNG")
    s.add_argument("input")
    s.add_argument("out", help="output PNG")
    add_model_arg(s)
    s.add_argument("--prior-file", help="the trained prior the file was coded with (default: the shipped prior the file names)")
    add_force(s, images=True)
    s.add_argument("--quiet", action="store_true", help="print nothing but errors")
    s.set_defaults(func=cmd_decompress)

    s = sub.add_parser("train-prior", help="train a token prior on tokens of training photos")
    add_model_arg(s)
    s.add_argument("--kind", choices=["learned", "context", "neural"], default="learned",
                   help="learned: the causal transformer (float, machine-bound); context: portable integer counts "
                        "(seconds to fit); neural: portable integer MLP over the causal neighbourhood")
    s.add_argument("--data", nargs="+", default=["photos:debian"],
                   help="training photos: folders, files or photos:debian / photos:wallpapers (default: photos:debian)")
    s.add_argument("--out", required=True)
    s.add_argument("--crops", type=positive_int, default=512)
    s.add_argument("--crop", type=positive_int, default=256)
    s.add_argument("--steps", type=positive_int, default=None, help="training steps (default: learned 1500, neural 4000 per stage)")
    s.add_argument("--qat-steps", type=int, default=1000, help="neural: quantization-aware fine-tuning steps per stage")
    s.add_argument("--batch", type=positive_int, default=None, help="crops per step (learned, default 8) or cells per step (neural, default 2048)")
    s.add_argument("--lr", type=float, default=None, help="learning rate (default: learned 1e-3, neural 2e-3)")
    s.add_argument("--width", type=positive_int, default=None, help="learned: transformer width (192); neural: hidden units (256)")
    s.add_argument("--dim", type=positive_int, default=32, help="neural: embedding width per neighbour")
    s.add_argument("--depth", type=positive_int, default=3)
    s.add_argument("--heads", type=positive_int, default=4)
    s.add_argument("--seed", type=int, default=0)
    add_quiet(s)
    s.set_defaults(func=cmd_train_prior)

    s = sub.add_parser("rd", help="rate-distortion: npq models vs JPEG, WebP, JPEG 2000 (real bitstreams)")
    s.add_argument("--data", required=True, help="folder of images")
    s.add_argument("--checkpoint", nargs="*", help="npq model file(s), checkpoint(s) or shipped model name(s) (default: the shipped default)")
    s.add_argument("--prior-file", nargs="*", help="a trained prior for each checkpoint (default: a shipped model's own prior)")
    s.add_argument("--codecs", default="jpeg,webp,jpeg2000")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--refine", type=nonnegative_int, default=0, metavar="N",
                   help="also run each model with N encoder-side refinement steps (a second curve per model)")
    add_quiet(s)
    s.set_defaults(func=cmd_rd)

    s = sub.add_parser("demo", help="the default model as a codec at every rate level on the public photos vs JPEG/WebP/JPEG 2000")
    s.add_argument("images", nargs="*", help="images (default: the public evaluation photos)")
    s.add_argument("--quick", action="store_true", help="two images only")
    s.add_argument("--out", default="demo_out", help="output folder (report.html, rd.png, results.json)")
    s.add_argument("--refine", type=nonnegative_int, default=0, metavar="N",
                   help="encoder-side refinement steps for every npq file (slower; see docs/default-model.md)")
    add_model_arg(s)
    add_quiet(s)
    s.set_defaults(func=cmd_demo)

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
    """Atomic text write (temp file + rename)."""
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, target)


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
    except (ValueError, FileNotFoundError) as e:
        print(f"npq {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

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
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        print(f"npq {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

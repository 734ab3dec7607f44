"""Commands about the quantizers themselves: list, tour, tableau, plot."""

from __future__ import annotations

import argparse
import json

from ..utils.fileio import atomic_write_text
from .common import add_quiet, positive_int, say


def cmd_list(args: argparse.Namespace) -> int:
    from ..quantize import entries

    print("| name | method | dim | codebook size | bits/token |\n|---|---|---|---|---|")
    for e in entries():
        q = e.build()
        kw = ", ".join(f"{k}={v}" for k, v in e.example.items())
        alias = f" (also {', '.join(e.aliases)})" if e.aliases else ""
        print(f"| {e.name}({kw}){alias} | {e.label()} | {q.dim} | {q.codebook_size:,} | {q.bits_per_token:.2f} |")
    return 0


def cmd_tour(args: argparse.Namespace) -> int:
    from ..apps.tour import format_table, run_tour

    rows = run_tour(args.images or None, max_patches=args.max_patches, seed=args.seed, progress=not args.quiet)
    print("Quantizing the directions of whitened PCA latents of 8x8 RGB patches of real photos "
          "(shape-gain: the latent norm is kept in float; each code at its own bit rate).")
    print(format_table(rows))
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def cmd_tableau(args: argparse.Namespace) -> int:
    from ..geometry import compute_tableau, default_rows, format_tableau

    specs = default_rows()
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
        names = [r.method for r in specs]
        unknown = [m for m in wanted if m not in names]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {names}")
        specs = [r for r in specs if r.method in wanted]
    text = format_tableau(compute_tableau(samples=args.samples, seed=args.seed, rows=specs, progress=not args.quiet), args.format)
    if args.out:
        atomic_write_text(args.out, text + "\n")
        say(f"wrote {args.out}")
    else:
        print(text)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from ..geometry import plots

    out = args.out or f"npq_figures/{args.figure}"  # never into a docs/ folder of whatever the working directory is
    if args.figure == "voronoi":
        paths = plots.plot_voronoi(out)
    elif args.figure == "delta-min":
        paths = plots.plot_delta_min(out, dims=args.dims)
    else:
        paths = plots.plot_entropy(out)
    for p in paths:
        print(f"wrote {p}")
    return 0


def cmd_explore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..apps.explore import explorer_data, write_explorer

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out must name an .html file, got {out}")
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists: pass --force to replace it")
    if out.parent.exists() and not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: {out.parent} is a file, not a folder")
    say(f"computing the tableau ({args.samples} inputs per method) and the δ_min curves ...")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    data = explorer_data(samples=args.samples, seed=args.seed, dmin_dims=args.dims, methods=methods, progress=not args.quiet)
    write_explorer(out, data)
    say(f"wrote {out} (open it in a browser; it needs no network)")
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser("list", help="list the quantizers of the registry with their sizes")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("tour", help="quantize real photos' patches with each quantizer and print a table")
    s.add_argument("images", nargs="*", help="image files (default: the public evaluation photos)")
    s.add_argument("--max-patches", type=positive_int, default=20000, help="patches sampled (default 20000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true", help="also print the rows as JSON")
    add_quiet(s)
    s.set_defaults(func=cmd_tour)

    s = sub.add_parser("tableau", help="the grand tableau comparing the methods as lattice codes")
    s.add_argument("--format", choices=["md", "json", "csv"], default="md")
    s.add_argument("--samples", type=positive_int, default=20000, help="Monte-Carlo inputs per method (default 20000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--methods", help="comma-separated subset of rows, e.g. 'BSQ,Λ24-SQ' (default: all)")
    s.add_argument("--out", help="write to this file instead of stdout")
    add_quiet(s)
    s.set_defaults(func=cmd_tableau)

    s = sub.add_parser("plot", help="figures: voronoi, delta-min, entropy (PNG and SVG)")
    s.add_argument("figure", choices=["voronoi", "delta-min", "entropy"])
    s.add_argument("--out", default=None, help="output path without extension (default: npq_figures/<figure> in the working directory; .png and .svg are written)")
    s.add_argument("--dims", type=int, nargs="+", default=[3, 8, 24], help="dimensions for delta-min")
    s.set_defaults(func=cmd_plot)

    s = sub.add_parser("explore", help="the interactive explorer: one self-contained HTML page (families, 2-D playground, δ_min, tableau)")
    s.add_argument("--out", default="npq_explore.html", help="the HTML file (default: %(default)s)")
    s.add_argument("--samples", type=positive_int, default=20000, help="Monte-Carlo inputs per tableau row, as npq tableau (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed, as npq tableau (default: %(default)s)")
    s.add_argument("--dims", type=positive_int, nargs="+", default=[2, 3, 8, 24], help="dimensions of the δ_min(N) curves (default: 2 3 8 24)")
    s.add_argument("--methods", help="comma-separated tableau rows to compute, as npq tableau --methods (default: every method's row)")
    s.add_argument("--force", action="store_true", help="replace an existing --out file")
    add_quiet(s)
    s.set_defaults(func=cmd_explore)

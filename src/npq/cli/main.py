"""The ``npq`` command line: the parser and the dispatcher. Each command group lives in its own
module (``quantizers``, ``training``, ``tokens``, ``codec``) whose command bodies parse, call the
library and print."""

from __future__ import annotations

import argparse
import sys

from . import codec, generation, quantizers, tokens, training

GROUPS = (quantizers, training, tokens, codec, generation)

# One example per command, shown under its --help (the README's commands run in tests/test_readme.py).
EXAMPLES = {
    "list": "npq list",
    "tour": "npq tour --max-patches 4096",
    "tableau": "npq tableau --format json --out tableau.json",
    "plot": "npq plot voronoi --out figures/voronoi",
    "explore": "npq explore --out explore.html",
    "train": "npq train configs/tiny_cpu_leech.yaml data.train=photos/ optim.steps=500\n  npq train configs/imagenet128_vits8_leech.yaml --dry-run",
    "compare": "npq compare configs/compare_cpu.yaml --out report/\n  npq compare configs/compare_imagenet128_vits8.yaml --dry-run",
    "convert": "npq convert imagenet_256x256_l24sq.pt --out l24sq.safetensors",
    "eval": "npq eval --data photos/\n  npq eval --checkpoint run/ckpt_00100000.pt --data val/ --resolution 128 --interpolation lanczos",
    "tokenize": "npq tokenize photo.png --out tokens.npz",
    "reconstruct": "npq reconstruct photo.png --out recon/",
    "detokenize": "npq detokenize tokens.npz --out images/",
    "compress": "npq compress photo.jpg photo.npq\n  npq compress photo.jpg photo.npq --quality 4",
    "decompress": "npq decompress photo.npq decoded.png",
    "train-prior": "npq train-prior --kind neural --data photos:debian --out prior.safetensors",
    "rd": "npq rd --data kodak/ --out rd/",
    "demo": "npq demo --out demo_out",
    "tokenize-dataset": "npq tokenize-dataset fashion-mnist:train --checkpoint runs/generation/tok_leech --out tokens/train\n"
                        "  npq tokenize-dataset imagenet/train --checkpoint l24sq/ --out tokens/in256 --workers 8",
    "train-generator": "npq train-generator configs/generation/fmnist_gen_leech_index.yaml --export my_generator/",
    "generate": "npq generate --class sneaker --class bag --n 8 --cfg 2.0 --out grid.png",
    "eval-generator": "npq eval-generator --checkpoint my_generator/ --samples 10000 --cfg 1.0,2.0,3.0",
}

# help of arguments whose module left it out (every option explains itself)
_HELP = {
    "seed": "random seed (default: %(default)s)",
    "format": "output format (default: %(default)s)",
    "figure": "which figure",
    "batch_size": "images per batch with --resolution (default: %(default)s)",
    "images": "image files (png, jpg, webp, ...)",
    "image": "image file to compress (png, jpg, webp, ...)",
    "input": "npq bitstream (.npq) to decode",
    "out": "output file (default: %(default)s)",
    "crops": "training crops tokenized from the photos (default: %(default)s)",
    "crop": "crop side in pixels (default: %(default)s)",
    "depth": "transformer layers of the learned prior (default: %(default)s)",
    "heads": "attention heads of the learned prior (default: %(default)s)",
    "codecs": "classic codecs to compare, comma-separated from jpeg, webp, jpeg2000 (default: %(default)s)",
}


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="npq", description="Non-parametric quantization for visual tokenization.",
                                epilog="npq COMMAND --help shows a command's options and an example.")
    p.add_argument("--version", action="version", version=f"npq {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub)
    for name, sp in sub.choices.items():
        sp.formatter_class = argparse.RawDescriptionHelpFormatter
        if name in EXAMPLES:
            sp.epilog = "example:\n  " + EXAMPLES[name]
        for a in sp._actions:
            if not a.help and a.dest in _HELP:
                a.help = _HELP[a.dest]
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that files being written are cleaned up (atomic
    writes remove their temporary file) and the command ends with one line."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:  # ConfigError, BitstreamError and MissingWeightsError included
        print(f"npq {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"npq {args.command}: terminated (SIGTERM); partial output files were removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"npq {args.command}: interrupted; partial output files were removed", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

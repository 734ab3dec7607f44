"""The ``npq`` command line: the parser and the dispatcher. Each command group lives in its own
module (``quantizers``, ``training``, ``tokens``, ``codec``) whose command bodies parse, call the
library and print."""

from __future__ import annotations

import argparse
import sys

from . import codec, quantizers, tokens, training

GROUPS = (quantizers, training, tokens, codec)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="npq", description="Non-parametric quantization for visual tokenization.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:  # ConfigError, BitstreamError and MissingWeightsError included
        print(f"npq {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

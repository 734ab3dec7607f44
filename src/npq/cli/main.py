"""The ``npq`` command line: the parser and the dispatcher. Each command group lives in its own
module (``quantizers``, ``training``, ``tokens``, ``codec``) whose command bodies parse, call the
library and print."""

from __future__ import annotations

import argparse
import sys

from . import codec, quantizers, tokens, training

GROUPS = (quantizers, training, tokens, codec)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="npq", description="Non-parametric quantization for visual tokenization.")
    p.add_argument("--version", action="version", version=f"npq {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub)
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

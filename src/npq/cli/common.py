"""Pieces shared by the command modules: common arguments and status lines."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_model_arg", "add_quiet", "add_force", "positive_int", "say"]



def add_model_arg(p: argparse.ArgumentParser, ema: bool = False) -> None:
    """``--checkpoint``: a model file, a training checkpoint or a shipped model name (default: the
    shipped default model)."""
    p.add_argument("--checkpoint", "--model", dest="checkpoint", default=None,
                   help="model file, training checkpoint or shipped model name (default: the shipped default model)")
    if ema:
        p.add_argument("--no-ema", action="store_true", help="use the raw instead of the EMA weights of a training checkpoint")


def _int_at_least(text: str, lo: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {text!r}") from None
    if v < lo:
        raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {v}")
    return v


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def add_force(p: argparse.ArgumentParser, images: bool = False) -> None:
    """``--force``; ``images``: the outputs are images, which are never replaced without it."""
    what = ("replace an existing output image (without it an existing file is never replaced: it may be the original)"
            if images else "replace an existing output file that is not of this command's kind (e.g. a photo named like the output)")
    p.add_argument("--force", action="store_true", help=what)


def add_quiet(p: argparse.ArgumentParser) -> None:
    """Add ``--quiet`` (no progress bar or summary line) to a subcommand's parser."""
    p.add_argument("--quiet", action="store_true", help="no progress bar")



def say(msg: str) -> None:
    """A status line on stderr (stdout stays for results)."""
    print(msg, file=sys.stderr)

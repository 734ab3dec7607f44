"""Saving matplotlib figures (headless backend, atomic PNG + SVG)."""

from __future__ import annotations

from pathlib import Path

from .fileio import atomic_write

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out: str | Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Save ``fig`` as ``out.<fmt>`` for each format, atomically (temp file + rename); closes it."""
    out = Path(out)
    paths = []
    for fmt in formats:
        paths.append(atomic_write(out.with_suffix("." + fmt), lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=120, bbox_inches="tight")))
    pyplot().close(fig)
    return paths

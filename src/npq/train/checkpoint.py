"""Atomic checkpoints: write to a temporary file in the same folder, fsync, then rename."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..utils.fileio import atomic_write, load_torch

__all__ = ["save_checkpoint", "latest_checkpoint", "load_checkpoint", "atomic_save"]

_PATTERN = re.compile(r"ckpt_(\d+)\.pt$")


def atomic_save(obj, path: str | Path) -> Path:
    """``torch.save`` to ``path`` atomically: an interrupted write leaves any previous file intact."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def save_checkpoint(state: dict, out_dir: str | Path, step: int, keep: int = 2) -> Path:
    """Save ``ckpt_<step>.pt`` atomically and delete all but the newest ``keep`` checkpoints."""
    out_dir = Path(out_dir)
    path = atomic_save(state, out_dir / f"ckpt_{step:08d}.pt")
    ckpts = sorted(out_dir.glob("ckpt_*.pt"), key=lambda p: int(_PATTERN.search(p.name).group(1)))
    for old in ckpts[:-keep]:
        old.unlink(missing_ok=True)
    return path


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The checkpoint with the highest step in ``out_dir`` (None if there is none)."""
    ckpts = [p for p in Path(out_dir).glob("ckpt_*.pt") if _PATTERN.search(p.name)]
    if not ckpts:
        return None
    return max(ckpts, key=lambda p: int(_PATTERN.search(p.name).group(1)))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A training checkpoint, loaded without executing code (``weights_only``)."""
    return load_torch(path, "checkpoint", map_location)

"""Atomic file writes: a temporary file in the target's folder, flushed and fsynced, then renamed.

An interrupted write leaves any previous file intact and no partial file under the final name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "load_torch"]


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a binary temporary file, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _numpy_safe_globals() -> list:
    """The numpy globals a pickled ``np.random.get_state()`` needs (an array of uint32): allowed
    in ``weights_only`` loading, which otherwise refuses every non-torch object."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    out = [core.multiarray._reconstruct, np.ndarray, np.dtype]
    try:
        from numpy.dtypes import UInt32DType

        out.append(UInt32DType)
    except ImportError:  # numpy < 1.25
        pass
    return out


def load_torch(path: str | Path, what: str = "file", map_location="cpu"):
    """``torch.load`` of a user file with ``weights_only=True``: tensors, plain Python types and
    numpy RNG states only, so a malicious pickle cannot run code. FileNotFoundError / ValueError
    naming ``what`` and the path otherwise."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, not a torch file, or a pickle that wants to run code
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot read {what} {p}: {first}") from None

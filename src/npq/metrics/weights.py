"""Locating pretrained weights offline, with a clear error naming the missing file."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["MissingWeightsError", "resolve_weights", "hub_checkpoint_dir"]


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights are not on disk and cannot be downloaded here."""


def hub_checkpoint_dir() -> Path:
    """torch hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch``)."""
    torch_home = os.environ.get("TORCH_HOME", os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def resolve_weights(what: str, filename: str, explicit: str | os.PathLike | None, env_var: str) -> Path:
    """First existing of: ``explicit`` path, ``$env_var``, the torch hub cache ``filename``.

    Raises:
        MissingWeightsError: naming the file looked for and how to provide it.
    """
    candidates = []
    if explicit:
        candidates.append(Path(explicit).expanduser())
    if os.environ.get(env_var):
        candidates.append(Path(os.environ[env_var]).expanduser())
    candidates.append(hub_checkpoint_dir() / filename)
    for c in candidates:
        if c.is_file():
            return c
    if explicit and not Path(explicit).expanduser().is_file():
        raise MissingWeightsError(f"{what} weights not found at {explicit}")
    raise MissingWeightsError(
        f"{what} weights '{filename}' not found (looked in: {', '.join(str(c) for c in candidates)}). "
        f"They cannot be downloaded here: copy the file there, or pass its path "
        f"(argument or environment variable {env_var})."
    )

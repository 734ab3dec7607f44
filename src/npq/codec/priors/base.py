"""The token prior seam of the codec: a :class:`Prior` turns a token grid into bytes and back.

Every prior registers a **kind** (the byte stored in the bitstream header) and a **name** (the
CLI's ``--prior``); the header also stores the prior's 8-byte :meth:`Prior.fingerprint`, so a file
only decodes with the exact prior that wrote it. Adding a prior is one file:

    @register_prior(kind=2, name="my-prior")
    class MyPrior(Prior):
        def encode(self, tokens): ...
        def decode(self, data, grid): ...

Priors with weights implement :meth:`Prior.state` / :meth:`Prior.from_state`; their files
(``{"kind": name, ...state}``) are read by :func:`load_prior` without executing code.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...utils.fileio import SAFETENSORS_SUFFIX, atomic_write, load_state, save_safetensors

__all__ = ["Prior", "register_prior", "prior_class", "prior_names", "prior_kinds", "load_prior"]


class Prior:
    """A probability model over token grids ``(h, w)`` of int64 codes in ``[0, n_codes)``.

    Attributes set by :func:`register_prior`: ``kind`` (header byte) and ``name``.
    """

    kind: int
    name: str

    @property
    def n_codes(self) -> int:
        raise NotImplementedError

    def encode(self, tokens: np.ndarray) -> bytes:
        """Entropy-code a token grid ``(h, w)``."""
        raise NotImplementedError

    def decode(self, data: bytes, grid: tuple[int, int]) -> np.ndarray:
        """The token grid ``grid`` = ``(h, w)`` coded in ``data`` (inverse of :meth:`encode`)."""
        raise NotImplementedError

    def encode_stages(self, tokens: np.ndarray) -> bytes:
        """Entropy-code the stages of a residual token grid ``(h, w, m)``, stage after stage.

        Each stage plane is coded by :meth:`stage_prior` (default: this prior), every plane but the
        last preceded by its length (u32, little-endian). A prior that models stage k given the
        earlier ones overrides this pair of methods."""
        parts = [self.stage_prior(k).encode(np.ascontiguousarray(tokens[..., k])) for k in range(tokens.shape[-1])]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts[:-1]) + parts[-1]

    def decode_stages(self, data: bytes, grid: tuple[int, int], stages: int) -> np.ndarray:
        """The token grid ``(h, w, stages)`` coded by :meth:`encode_stages`; ValueError when the
        stage lengths do not fit the data."""
        planes, pos = [], 0
        for k in range(stages):
            if k < stages - 1:
                if pos + 4 > len(data):
                    raise ValueError(f"the payload ends inside stage {k + 1}'s length")
                (n,) = struct.unpack_from("<I", data, pos)
                pos += 4
                if n > len(data) - pos:
                    raise ValueError(f"stage {k + 1} declares {n} bytes, {len(data) - pos} remain")
                chunk, pos = data[pos : pos + n], pos + n
            else:
                chunk = data[pos:]
            planes.append(self.stage_prior(k).decode(chunk, grid))
        return np.stack(planes, -1)

    def stage_prior(self, k: int) -> "Prior":
        """The prior that codes stage k (0-based) of a residual grid: this one, unless the prior
        models stages separately."""
        return self

    def bits(self, tokens: np.ndarray) -> float:
        """Ideal code length in bits of a token grid (int ``(h, w)``, values in [0, n_codes)): what
        :meth:`encode` achieves, minus a few bytes of coder overhead."""
        raise NotImplementedError

    def fingerprint(self) -> bytes:
        """8 bytes identifying the prior's parameters (zeros for a parameter-free prior)."""
        return bytes(8)

    def variant_for(self, prior_id: bytes) -> "Prior | None":
        """The prior that decodes a file naming ``prior_id``: this one if the fingerprints match,
        an earlier coding variant of the same parameters if the prior keeps one, else None."""
        return self if prior_id == self.fingerprint() else None

    def check_tokens(self, tokens: np.ndarray) -> None:
        """ValueError unless ``tokens`` is an integer grid ``(h, w)`` with values in [0, n_codes)."""
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be a grid (h, w), got shape {tokens.shape}")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.n_codes):
            raise ValueError(f"tokens must lie in [0, {self.n_codes - 1}]")

    # persistence (priors with weights)
    def state(self) -> dict:
        """Plain types and tensors that :meth:`from_state` rebuilds the prior from."""
        raise NotImplementedError(f"the {self.name} prior has no state to save")

    @classmethod
    def from_state(cls, state: dict) -> "Prior":
        raise NotImplementedError(f"the {cls.name} prior cannot be loaded from a file")

    def save(self, path: str | Path) -> Path:
        """Write the prior atomically: safetensors for a ``.safetensors`` path (what npq ships),
        else a torch file readable with ``weights_only``."""
        import torch

        state = {"kind": self.name, **self.state()}
        if Path(path).suffix == SAFETENSORS_SUFFIX:
            return save_safetensors(path, state)
        return atomic_write(path, lambda f: torch.save(state, f))


_BY_KIND: dict[int, type[Prior]] = {}
_BY_NAME: dict[str, type[Prior]] = {}


def register_prior(kind: int, name: str, aliases: tuple[str, ...] = ()) -> Callable[[type[Prior]], type[Prior]]:
    """Class decorator: register a :class:`Prior` under a header byte ``kind`` and a ``name``."""
    if not 0 <= kind <= 255:
        raise ValueError(f"prior kind must be a byte (0..255), got {kind}")

    def deco(cls: type[Prior]) -> type[Prior]:
        if kind in _BY_KIND or name in _BY_NAME:
            raise ValueError(f"a prior with kind {kind} or name {name!r} is already registered")
        cls.kind, cls.name = kind, name
        _BY_KIND[kind] = cls
        for n in (name, *aliases):
            _BY_NAME[n] = cls
        return cls

    return deco


def prior_kinds() -> dict[int, str]:
    """Header byte -> prior name."""
    return {k: _BY_KIND[k].name for k in sorted(_BY_KIND)}


def prior_names() -> list[str]:
    """Registered prior names (the CLI's ``--prior`` choices)."""
    return list(prior_kinds().values())


def prior_class(key: int | str) -> type[Prior]:
    """The prior class of a header byte or a name; ValueError naming the choices otherwise."""
    table = _BY_KIND if isinstance(key, int) else _BY_NAME
    if key not in table:
        raise ValueError(f"unknown prior {key!r}; known: {prior_kinds()}")
    return table[key]


def load_prior(path: str | Path) -> Prior:
    """A prior saved with :meth:`Prior.save` (safetensors or torch; or an npq 0.1 learned-prior file)."""
    st = load_state(path, "prior file")
    if not isinstance(st, dict) or "config" not in st:
        raise ValueError(f"{path} is not an npq token prior (no config)")
    try:
        return prior_class(st.get("kind", "learned")).from_state(st)
    except (KeyError, TypeError, RuntimeError) as e:
        raise ValueError(f"{path} is not an npq token prior: {e}") from None

"""The npq bitstream: header, payload and checksums (documented in docs/bitstream.md).

Layout (big-endian)::

    magic        4 bytes  b"NPQ\\x89"
    version      u8       1
    model_id     16 bytes SHA-256 (truncated) of the tokenizer's config and weights
    prior        u8       the prior's kind (npq.codec.priors: 0 = uniform, 1 = learned)
    prior_id     8 bytes  the prior's fingerprint (SHA-256 of its weights; zeros for uniform)
    height       u32      original image height (pixels)
    width        u32      original image width
    mode         u8       0 = L (grayscale), 1 = RGB, 2 = RGBA
    grid_h       u16      token grid height (padded image / downsampling)
    grid_w       u16      token grid width
    n_codes      u32      codebook size
    token_crc    u32      CRC32 of the token grid (int32, row-major): catches a decoder that
                          computed different probabilities
    alpha_len    u32      length of the alpha plane (zlib, lossless); 0 unless mode = RGBA
    payload_len  u32      length of the entropy-coded tokens
    alpha        alpha_len bytes
    payload      payload_len bytes
    crc32        u32      CRC32 of everything above
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = ["MAGIC", "VERSION", "Header", "BitstreamError", "pack", "unpack", "MODES"]

MAGIC = b"NPQ\x89"
VERSION = 1
MODES = {"L": 0, "RGB": 1, "RGBA": 2}
_FMT = ">4sB16sB8sIIBHHIIII"
_HEAD = struct.calcsize(_FMT)


class BitstreamError(ValueError):
    """A file that is not a valid npq bitstream for this model (corrupt, truncated, foreign)."""


@dataclass
class Header:
    model_id: bytes
    prior: int
    prior_id: bytes
    height: int
    width: int
    mode: str
    grid_h: int
    grid_w: int
    n_codes: int
    token_crc: int


def pack(h: Header, payload: bytes, alpha: bytes = b"") -> bytes:
    """Serialize header, alpha plane and payload, followed by the CRC32."""
    body = struct.pack(
        _FMT, MAGIC, VERSION, h.model_id, h.prior, h.prior_id, h.height, h.width, MODES[h.mode], h.grid_h, h.grid_w,
        h.n_codes, h.token_crc, len(alpha), len(payload),
    ) + alpha + payload
    return body + struct.pack(">I", zlib.crc32(body))


def unpack(data: bytes) -> tuple[Header, bytes, bytes]:
    """Parse and check a bitstream; returns (header, payload, alpha). Raises BitstreamError."""
    if len(data) == 0:
        raise BitstreamError("empty file: not an npq bitstream")
    if len(data) < 4 or data[:4] != MAGIC:
        raise BitstreamError("not an npq bitstream (wrong magic bytes)")
    if len(data) < _HEAD + 4:
        raise BitstreamError(f"truncated npq bitstream ({len(data)} bytes, header needs {_HEAD + 4})")
    (magic, version, model_id, prior, prior_id, height, width, mode, gh, gw, n_codes, token_crc, alpha_len, payload_len) = struct.unpack(_FMT, data[:_HEAD])
    if version != VERSION:
        raise BitstreamError(f"unsupported npq bitstream version {version} (this npq reads version {VERSION})")
    expected = _HEAD + alpha_len + payload_len + 4
    if len(data) != expected:
        raise BitstreamError(f"truncated or padded npq bitstream: {len(data)} bytes, header says {expected}")
    body, crc = data[:-4], struct.unpack(">I", data[-4:])[0]
    if zlib.crc32(body) != crc:
        raise BitstreamError("corrupted npq bitstream (CRC32 mismatch)")
    modes = {v: k for k, v in MODES.items()}
    if mode not in modes:
        raise BitstreamError("corrupted npq bitstream (invalid mode field)")
    alpha = data[_HEAD : _HEAD + alpha_len]
    payload = data[_HEAD + alpha_len : _HEAD + alpha_len + payload_len]
    return Header(model_id, prior, prior_id, height, width, modes[mode], gh, gw, n_codes, token_crc), payload, alpha
